// Package object is podd's model of the Kubernetes objects beside Pods that it runs on one host:
// Deployments and the ReplicaSets they own, StatefulSets, Jobs, ConfigMaps, Secrets, Services and
// PersistentVolumeClaims — their types (Kubernetes' field names), defaults and validation. Like
// pkg/pod it is the model only: it imports pkg/pod and the standard library.
package object

import (
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// Object is any of the kinds: its type and its metadata.
type Object interface {
	GetKind() string
	GetMetadata() *pod.ObjectMeta
}

// Condition is a workload's status condition (Available, Progressing, Complete, Failed, ...).
type Condition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
	LastUpdateTime     *time.Time `json:"lastUpdateTime,omitempty"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
}

// Deployment is apps/v1 Deployment.
type Deployment struct {
	APIVersion string           `json:"apiVersion,omitempty"`
	Kind       string           `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta   `json:"metadata"`
	Spec       DeploymentSpec   `json:"spec"`
	Status     DeploymentStatus `json:"status,omitempty"`
}

// DeploymentSpec is the subset of Kubernetes' DeploymentSpec that podd implements.
type DeploymentSpec struct {
	Replicas                *int32              `json:"replicas,omitempty"`
	Selector                *pod.LabelSelector  `json:"selector"`
	Template                pod.PodTemplateSpec `json:"template"`
	Strategy                DeploymentStrategy  `json:"strategy,omitempty"`
	MinReadySeconds         int32               `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit    *int32              `json:"revisionHistoryLimit,omitempty"`
	Paused                  bool                `json:"paused,omitempty"`
	ProgressDeadlineSeconds *int32              `json:"progressDeadlineSeconds,omitempty"`
}

// Deployment strategies.
const (
	RecreateDeploymentStrategy      = "Recreate"
	RollingUpdateDeploymentStrategy = "RollingUpdate"
)

// DeploymentStrategy is how a Deployment replaces old pods.
type DeploymentStrategy struct {
	Type          string                   `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDeployment bounds a rolling update.
type RollingUpdateDeployment struct {
	MaxUnavailable *pod.IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *pod.IntOrString `json:"maxSurge,omitempty"`
}

// DeploymentStatus is what podd reports of a Deployment.
type DeploymentStatus struct {
	ObservedGeneration  int64       `json:"observedGeneration,omitempty"`
	Replicas            int32       `json:"replicas,omitempty"`
	UpdatedReplicas     int32       `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32       `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32       `json:"unavailableReplicas,omitempty"`
	Conditions          []Condition `json:"conditions,omitempty"`
	CollisionCount      *int32      `json:"collisionCount,omitempty"`
}

// ReplicaSet is apps/v1 ReplicaSet: made by Deployments, and accepted on its own too.
type ReplicaSet struct {
	APIVersion string           `json:"apiVersion,omitempty"`
	Kind       string           `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta   `json:"metadata"`
	Spec       ReplicaSetSpec   `json:"spec"`
	Status     ReplicaSetStatus `json:"status,omitempty"`
}

// ReplicaSetSpec is the subset of Kubernetes' ReplicaSetSpec that podd implements.
type ReplicaSetSpec struct {
	Replicas        *int32              `json:"replicas,omitempty"`
	MinReadySeconds int32               `json:"minReadySeconds,omitempty"`
	Selector        *pod.LabelSelector  `json:"selector"`
	Template        pod.PodTemplateSpec `json:"template"`
}

// ReplicaSetStatus is what podd reports of a ReplicaSet.
type ReplicaSetStatus struct {
	Replicas             int32       `json:"replicas"`
	FullyLabeledReplicas int32       `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32       `json:"availableReplicas,omitempty"`
	ObservedGeneration   int64       `json:"observedGeneration,omitempty"`
	Conditions           []Condition `json:"conditions,omitempty"`
}

// StatefulSet is apps/v1 StatefulSet.
type StatefulSet struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta    `json:"metadata"`
	Spec       StatefulSetSpec   `json:"spec"`
	Status     StatefulSetStatus `json:"status,omitempty"`
}

// StatefulSetSpec is the subset of Kubernetes' StatefulSetSpec that podd implements.
type StatefulSetSpec struct {
	Replicas                             *int32                                           `json:"replicas,omitempty"`
	Selector                             *pod.LabelSelector                               `json:"selector"`
	Template                             pod.PodTemplateSpec                              `json:"template"`
	VolumeClaimTemplates                 []PersistentVolumeClaim                          `json:"volumeClaimTemplates,omitempty"`
	ServiceName                          string                                           `json:"serviceName,omitempty"`
	PodManagementPolicy                  string                                           `json:"podManagementPolicy,omitempty"`
	UpdateStrategy                       StatefulSetUpdateStrategy                        `json:"updateStrategy,omitempty"`
	RevisionHistoryLimit                 *int32                                           `json:"revisionHistoryLimit,omitempty"`
	MinReadySeconds                      int32                                            `json:"minReadySeconds,omitempty"`
	PersistentVolumeClaimRetentionPolicy *StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
	Ordinals                             *StatefulSetOrdinals                             `json:"ordinals,omitempty"`
}

