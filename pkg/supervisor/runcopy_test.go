package supervisor

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestWithEnv(t *testing.T) {
	base := []pod.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &pod.EnvVarSource{FieldRef: &pod.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	for _, tc := range []struct {
		name  string
		extra []string
		want  []pod.EnvVar
	}{
		{"nothing added", nil, base},
		{"added at the end", []string{"C=3"}, append(append([]pod.EnvVar{}, base...), pod.EnvVar{Name: "C", Value: "3"})},
		{"a key it has is replaced", []string{"B=x"}, []pod.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x"}}},
		{"the last of a key given twice", []string{"C=1", "C=2=3"}, append(append([]pod.EnvVar{}, base...), pod.EnvVar{Name: "C", Value: "2=3"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withEnv(base, tc.extra); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("withEnv = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// runOf waits until the fake runs a copy of container name and returns its container.
func runOf(t *testing.T, rt *fakeRuntime, name string) *fakeContainer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rt.mu.Lock()
		for _, c := range rt.containers {
			if strings.HasPrefix(c.rec.Name, name+RunSeparator) && c.rec.State == RecordRunning {
				rt.mu.Unlock()
				return c
			}
		}
		rt.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no copy of %s runs", name)
	return nil
}

func TestRunCopy(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	if _, err := create(ctx, m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "Running", phaseIs(pod.PodRunning))
	_, a, err := m.containerOf("default", "web", "a")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the copy runs the asking instance's image, not what its tag names now", func(t *testing.T) {
		rt.mu.Lock()
		was := *rt.images["busybox:1"]
		rt.images["busybox:1"] = &pod.ImageConfig{Ref: "busybox:1", ID: "sha256:retagged", Cmd: []string{"sh"}}
		rt.mu.Unlock()
		defer func() { rt.mu.Lock(); rt.images["busybox:1"] = &was; rt.mu.Unlock() }()
		done := make(chan error, 1)
		go func() {
			_, err := m.RunCopy(ctx, "default", "web", a.id, RunOptions{Command: []string{"true"}})
			done <- err
		}()
		c := runOf(t, rt, "a")
		if c.plan.Image.ID != was.ID {
			t.Errorf("the copy's image %q, want the instance's %q", c.plan.Image.ID, was.ID)
		}
		rt.exit(c.rec.ID, 0)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the copy's exit is returned, and the copy removed", func(t *testing.T) {
		type result struct {
			st  ExitStatus
			err error
		}
		done := make(chan result, 1)
		go func() {
			st, err := m.RunCopy(ctx, "default", "web", a.id, RunOptions{Command: []string{"sh", "-c", "work"}, Env: []string{"WORK_ITEM=/x"}})
			done <- result{st, err}
		}()
		c := runOf(t, rt, "a")
		if !reflect.DeepEqual(c.plan.Args, []string{"sh", "-c", "work"}) || !slices.Contains(c.plan.Env, "WORK_ITEM=/x") {
			t.Errorf("the copy's plan: args %q env %q", c.plan.Args, c.plan.Env)
		}
		rt.exit(c.rec.ID, 3)
		r := <-done
		if r.err != nil || r.st.Code != 3 {
			t.Fatalf("RunCopy = %+v, %v; want exit code 3", r.st, r.err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			rt.mu.Lock()
			_, left := rt.containers[c.rec.ID]
			rt.mu.Unlock()
			if !left {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the copy %s was not removed", c.rec.ID)
			}
		}
		p, _ := m.Get(ctx, "default", "web")
		if len(p.Status.ContainerStatuses) != 2 {
			t.Errorf("the pod's status shows the copy: %+v", p.Status.ContainerStatuses)
		}
	})

	t.Run("the copy is killed when the asker goes away", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan ExitStatus, 1)
		go func() {
			st, _ := m.RunCopy(cctx, "default", "web", a.id, RunOptions{Command: []string{"sleep", "1000"}})
			done <- st
		}()
		c := runOf(t, rt, "a")
		cancel()
		if st := <-done; st.Code != 137 {
			t.Fatalf("exit %+v, want 137 (SIGKILL)", st)
		}
		if h := rt.history(); !slices.Contains(h, "signal:"+c.rec.Name+":SIGKILL") {
			t.Errorf("no SIGKILL of the copy in %v", h)
		}
	})

	t.Run("refused for what is not a running container of the pod", func(t *testing.T) {
		for _, id := range []string{"", "not-a-container"} {
			if _, err := m.RunCopy(ctx, "default", "web", id, RunOptions{}); !errdefs.IsFailedPrecondition(err) {
				t.Errorf("RunCopy(%q) = %v, want failed precondition", id, err)
			}
		}
		if _, err := m.RunCopy(ctx, "default", "nope", a.id, RunOptions{}); !errdefs.IsNotFound(err) {
			t.Errorf("RunCopy of another pod = %v, want not found", err)
		}
	})
}
