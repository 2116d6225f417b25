package pod

import (
	"time"
)

// Event types, as Kubernetes names them.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// ObjectReference names what an event is about: a pod, or one of its containers (FieldPath).
type ObjectReference struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	FieldPath string `json:"fieldPath,omitempty"` // spec.containers{web}
}

// Event is something that happened to a pod, shaped like Kubernetes' core/v1 Event. Repeats of the
// same event (same object, reason and message) are counted, not stored again.
type Event struct {
	Type           string          `json:"type"`
	Reason         string          `json:"reason"`
	InvolvedObject ObjectReference `json:"involvedObject"`
	Message        string          `json:"message"`
	Count          int32           `json:"count"`
	FirstTimestamp time.Time       `json:"firstTimestamp"`
	LastTimestamp  time.Time       `json:"lastTimestamp"`
}
