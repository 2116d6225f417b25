package supervisor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// warmRuntime is the fake runtime with a pool of warm sandboxes: TakeWarm hands out the UIDs in
// ready to the pods that fit (here: those without the annotation cold), FillWarm records that the
// supervisor started it.
type warmRuntime struct {
	*fakeRuntime
	mu     sync.Mutex
	ready  []string
	filled chan struct{}
}

func (w *warmRuntime) TakeWarm(p *pod.Pod) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.Metadata.Annotations["cold"] != "" || len(w.ready) == 0 {
		return "", false
	}
	uid := w.ready[0]
	w.ready = w.ready[1:]
	return uid, true
}

func (w *warmRuntime) FillWarm(ctx context.Context) { close(w.filled) }

func TestWarmSandboxes(t *testing.T) {
	newWarm := func(uids ...string) *warmRuntime {
		rt := newFakeRuntime()
		return &warmRuntime{fakeRuntime: rt, ready: uids, filled: make(chan struct{})}
	}
	start := func(t *testing.T, w *warmRuntime, st *memStore) *Manager {
		ctx, cancel := context.WithCancel(context.Background())
		m := NewManager(Options{Runtime: w, Sandbox: w, Store: st, NodeName: "node-1", LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond, RetryDelay: 20 * time.Millisecond})
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); m.Wait() })
		return m
	}

	t.Run("a new pod takes a warm sandbox's UID; the pool is filled after start-up", func(t *testing.T) {
		w := newWarm("warm-1")
		st := newMemStore()
		m := start(t, w, st)
		select {
		case <-w.filled:
		case <-time.After(30 * time.Second):
			t.Fatal("FillWarm was never started")
		}
		pods, err := create(context.Background(), m, []byte(`
apiVersion: v1
kind: Pod
metadata: {name: first}
spec:
  containers:
  - {name: a, image: "busybox:1"}
---
apiVersion: v1
kind: Pod
metadata: {name: second}
spec:
  containers:
  - {name: a, image: "busybox:1"}
`))
		if err != nil {
			t.Fatal(err)
		}
		if got := pods[0].Metadata.UID; got != "warm-1" {
			t.Errorf("first pod's UID = %q, want the warm sandbox's warm-1", got)
		}
		if got := pods[1].Metadata.UID; got == "warm-1" || got == "" {
			t.Errorf("second pod's UID = %q, want a new one (the pool had one sandbox)", got)
		}
		waitFor(t, m, "first", "first running", func(p *pod.Pod) bool { return p != nil && p.Status.Phase == pod.PodRunning })
		if _, ok := st.recs["warm-1"]; !ok {
			t.Error("the pod with the warm UID was not stored under it")
		}
	})

	t.Run("pods that do not fit create their own", func(t *testing.T) {
		w := newWarm("warm-1")
		m := start(t, w, newMemStore())
		pods, err := create(context.Background(), m, []byte(`
apiVersion: v1
kind: Pod
metadata: {name: c, annotations: {cold: "yes"}}
spec:
  containers:
  - {name: a, image: "busybox:1"}
`))
		if err != nil {
			t.Fatal(err)
		}
		if pods[0].Metadata.UID == "warm-1" {
			t.Error("a pod that does not fit took the warm sandbox")
		}
	})

	t.Run("a failed store removes the warm sandboxes taken", func(t *testing.T) {
		w := newWarm("warm-1")
		w.sandboxes["warm-1"] = true // prepared
		st := newMemStore()
		m := start(t, w, st)
		st.mu.Lock()
		st.fail = errors.New("disk full")
		st.mu.Unlock()
		if _, err := create(context.Background(), m, []byte(`
apiVersion: v1
kind: Pod
metadata: {name: lost}
spec:
  containers:
  - {name: a, image: "busybox:1"}
`)); err == nil {
			t.Fatal("create succeeded with a failing store")
		}
		w.mu.Lock()
		left := len(w.ready)
		w.mu.Unlock()
		w.fakeRuntime.mu.Lock()
		kept := w.sandboxes["warm-1"]
		w.fakeRuntime.mu.Unlock()
		if left != 0 {
			t.Errorf("the pool still has %d sandboxes: the pod did not take one", left)
		}
		if kept {
			t.Error("the warm sandbox taken by a pod that was never stored was kept: it belongs to no pod")
		}
	})
}
