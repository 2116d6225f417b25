package supervisor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/pod"
)

func staticPod(name, cmd string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: a, image: "busybox:1", command: [%s]}
`, name, cmd)
}

// TestRemoveWorkloadPod: a workload's pod is removed through the API, as kubectl delete pod
// does in Kubernetes (its controller makes it again); it was refused ("owned by StatefulSet
// default/web: change or delete that instead"), so a StatefulSet's pod could not be deleted.
func TestRemoveWorkloadPod(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	pods, err := manifest.Decode(staticPod("web-1", "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	owner := pod.Owner{Kind: "StatefulSet", Name: "default/web", Hash: "h1"}
	if _, err := m.CreateOwned(ctx, owner, pods); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web-1", "running", phaseIs(pod.PodRunning))
	if err := m.Remove(ctx, "default", "web-1", nil); err != nil {
		t.Fatalf("Remove of a StatefulSet's pod: %v", err)
	}
	if _, err := m.Get(ctx, "default", "web-1"); !errdefs.IsNotFound(err) {
		t.Errorf("the pod is still there after Remove: %v", err)
	}
}

// A pod created by an owner keeps its owner in the store, and only its owner removes it.
func TestOwnedPods(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	pods, err := manifest.Decode(staticPod("web", "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	owner := pod.Owner{Kind: pod.OwnerFile, Name: "/d/web.yaml", Hash: "h1"}
	if _, err := m.CreateOwned(ctx, owner, pods); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", phaseIs(pod.PodRunning))
	recs, _ := st.List(ctx)
	if len(recs) != 1 || recs[0].Owner != owner {
		t.Fatalf("stored record does not carry its owner: %+v", recs)
	}
	if got := m.Owners()["default/web"]; got != owner {
		t.Errorf("Owners()[default/web] = %+v, want %+v", got, owner)
	}
	// Refused through the API, naming the file.
	if err := m.Remove(ctx, "default", "web", nil); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "/d/web.yaml") {
		t.Errorf("Remove of a static pod: %v, want a failed precondition naming the file", err)
	}
	// Refused to another owner.
	if err := m.RemoveOwned(ctx, pod.Owner{Kind: pod.OwnerFile, Name: "/d/other.yaml"}, "default", "web"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("RemoveOwned by another owner: %v, want a failed precondition", err)
	}
	if err := m.RemoveOwned(ctx, owner, "default", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, "default", "web"); !errdefs.IsNotFound(err) {
		t.Errorf("the pod is still there after RemoveOwned: %v", err)
	}
}

// A record stored by an earlier podd names its static file in source and sourceHash: it is read
// as the pod's owner.
func TestLegacySourceBecomesOwner(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	pods, err := manifest.Decode(staticPod("web", "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	p.Metadata.Namespace, p.Metadata.UID = "default", "u-legacy"
	pod.SetDefaults(p)
	if err := st.Put(context.Background(), &Record{Pod: p, Source: "/d/web.yaml", SourceHash: "h0"}); err != nil {
		t.Fatal(err)
	}
	m := startManager(t, rt, st)
	want := pod.Owner{Kind: pod.OwnerFile, Name: "/d/web.yaml", Hash: "h0"}
	if got := m.Owners()["default/web"]; got != want {
		t.Errorf("owner of a legacy static pod = %+v, want %+v", got, want)
	}
}

func TestStopAllStopsWithoutRecording(t *testing.T) {
	m, rt, st := runningWeb(t)
	ctx := context.Background()
	if err := m.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	if r := rt.running(); len(r) != 0 {
		t.Errorf("running after StopAll: %v", r)
	}
	recs, _ := st.List(ctx)
	if len(recs) != 1 || recs[0].Stopped {
		t.Errorf("StopAll recorded the stop: %+v (the next podd must start the pod again)", recs[0])
	}
	// No new pod while shutting down, static or not.
	if _, err := create(ctx, m, staticPod("late", "sleep")); !errdefs.IsUnavailable(err) {
		t.Errorf("Create during a shutdown: %v, want unavailable", err)
	}
	if m.Accepting() {
		t.Errorf("Accepting() during a shutdown: the static pods' controller would create pods")
	}
	// A user's stop during it is recorded (the shutdown's stop is not the user's).
	if _, err := m.Stop(ctx, "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	recs, _ = st.List(ctx)
	if !recs[0].Stopped {
		t.Errorf("podctl stop during a shutdown was not recorded")
	}
}

// A cancelled host shutdown starts the pods again.
func TestResumeAll(t *testing.T) {
	m, rt, _ := runningWeb(t)
	ctx := context.Background()
	if err := m.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	if r := rt.running(); len(r) != 0 {
		t.Fatalf("running after StopAll: %v", r)
	}
	m.ResumeAll(ctx)
	waitFor(t, m, "web", "running again", func(p *pod.Pod) bool {
		return p != nil && p.Status.Phase == pod.PodRunning && len(rt.running()) == 2
	})
	if !m.Accepting() {
		t.Errorf("not Accepting() after ResumeAll")
	}
	if _, err := create(ctx, m, staticPod("after", "sleep")); err != nil {
		t.Errorf("Create after ResumeAll: %v", err)
	}
}

func TestCheck(t *testing.T) {
	m, _, _ := runningWeb(t)
	ctx := context.Background()
	if err := m.Check(ctx); err != nil {
		t.Fatalf("healthy manager: %v", err)
	}
	// A wedged manager (its lock held) fails the check by the deadline.
	m.mu.Lock()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := m.Check(short)
	m.mu.Unlock()
	if err == nil {
		t.Fatal("Check passed while the manager's lock was held")
	}
}

// runningWeb is a manager with the two-container pod web running.
func runningWeb(t *testing.T) (*Manager, *fakeRuntime, *memStore) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", phaseIs(pod.PodRunning))
	return m, rt, st
}