// Pod management policies.
const (
	OrderedReadyPodManagement = "OrderedReady"
	ParallelPodManagement     = "Parallel"
)

// StatefulSetUpdateStrategy is how a StatefulSet replaces its pods.
type StatefulSetUpdateStrategy struct {
	Type          string                            `json:"type,omitempty"`
	RollingUpdate *RollingUpdateStatefulSetStrategy `json:"rollingUpdate,omitempty"`
}

// StatefulSet update strategies.
const (
	RollingUpdateStatefulSetStrategyType = "RollingUpdate"
	OnDeleteStatefulSetStrategyType      = "OnDelete"
)

// RollingUpdateStatefulSetStrategy bounds a StatefulSet's rolling update.
type RollingUpdateStatefulSetStrategy struct {
	Partition      *int32           `json:"partition,omitempty"`
	MaxUnavailable *pod.IntOrString `json:"maxUnavailable,omitempty"`
}

// StatefulSetPersistentVolumeClaimRetentionPolicy says what happens to claims on deletion and scale-down.
type StatefulSetPersistentVolumeClaimRetentionPolicy struct {
	WhenDeleted string `json:"whenDeleted,omitempty"`
	WhenScaled  string `json:"whenScaled,omitempty"`
}

// StatefulSetOrdinals sets the first ordinal.
type StatefulSetOrdinals struct {
	Start int32 `json:"start,omitempty"`
}

// StatefulSetStatus is what podd reports of a StatefulSet.
type StatefulSetStatus struct {
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	Replicas           int32       `json:"replicas"`
	ReadyReplicas      int32       `json:"readyReplicas,omitempty"`
	CurrentReplicas    int32       `json:"currentReplicas,omitempty"`
	UpdatedReplicas    int32       `json:"updatedReplicas,omitempty"`
	AvailableReplicas  int32       `json:"availableReplicas,omitempty"`
	CurrentRevision    string      `json:"currentRevision,omitempty"`
	UpdateRevision     string      `json:"updateRevision,omitempty"`
	CollisionCount     *int32      `json:"collisionCount,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty"`
	// CurrentTemplate is podd's stand-in for the ControllerRevision that currentRevision names:
	// the template of the pods below a rolling update's partition, made again from it when
	// deleted. Kubernetes keeps it in a ControllerRevision object, which podd does not have.
	CurrentTemplate *pod.PodTemplateSpec `json:"currentTemplate,omitempty"`
}

// Job is batch/v1 Job.
type Job struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta `json:"metadata"`
	Spec       JobSpec        `json:"spec"`
	Status     JobStatus      `json:"status,omitempty"`
}

// Completion modes.
const (
	NonIndexedCompletion = "NonIndexed"
	IndexedCompletion    = "Indexed"
)

// JobSpec is the subset of Kubernetes' JobSpec that podd implements.
type JobSpec struct {
	Parallelism             *int32              `json:"parallelism,omitempty"`
	Completions             *int32              `json:"completions,omitempty"`
	ActiveDeadlineSeconds   *int64              `json:"activeDeadlineSeconds,omitempty"`
	BackoffLimit            *int32              `json:"backoffLimit,omitempty"`
	BackoffLimitPerIndex    *int32              `json:"backoffLimitPerIndex,omitempty"`
	MaxFailedIndexes        *int32              `json:"maxFailedIndexes,omitempty"`
	Selector                *pod.LabelSelector  `json:"selector,omitempty"`
	ManualSelector          *bool               `json:"manualSelector,omitempty"`
	Template                pod.PodTemplateSpec `json:"template"`
	TTLSecondsAfterFinished *int32              `json:"ttlSecondsAfterFinished,omitempty"`
	CompletionMode          *string             `json:"completionMode,omitempty"`
	Suspend                 *bool               `json:"suspend,omitempty"`
	PodReplacementPolicy    *string             `json:"podReplacementPolicy,omitempty"`
}

// JobStatus is what podd reports of a Job.
type JobStatus struct {
	Conditions       []Condition `json:"conditions,omitempty"`
	StartTime        *time.Time  `json:"startTime,omitempty"`
	CompletionTime   *time.Time  `json:"completionTime,omitempty"`
	Active           int32       `json:"active,omitempty"`
	Succeeded        int32       `json:"succeeded,omitempty"`
	Failed           int32       `json:"failed,omitempty"`
	Terminating      *int32      `json:"terminating,omitempty"`
	Ready            *int32      `json:"ready,omitempty"`
	CompletedIndexes string      `json:"completedIndexes,omitempty"`
	FailedIndexes    *string     `json:"failedIndexes,omitempty"`
	// SettledPods (podd's own) are the UIDs of the Job's pods, still present, whose outcome the
	// counters above already hold, or that are being removed without counting (a suspended
	// Job's): the pods whose tracking finalizer Kubernetes would have removed. It is stored with
	// the counters in one write before any of these pods is removed, so that a crash can neither
	// count a pod twice nor lose one.
	SettledPods []string `json:"settledPods,omitempty"`
}

