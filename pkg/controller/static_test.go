package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/pod"
)

// fakePods is the supervisor as a controller sees it: pods by namespace/name with their owners.
// A removal takes a moment, as a grace period does, so that syncs meanwhile see it under way.
// waitPod polls until cond holds of the pod (nil when it does not exist).
func waitPod(t *testing.T, f *fakePods, name, what string, cond func(*pod.Pod) bool) *pod.Pod {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := f.get(name)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: not %s after 30s", name, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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

func newTestStatic(t *testing.T) (*Static, *fakePods, *events.Recorder, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f, ev := newFakePods(), events.New()
	return NewStatic(f, ev, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Millisecond), f, ev, ctx
}

func hasEvent(evs []pod.Event, kind, name, reason string) bool {
	for _, e := range evs {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason {
			return true
		}
	}
	return false
}

func TestStaticCreatesReplacesAndRemoves(t *testing.T) {
	c, f, ev, ctx := newTestStatic(t)

	c.Sync(ctx, map[string][]byte{"/d/web.yaml": staticPod("web", "sleep")})
	first := waitPod(t, f, "web", "created", func(p *pod.Pod) bool { return p != nil })
	if first.Metadata.Annotations[pod.AnnotationConfigFile] != "/d/web.yaml" || first.Metadata.Annotations[pod.AnnotationConfigSource] != "file" {
		t.Errorf("annotations %v, want the static pod's source", first.Metadata.Annotations)
	}
	if o := f.Owners()["default/web"]; o.Kind != pod.OwnerFile || o.Name != "/d/web.yaml" || o.Hash == "" {
		t.Fatalf("created with owner %+v, want the file with a hash", o)
	}

	// The same description again (a comment, another key order): nothing happens.
	c.Sync(ctx, map[string][]byte{"/d/web.yaml": append([]byte("# comment\n"), staticPod("web", "sleep")...)})
	time.Sleep(50 * time.Millisecond)
	if got := f.get("web"); got == nil || got.Metadata.UID != first.Metadata.UID {
		t.Errorf("an unchanged pod was replaced")
	}

	// A change replaces it.
	c.Sync(ctx, map[string][]byte{"/d/web.yaml": staticPod("web", "sh")})
	second := waitPod(t, f, "web", "replaced", func(p *pod.Pod) bool { return p != nil && p.Metadata.UID != first.Metadata.UID })
	if got := second.Spec.Containers[0].Command; len(got) != 1 || got[0] != "sh" {
		t.Errorf("replacement runs %v, want [sh]", got)
	}
	if !hasEvent(ev.List([]string{events.FilesKey}), "File", "/d/web.yaml", ReasonStaticReplaced) {
		t.Errorf("no %s event about the file", ReasonStaticReplaced)
	}

	// A broken file keeps the pod and reports the file.
	c.Sync(ctx, map[string][]byte{"/d/web.yaml": []byte("spec: [")})
	time.Sleep(50 * time.Millisecond)
	if got := f.get("web"); got == nil || got.Metadata.UID != second.Metadata.UID {
		t.Errorf("a broken file disturbed its pod")
	}
	if evs := ev.List([]string{events.FilesKey}); !hasEvent(evs, "File", "/d/web.yaml", ReasonStaticInvalid) {
		t.Errorf("no %s event about the file: %+v", ReasonStaticInvalid, evs)
	}

	// The file is gone: so is the pod.
	c.Sync(ctx, map[string][]byte{})
	waitPod(t, f, "web", "removed", func(p *pod.Pod) bool { return p == nil })
}

func TestStaticRefusesConflicts(t *testing.T) {
	c, f, ev, ctx := newTestStatic(t)
	api, err := f.CreateOwned(ctx, pod.Owner{}, []*pod.Pod{{Metadata: pod.ObjectMeta{Name: "api", Namespace: "default"}}})
	if err != nil {
		t.Fatal(err)
	}
	c.Sync(ctx, map[string][]byte{
		"/d/a.yaml":   staticPod("api", "sh"),                                               // an API pod's name
		"/d/b.yaml":   staticPod("dup", "sleep"),                                            // first wins
		"/d/c.yaml":   staticPod("dup", "sh"),                                               // described twice
		"/d/bad.yaml": []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n"), // invalid
	})
	dup := waitPod(t, f, "dup", "created", func(p *pod.Pod) bool { return p != nil })
	if got := f.get("api"); got != api[0] || got.Metadata.Annotations[pod.AnnotationConfigFile] != "" {
		t.Errorf("a file took over a pod created through the API")
	}
	if dup.Metadata.Annotations[pod.AnnotationConfigFile] != "/d/b.yaml" {
		t.Errorf("dup comes from %s, want /d/b.yaml (the first file)", dup.Metadata.Annotations[pod.AnnotationConfigFile])
	}
	evs := ev.List([]string{events.FilesKey})
	for _, file := range []string{"/d/a.yaml", "/d/c.yaml", "/d/bad.yaml"} {
		if !hasEvent(evs, "File", file, ReasonStaticInvalid) {
			t.Errorf("no event about %s: %+v", file, evs)
		}
	}
	if f.get("x") != nil {
		t.Errorf("an invalid file's pod was created")
	}
	// A file's errors are reported once, not at every rescan.
	c.Sync(ctx, map[string][]byte{"/d/bad.yaml": []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n"), "/d/b.yaml": staticPod("dup", "sleep")})
	for _, e := range ev.List([]string{events.FilesKey}) {
		if e.InvolvedObject.Name == "/d/bad.yaml" && e.Count != 1 {
			t.Errorf("the error of bad.yaml was reported %d times", e.Count)
		}
	}
}

// While podd holds its pods down for a shutdown, files create nothing.
func TestStaticWaitsOutAShutdown(t *testing.T) {
	c, f, ev, ctx := newTestStatic(t)
	f.refusing = true
	c.Sync(ctx, map[string][]byte{"/d/late.yaml": staticPod("late", "sleep")})
	if f.get("late") != nil {
		t.Errorf("a static pod was created during a shutdown")
	}
	if evs := ev.List([]string{events.FilesKey}); len(evs) != 0 {
		t.Errorf("a shutdown reported files as broken: %+v", evs)
	}
	f.mu.Lock()
	f.refusing = false
	f.mu.Unlock()
	c.Sync(ctx, map[string][]byte{"/d/late.yaml": staticPod("late", "sleep")})
	waitPod(t, f, "late", "created once podd accepts pods again", func(p *pod.Pod) bool { return p != nil })
}
