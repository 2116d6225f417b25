package events

import (
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// TestObjectEvents: events about objects are kept by UID and listed by namespace.
func TestObjectEvents(t *testing.T) {
	ev := New()
	ev.Object(pod.ObjectReference{Kind: "Deployment", Namespace: "a", Name: "web", UID: "u1"}, pod.EventNormal, "ScalingReplicaSet", "Scaled up replica set %s from %d to %d", "web-x", 0, 1)
	ev.Object(pod.ObjectReference{Kind: "ReplicaSet", Namespace: "b", Name: "web-x", UID: "u2"}, pod.EventNormal, "SuccessfulCreate", "Created pod: %s", "web-x-abcde")
	if got := ev.ObjectKeys("a"); len(got) != 1 {
		t.Fatalf("keys of a: %v", got)
	}
	if got := ev.ObjectKeys(""); len(got) != 2 {
		t.Fatalf("all keys: %v", got)
	}
	list := ev.List(ev.ObjectKeys("a"))
	if len(list) != 1 || list[0].InvolvedObject.UID != "u1" || list[0].Message != "Scaled up replica set web-x from 0 to 1" {
		t.Errorf("events of a: %+v", list)
	}
}
