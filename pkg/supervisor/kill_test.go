package supervisor

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// TestKillContainer: KillContainer stops one container by the stop contract (SIGTERM first),
// returns once it exited, and the restart policy starts it again; the other container is left
// alone. An unknown container is NotFound.
func TestKillContainer(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "Running", phaseIs(pod.PodRunning))
	if err := m.KillContainer(context.Background(), "default", "web", "a", "", "Container a lost its lead"); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	signals := slices.Clone(rt.signals)
	rt.mu.Unlock()
	if !slices.Equal(signals, []string{"a:SIGTERM"}) {
		t.Errorf("signals %v, want [a:SIGTERM]", signals)
	}
	waitFor(t, m, "web", "a restarted", func(p *pod.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "a" {
				return cs.RestartCount == 1 && cs.State.Running != nil
			}
		}
		return false
	})
	if err := m.KillContainer(context.Background(), "default", "web", "nope", "", ""); !errdefs.IsNotFound(err) {
		t.Errorf("KillContainer of an unknown container: %v, want NotFound", err)
	}
	id, running, err := m.RunningContainer("default", "web", "b")
	if err != nil || !running || id == "" {
		t.Errorf("RunningContainer b: %q %t %v", id, running, err)
	}
}
