package api

import (
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestEventSet(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ev := func(reason, msg string, count int32, first time.Time) pod.Event {
		return pod.Event{
			Type: pod.EventWarning, Reason: reason, Message: msg, Count: count,
			InvolvedObject: pod.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", FieldPath: "spec.containers{app}"},
			FirstTimestamp: first, LastTimestamp: first.Add(time.Duration(count) * time.Minute),
		}
	}
	set := newEventSet([]pod.Event{ev("BackOff", "back-off", 3, t0), ev("Started", "started", 1, t0)})
	other := ev("BackOff", "back-off", 1, t0)
	other.InvolvedObject.FieldPath = "spec.containers{proxy}"
	tests := []struct {
		name string
		e    pod.Event
		want bool
	}{
		{"listed", ev("BackOff", "back-off", 3, t0), true},
		{"an older count of a listed event", ev("BackOff", "back-off", 2, t0), true},
		{"a repeat of a listed event", ev("BackOff", "back-off", 4, t0), false},
		{"same reason, another message", ev("BackOff", "other", 1, t0), false},
		{"a new event like a listed one", ev("Started", "started", 1, t0.Add(time.Hour)), false},
		{"another container", other, false},
		{"zone of the timestamp does not matter", ev("Started", "started", 1, t0.In(time.FixedZone("X", 3600))), true},
	}
	for _, tt := range tests {
		if got := set.has(tt.e); got != tt.want {
			t.Errorf("%s: has = %v, want %v", tt.name, got, tt.want)
		}
	}
}
