package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// A container created and then failed to start (its task creation broke) is tried again as a new
// container, the failed one removed, without counting a restart: containerd may keep the failed
// ID unusable.
func TestFailedStartRetriesUnderNewID(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	rt.failStart["a"] = errors.New("mkdir bundle: file exists")
	m := startManager(t, rt, st)
	pods, err := create(context.Background(), m, webManifest("Always"))
	if err != nil {
		t.Fatal(err)
	}
	uid := pods[0].Metadata.UID
	waitFor(t, m, "web", "a failed to start", func(p *pod.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == pod.ReasonRunContainerError
	})
	rt.mu.Lock()
	delete(rt.failStart, "a")
	rt.mu.Unlock()
	p := waitFor(t, m, "web", "a running", func(p *pod.Pod) bool { return p.Status.ContainerStatuses[0].State.Running != nil })
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

// A podd that died with a retried instance created and not started: the next podd starts that
// very container (same generation, same ID), and no second one.
func TestRecoveredRetryKeepsItsGeneration(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, LogRoot: t.TempDir(), RetryDelay: 20 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pods, err := create(context.Background(), m, webManifest("Always"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	cancel()
	m.Wait()
	uid := pods[0].Metadata.UID
	rt.mu.Lock()
	old := rt.containers[uid+"-a-0"]
	delete(rt.containers, uid+"-a-0")
	retried := uid + "-a-0-g1"
	rt.containers[retried] = &fakeContainer{rec: ContainerRecord{ID: retried, PodUID: uid, Name: "a", Generation: 1, State: RecordCreated}, plan: old.plan}
	rt.mu.Unlock()

	m2 := startManager(t, rt, st)
	p := waitFor(t, m2, "web", "a running", func(p *pod.Pod) bool { return p.Status.ContainerStatuses[0].State.Running != nil })
	if got := p.Status.ContainerStatuses[0].ContainerID; got != "containerd://"+retried {
		t.Errorf("a runs as %s, want the recovered %s", got, retried)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id, c := range rt.containers {
		if c.rec.Name == "a" && id != retried {
			t.Errorf("a second container of a: %s", id)
		}
	}
}
