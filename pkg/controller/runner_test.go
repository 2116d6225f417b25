package controller

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

type countingReconciler struct{ syncs atomic.Int32 }

func (c *countingReconciler) Name() string { return "counting" }
func (c *countingReconciler) Sync(ctx context.Context) (time.Duration, error) {
	c.syncs.Add(1)
	return 0, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunWakesOnChanges: a reconciler syncs at start, on an object's change and on a pod's.
func TestRunWakesOnChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := newFakePods()
	objs, _ := NewObjects(ctx, &memStore{}, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	r := &countingReconciler{}
	Run(ctx, objs, pods, nil, r)
	waitFor(t, "the first sync", func() bool { return r.syncs.Load() >= 1 })
	n := r.syncs.Load()
	if err := objs.Put(ctx, &object.ConfigMap{APIVersion: "v1", Kind: "ConfigMap", Metadata: pod.ObjectMeta{Namespace: "default", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a sync after an object's change", func() bool { return r.syncs.Load() > n })
	if _, err := pods.CreateOwned(ctx, pod.Owner{}, []*pod.Pod{{Metadata: pod.ObjectMeta{Namespace: "default", Name: "p"}}}); err != nil {
		t.Fatal(err)
	}
	n = r.syncs.Load()
	pods.setStatus("default", "p", func(s *pod.PodStatus) { s.Phase = pod.PodRunning })
	waitFor(t, "a sync after a pod's change", func() bool { return r.syncs.Load() > n })
}

// TestPodCollector: a pod whose owner is gone, or was made again with a new UID, is removed; the
// pods of a living owner and the API's own stay.
func TestPodCollector(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := newFakePods()
	pods.removeFor = 0
	objs, _ := NewObjects(ctx, &memStore{}, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	live := &object.ReplicaSet{APIVersion: "apps/v1", Kind: "ReplicaSet", Metadata: pod.ObjectMeta{Namespace: "default", Name: "live"}}
	if err := objs.Put(ctx, live); err != nil {
		t.Fatal(err)
	}
	liveObj, _ := objs.Get("ReplicaSet", "default", "live")
	mk := func(name string, owner object.Object, uid string) {
		p := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: "default", Name: name}}
		o := pod.Owner{}
		if owner != nil {
			o = OwnerOf(owner, "")
			ref := ControllerRef(owner)
			ref.UID = uid
			p.Metadata.OwnerReferences = []pod.OwnerReference{ref}
		}
		if _, err := pods.CreateOwned(ctx, o, []*pod.Pod{p}); err != nil {
			t.Fatal(err)
		}
	}
	gone := &object.ReplicaSet{Kind: "ReplicaSet", Metadata: pod.ObjectMeta{Namespace: "default", Name: "gone", UID: "u1"}}
	mk("of-live", liveObj, liveObj.GetMetadata().UID)
	mk("of-gone", gone, "u1")
	mk("of-old-live", liveObj, "an-older-uid")
	mk("api", nil, "")
	c := &PodCollector{Objects: objs, Pods: pods}
	for range 100 {
		if _, err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if pods.get("of-gone") == nil && pods.get("of-old-live") == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pods.get("of-gone") != nil || pods.get("of-old-live") != nil {
		t.Error("orphans left")
	}
	if pods.get("of-live") == nil || pods.get("api") == nil {
		t.Error("a pod with a living owner, or the API's, was removed")
	}
}
