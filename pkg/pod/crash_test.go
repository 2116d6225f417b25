package pod

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A container created and then failed to start (its task creation broke) is tried again as a new
// container, the failed one removed, without counting a restart: containerd may keep the failed
// ID unusable.
func TestFailedStartRetriesUnderNewID(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	rt.failStart["a"] = errors.New("mkdir bundle: file exists")
	m := startManager(t, rt, st)
	pods, err := m.Create(context.Background(), manifest("Always"))
	if err != nil {
		t.Fatal(err)
	}
	uid := pods[0].Metadata.UID
	waitFor(t, m, "web", "a failed to start", func(p *Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == ReasonRunContainerError
	})
	rt.mu.Lock()
	delete(rt.failStart, "a")
	rt.mu.Unlock()
	p := waitFor(t, m, "web", "a running", func(p *Pod) bool { return p.Status.ContainerStatuses[0].State.Running != nil })
	a := p.Status.ContainerStatuses[0]
	if a.RestartCount != 0 {
		t.Errorf("restartCount %d, want 0: a failed start is not a restart", a.RestartCount)
	}
	if first := "containerd://" + uid + "-a-0"; a.ContainerID == first {
		t.Errorf("container %s: the retry reused the failed container's ID", a.ContainerID)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var ids []string
	for id, c := range rt.containers {
		if c.rec.Name == "a" {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 || !strings.HasSuffix(a.ContainerID, ids[0]) {
		t.Errorf("containers of a: %v, want only the running %s", ids, a.ContainerID)
	}
}