// ConfigMap is v1 ConfigMap.
type ConfigMap struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta    `json:"metadata"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	// BinaryData holds base64 text, as in YAML and JSON.
	BinaryData map[string]string `json:"binaryData,omitempty"`
}

// Secret is v1 Secret. Data holds base64 text, as in YAML and JSON; StringData is folded into it
// when the Secret is stored, as the API server does.
type Secret struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta    `json:"metadata"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
	Type       string            `json:"type,omitempty"`
}

// Service is v1 Service.
type Service struct {
	APIVersion string         `json:"apiVersion,omitempty"`
	Kind       string         `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta `json:"metadata"`
	Spec       ServiceSpec    `json:"spec"`
}

// ServiceSpec is the subset of Kubernetes' ServiceSpec that podd implements.
type ServiceSpec struct {
	Ports    []ServicePort     `json:"ports,omitempty"`
	Selector map[string]string `json:"selector,omitempty"`
	// ClusterIP "None" makes the Service headless; podd gives no virtual IPs (see specs/dns.md),
	// so every Service resolves to its endpoints' addresses.
	ClusterIP                string   `json:"clusterIP,omitempty"`
	ClusterIPs               []string `json:"clusterIPs,omitempty"`
	Type                     string   `json:"type,omitempty"`
	PublishNotReadyAddresses bool     `json:"publishNotReadyAddresses,omitempty"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name        string           `json:"name,omitempty"`
	Protocol    string           `json:"protocol,omitempty"`
	AppProtocol *string          `json:"appProtocol,omitempty"`
	Port        int32            `json:"port"`
	TargetPort  *pod.IntOrString `json:"targetPort,omitempty"`
}

// PersistentVolumeClaim is v1 PersistentVolumeClaim, bound by podd to a local folder under --root.
type PersistentVolumeClaim struct {
	APIVersion string                      `json:"apiVersion,omitempty"`
	Kind       string                      `json:"kind,omitempty"`
	Metadata   pod.ObjectMeta              `json:"metadata"`
	Spec       PersistentVolumeClaimSpec   `json:"spec"`
	Status     PersistentVolumeClaimStatus `json:"status,omitempty"`
}

// PersistentVolumeClaimSpec is the subset of Kubernetes' PersistentVolumeClaimSpec that podd implements.
type PersistentVolumeClaimSpec struct {
	AccessModes      []string                 `json:"accessModes,omitempty"`
	Resources        pod.ResourceRequirements `json:"resources,omitempty"`
	StorageClassName *string                  `json:"storageClassName,omitempty"`
	VolumeMode       *string                  `json:"volumeMode,omitempty"`
}

// PersistentVolumeClaimStatus is what podd reports of a claim.
type PersistentVolumeClaimStatus struct {
	Phase       string           `json:"phase,omitempty"`
	AccessModes []string         `json:"accessModes,omitempty"`
	Capacity    pod.ResourceList `json:"capacity,omitempty"`
}

// GetMetadata returns the metadata of each kind.
func (o *Deployment) GetMetadata() *pod.ObjectMeta            { return &o.Metadata }
func (o *ReplicaSet) GetMetadata() *pod.ObjectMeta            { return &o.Metadata }
func (o *StatefulSet) GetMetadata() *pod.ObjectMeta           { return &o.Metadata }
func (o *Job) GetMetadata() *pod.ObjectMeta                   { return &o.Metadata }
func (o *ConfigMap) GetMetadata() *pod.ObjectMeta             { return &o.Metadata }
func (o *Secret) GetMetadata() *pod.ObjectMeta                { return &o.Metadata }
func (o *Service) GetMetadata() *pod.ObjectMeta               { return &o.Metadata }
func (o *PersistentVolumeClaim) GetMetadata() *pod.ObjectMeta { return &o.Metadata }

// GetKind returns the kind.
func (o *Deployment) GetKind() string            { return o.Kind }
func (o *ReplicaSet) GetKind() string            { return o.Kind }
func (o *StatefulSet) GetKind() string           { return o.Kind }
func (o *Job) GetKind() string                   { return o.Kind }
func (o *ConfigMap) GetKind() string             { return o.Kind }
func (o *Secret) GetKind() string                { return o.Kind }
func (o *Service) GetKind() string               { return o.Kind }
func (o *PersistentVolumeClaim) GetKind() string { return o.Kind }
