package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// fakeClock is the controllers' clock in unit tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// workloadEnv is Objects, fakePods and both controllers, driven by hand.
type workloadEnv struct {
	t     *testing.T
	ctx   context.Context
	store *memStore
	objs  *Objects
	pods  *fakePods
	clock *fakeClock
	rs    *ReplicaSets
	d     *Deployments
}

func newWorkloadEnv(t *testing.T) *workloadEnv {
	t.Helper()
	ctx := context.Background()
	st := &memStore{}
	objs, err := NewObjects(ctx, st, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pods := newFakePods()
	pods.removeFor = 0
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := &workloadEnv{t: t, ctx: ctx, store: st, objs: objs, pods: pods, clock: clock}
	e.rs = &ReplicaSets{Objects: objs, Pods: pods, Now: clock.Now}
	e.d = &Deployments{Objects: objs, Pods: pods, Now: clock.Now}
	return e
}

func (e *workloadEnv) apply(doc string) {
	e.t.Helper()
	if _, err := e.objs.Apply(e.ctx, decodeObjects(e.t, doc)); err != nil {
		e.t.Fatal(err)
	}
}

// step runs each controller once (Deployment first) and waits for the removals they started.
func (e *workloadEnv) step() {
	e.t.Helper()
	if _, err := e.d.Sync(e.ctx); err != nil {
		e.t.Logf("deployment sync: %v", err)
	}
	if _, err := e.rs.Sync(e.ctx); err != nil {
		e.t.Logf("replicaset sync: %v", err)
	}
	e.waitRemovals()
}

func (e *workloadEnv) waitRemovals() {
	deadline := time.Now().Add(10 * time.Second)
	for len(e.rs.removing) > 0 && time.Now().Before(deadline) {
		select {
		case k := <-e.rs.done:
			delete(e.rs.removing, k)
		case <-time.After(time.Second):
		}
	}
}

func (e *workloadEnv) fingerprint() string {
	var parts []string
	for k := range e.pods.Owners() {
		parts = append(parts, k)
	}
	sort.Strings(parts)
	for _, kind := range []string{"Deployment", "ReplicaSet"} {
		for _, o := range e.objs.List(kind, "") {
			data, _ := json.Marshal(o)
			parts = append(parts, string(data))
		}
	}
	return strings.Join(parts, "\n")
}

// settle steps until nothing changes (each step's check runs after it).
func (e *workloadEnv) settle(check func()) {
	e.t.Helper()
	last := ""
	for i := 0; i < 200; i++ {
		e.step()
		if check != nil {
			check()
		}
		fp := e.fingerprint()
		if fp == last {
			return
		}
		last = fp
	}
	e.t.Fatal("the controllers did not settle in 200 steps")
}

// podsOf lists the pods whose name starts with prefix+"-".
func (e *workloadEnv) podsOf(prefix string) []*pod.Pod {
	list, _ := e.pods.List(e.ctx, "")
	var out []*pod.Pod
	for _, p := range list {
		if strings.HasPrefix(p.Metadata.Name, prefix+"-") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

// makeReady marks a pod Running and Ready now.
func (e *workloadEnv) makeReady(p *pod.Pod) {
	now := e.clock.Now()
	e.pods.setStatus(p.Metadata.Namespace, p.Metadata.Name, func(st *pod.PodStatus) {
		st.Phase = pod.PodRunning
		st.Conditions = []pod.PodCondition{{Type: "Ready", Status: "True", LastTransitionTime: &now}}
	})
}

func (e *workloadEnv) readyAll(prefix string) {
	for _, p := range e.podsOf(prefix) {
		if readySince(p) == nil {
			e.makeReady(p)
		}
	}
}

func (e *workloadEnv) deployment(name string) *object.Deployment {
	e.t.Helper()
	o, err := e.objs.Get("Deployment", "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.(*object.Deployment)
}

func (e *workloadEnv) replicaSet(name string) *object.ReplicaSet {
	e.t.Helper()
	o, err := e.objs.Get("ReplicaSet", "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.(*object.ReplicaSet)
}

// replicaSetsOf lists a Deployment's ReplicaSets by revision.
func (e *workloadEnv) replicaSetsOf(d string) []*object.ReplicaSet {
	var out []*object.ReplicaSet
	for _, o := range e.objs.List("ReplicaSet", "default") {
		rs := o.(*object.ReplicaSet)
		if len(rs.Metadata.OwnerReferences) > 0 && rs.Metadata.OwnerReferences[0].Name == d {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return revision(out[i]) < revision(out[j]) })
	return out
}

func deploymentYAML(name string, replicas int, image, strategy string, extra string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  replicas: %d
%s  strategy: %s
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers: [{name: app, image: %s}]
`, name, replicas, extra, strategy, name, name, image)
}
