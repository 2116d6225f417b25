package supervisor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"

	"github.com/containerd/errdefs"
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

func TestSyncStaticCreatesReplacesAndRemoves(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()

	m.SyncStatic(ctx, map[string][]byte{"/d/web.yaml": staticPod("web", "sleep")})
	first := waitFor(t, m, "web", "running", phaseIs(pod.PodRunning))
	if first.Metadata.Annotations[AnnotationConfigFile] != "/d/web.yaml" || first.Metadata.Annotations[AnnotationConfigSource] != "file" {
		t.Errorf("annotations %v, want the static pod's source", first.Metadata.Annotations)
	}
	recs, _ := st.List(ctx)
	if len(recs) != 1 || recs[0].Source != "/d/web.yaml" || recs[0].SourceHash == "" {
		t.Fatalf("stored record does not carry its source: %+v", recs)
	}

	// Refused through the API.
	if err := m.Remove(ctx, "default", "web", nil); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "/d/web.yaml") {
		t.Errorf("Remove of a static pod: %v, want a failed precondition naming the file", err)
	}

	// The same description again (a comment, another key order): nothing happens.
	m.SyncStatic(ctx, map[string][]byte{"/d/web.yaml": append([]byte("# comment\n"), staticPod("web", "sleep")...)})
	if got, _ := m.Get(ctx, "default", "web"); got.Metadata.UID != first.Metadata.UID {
		t.Errorf("an unchanged pod was replaced")
	}

	// A change replaces it.
	m.SyncStatic(ctx, map[string][]byte{"/d/web.yaml": staticPod("web", "sh")})
	second := waitFor(t, m, "web", "replaced", func(p *pod.Pod) bool {
		return p != nil && p.Metadata.UID != first.Metadata.UID && p.Status.Phase == pod.PodRunning
	})
	if got := second.Spec.Containers[0].Command; len(got) != 1 || got[0] != "sh" {
		t.Errorf("replacement runs %v, want [sh]", got)
	}

	// A broken file keeps the pod and reports the file.
	m.SyncStatic(ctx, map[string][]byte{"/d/web.yaml": []byte("spec: [")})
	time.Sleep(50 * time.Millisecond)
	if got, _ := m.Get(ctx, "default", "web"); got == nil || got.Metadata.UID != second.Metadata.UID {
		t.Errorf("a broken file disturbed its pod")
	}
	evs, _ := m.Events(ctx, "", "")
	if !hasEvent(evs, "File", "/d/web.yaml", ReasonStaticInvalid) {
		t.Errorf("no %s event about the file: %+v", ReasonStaticInvalid, evs)
	}

	// The file is gone: so is the pod.
	m.SyncStatic(ctx, map[string][]byte{})
	waitFor(t, m, "web", "removed", func(p *pod.Pod) bool { return p == nil })
	if c, s := rt.counts(); c != 0 || s != 0 {
		t.Errorf("%d containers and %d sandboxes left", c, s)
	}
}

func TestSyncStaticRefusesConflicts(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	if _, err := create(ctx, m, staticPod("api", "sleep")); err != nil {
		t.Fatal(err)
	}
	m.SyncStatic(ctx, map[string][]byte{
		"/d/a.yaml":   staticPod("api", "sh"),                                               // an API pod's name
		"/d/b.yaml":   staticPod("dup", "sleep"),                                            // first wins
		"/d/c.yaml":   staticPod("dup", "sh"),                                               // described twice
		"/d/bad.yaml": []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n"), // invalid
	})
	waitFor(t, m, "dup", "running", phaseIs(pod.PodRunning))
	got, _ := m.Get(ctx, "default", "api")
	if got.Metadata.Annotations[AnnotationConfigFile] != "" {
		t.Errorf("a file took over a pod created through the API")
	}
	if dup, _ := m.Get(ctx, "default", "dup"); dup.Metadata.Annotations[AnnotationConfigFile] != "/d/b.yaml" {
		t.Errorf("dup comes from %s, want /d/b.yaml (the first file)", dup.Metadata.Annotations[AnnotationConfigFile])
	}
	evs, _ := m.Events(ctx, "", "")
	for _, file := range []string{"/d/a.yaml", "/d/c.yaml", "/d/bad.yaml"} {
		if !hasEvent(evs, "File", file, ReasonStaticInvalid) {
			t.Errorf("no event about %s: %+v", file, evs)
		}
	}
	if _, err := m.Get(ctx, "default", "x"); !errdefs.IsNotFound(err) {
		t.Errorf("an invalid file's pod was created")
	}
	// A file's errors are reported once, not at every rescan.
	m.SyncStatic(ctx, map[string][]byte{"/d/bad.yaml": []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n"), "/d/b.yaml": staticPod("dup", "sleep")})
	evs, _ = m.Events(ctx, "", "")
	for _, e := range evs {
		if e.InvolvedObject.Name == "/d/bad.yaml" && e.Count != 1 {
			t.Errorf("the error of bad.yaml was reported %d times", e.Count)
		}
	}
}

func hasEvent(evs []pod.Event, kind, name, reason string) bool {
	for _, e := range evs {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason {
			return true
		}
	}
	return false
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
	m.SyncStatic(ctx, map[string][]byte{"/d/late.yaml": staticPod("late2", "sleep")})
	if _, err := m.Get(ctx, "default", "late2"); !errdefs.IsNotFound(err) {
		t.Errorf("a static pod was created during a shutdown")
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
