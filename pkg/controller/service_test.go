package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// changing is a list of things with a Changed channel, as the supervisor and Objects give them.
type changing[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{}
}

func newChanging[T any]() *changing[T] { return &changing[T]{changed: make(chan struct{})} }

func (c *changing[T]) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *changing[T]) replace(items ...T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = items
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *changing[T]) get() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.items...)
}

type fakeStatuses struct{ *changing[*pod.Pod] }

func (f fakeStatuses) List(context.Context, string) ([]*pod.Pod, error) { return f.get(), nil }

type fakeObjects struct{ *changing[object.Object] }

func (f fakeObjects) List(kind, namespace string) []object.Object {
	var out []object.Object
	for _, o := range f.get() {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestServicesFollow: the controller hands the DNS a new table whenever a pod's readiness or a
// Service changes.
func TestServicesFollow(t *testing.T) {
	pods, objects := fakeStatuses{newChanging[*pod.Pod]()}, fakeObjects{newChanging[object.Object]()}
	tables := make(chan dns.Records, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewServices(objects, pods, func(r dns.Records) { tables <- r }, nil).Run(ctx)
	}()
	next := func(what string) dns.Records {
		t.Helper()
		select {
		case r := <-tables:
			return r
		case <-time.After(30 * time.Second):
			t.Fatalf("no new table after %s", what)
			return dns.Records{}
		}
	}
	endpoints := func(r dns.Records) []string {
		var out []string
		for _, s := range r.Services {
			for _, e := range s.Endpoints {
				out = append(out, s.Name+"="+e.IP.String())
			}
		}
		return out
	}
	if r := next("start"); len(r.Services) != 0 {
		t.Errorf("first table %v, want empty", r)
	}
	svc := &object.Service{Kind: "Service", Metadata: pod.ObjectMeta{Namespace: "default", Name: "web"}}
	svc.Spec.Selector = map[string]string{"app": "web"}
	objects.replace(svc)
	if r := next("a Service"); len(r.Services) != 1 || len(r.Services[0].Endpoints) != 0 {
		t.Errorf("a Service without pods: %v", r)
	}
	ready := func(ok bool) *pod.Pod {
		p := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"}}}
		p.Status.Phase, p.Status.PodIP = pod.PodRunning, "10.1.0.2"
		p.Status.Conditions = []pod.PodCondition{{Type: "Ready", Status: map[bool]string{true: "True", false: "False"}[ok]}}
		return p
	}
	pods.replace(ready(false))
	pods.replace(ready(true))
	// The unready pod changes nothing of the table: the next table is the ready one's.
	if got := endpoints(next("readiness")); len(got) != 1 || got[0] != "web=10.1.0.2" {
		t.Errorf("a ready pod: %v", got)
	}
	pods.replace(ready(false))
	if got := endpoints(next("readiness lost")); len(got) != 0 {
		t.Errorf("an unready pod: %v", got)
	}
	cancel()
	<-done
}
