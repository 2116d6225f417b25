package controller

import (
	"context"
	"testing"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

type listedPods []*pod.Pod

func (l *listedPods) List(context.Context, string) ([]*pod.Pod, error) { return *l, nil }

type listedObjects []object.Object

func (l *listedObjects) List(kind, namespace string) []object.Object {
	var out []object.Object
	for _, o := range *l {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestServicesSync: each sync hands the DNS the endpoints as they are, once per change.
func TestServicesSync(t *testing.T) {
	pods, objects := &listedPods{}, &listedObjects{}
	var tables []dns.Records
	c := &Services{Objects: objects, Pods: pods, Set: func(r dns.Records) { tables = append(tables, r) }}
	sync := func() []string {
		t.Helper()
		before := len(tables)
		if _, err := c.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(tables) == before {
			return nil
		}
		var out []string
		for _, s := range tables[len(tables)-1].Services {
			out = append(out, s.Name)
			for _, e := range s.Endpoints {
				out = append(out, e.IP.String())
			}
		}
		return append(out, "set")
	}
	if got := sync(); len(got) != 1 {
		t.Errorf("first sync: %v, want an empty table set", got)
	}
	if got := sync(); got != nil {
		t.Errorf("a sync with no change set %v", got)
	}
	svc := &object.Service{Kind: "Service", Metadata: pod.ObjectMeta{Namespace: "default", Name: "web"}}
	svc.Spec.Selector = map[string]string{"app": "web"}
	*objects = listedObjects{svc, &object.ConfigMap{Kind: "ConfigMap"}}
	if got := sync(); len(got) != 2 || got[0] != "web" {
		t.Errorf("a Service without pods: %v", got)
	}
	ready := func(ok bool) *pod.Pod {
		p := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"}}}
		p.Status.Phase, p.Status.PodIP = pod.PodRunning, "10.1.0.2"
		p.Status.Conditions = []pod.PodCondition{{Type: "Ready", Status: map[bool]string{true: "True", false: "False"}[ok]}}
		return p
	}
	*pods = listedPods{ready(false)}
	if got := sync(); got != nil {
		t.Errorf("an unready pod changed the table: %v", got)
	}
	*pods = listedPods{ready(true)}
	if got := sync(); len(got) != 3 || got[1] != "10.1.0.2" {
		t.Errorf("a ready pod: %v", got)
	}
	*pods = listedPods{ready(false)}
	if got := sync(); len(got) != 2 {
		t.Errorf("readiness lost: %v", got)
	}
}
