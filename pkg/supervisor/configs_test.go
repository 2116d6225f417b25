package supervisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// fakeConfigs holds ConfigMaps in memory and closes its channel at each change, as
// controller.Objects does.
type fakeConfigs struct {
	mu      sync.Mutex
	maps    map[string]map[string][]byte
	changed chan struct{}
}

func newFakeConfigs() *fakeConfigs {
	return &fakeConfigs{maps: map[string]map[string][]byte{}, changed: make(chan struct{})}
}

func (f *fakeConfigs) set(ns, name string, data map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maps[ns+"/"+name] = data
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeConfigs) ConfigMap(ns, name string) (*pod.ConfigData, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.maps[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("configmap %q: %w", name, errdefs.ErrNotFound)
	}
	return &pod.ConfigData{Data: d}, nil
}

func (f *fakeConfigs) Secret(ns, name string) (*pod.ConfigData, error) {
	return nil, fmt.Errorf("secret %q: %w", name, errdefs.ErrNotFound)
}

func (f *fakeConfigs) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// TestMissingConfigMapStartsOnChange: a container whose env needs a missing ConfigMap waits with
// CreateContainerConfigError, and is created as soon as the ConfigMap appears — on the change,
// not on the retry timer, which is set to an hour here so that only the change explains it.
func TestMissingConfigMapStartsOnChange(t *testing.T) {
	rt, st, cfgs := newFakeRuntime(), newMemStore(), newFakeConfigs()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, NodeName: "node-1", LogRoot: t.TempDir(),
		BackoffBase: 10 * time.Millisecond, RetryDelay: time.Hour, Configs: cfgs})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	if _, err := create(ctx, m, []byte(`apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: a
    image: busybox:1
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: cfg, key: color}}
`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "waiting for the ConfigMap", func(p *pod.Pod) bool {
		if p == nil || len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == pod.ReasonCreateContainerConfigError && strings.Contains(w.Message, `configmap "cfg" not found`)
	})
	cfgs.set("default", "other", map[string][]byte{"x": []byte("y")}) // another one: still waiting
	cfgs.set("default", "cfg", map[string][]byte{"color": []byte("blue")})
	waitFor(t, m, "web", "Running", phaseIs(pod.PodRunning))
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, c := range rt.containers {
		if c.rec.State == RecordRunning && !slices.Contains(c.plan.Env, "COLOR=blue") {
			t.Errorf("env = %q, want COLOR=blue", c.plan.Env)
		}
	}
}
