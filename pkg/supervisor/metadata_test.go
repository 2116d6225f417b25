package supervisor

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestUpdateMetadata(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: a
    image: "busybox:1"
    env:
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
`
	if _, err := create(ctx, m, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", func(p *pod.Pod) bool {
		return p != nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	p, err := m.UpdateMetadata(ctx, "default", "web", pod.MetadataPatch{Labels: map[string]*string{"app": ptr("api")}, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Labels["app"] != "api" {
		t.Errorf("labels = %v", p.Metadata.Labels)
	}
	// Stored before the answer.
	recs, _ := st.List(ctx)
	if len(recs) != 1 || recs[0].Pod.Metadata.Labels["app"] != "api" {
		t.Errorf("store holds %+v", recs)
	}
	// The volumes were rewritten with the new labels.
	rt.mu.Lock()
	refreshed := slices.Clone(rt.refreshed)
	var env []string
	for _, c := range rt.containers {
		env = c.plan.Env
	}
	rt.mu.Unlock()
	if len(refreshed) != 1 || refreshed[0]["app"] != "api" {
		t.Errorf("RefreshDownwardAPI saw %v", refreshed)
	}
	// The environment keeps the value the container started with, and spec.nodeName is the node's.
	if !slices.Contains(env, "APP=web") || !slices.Contains(env, "NODE=node-1") {
		t.Errorf("env = %v", env)
	}
	// An event records it; the container was not restarted.
	evs, _ := m.Events(ctx, "default", "web")
	if !slices.ContainsFunc(evs, func(e pod.Event) bool {
		return e.Reason == "MetadataUpdated" && strings.Contains(e.Message, "labels app=api")
	}) {
		t.Errorf("no MetadataUpdated event: %+v", evs)
	}
	if got := strings.Join(rt.history(), " "); strings.Count(got, "start:") != 1 {
		t.Errorf("history = %s", got)
	}
	// Refused changes change nothing.
	if _, err := m.UpdateMetadata(ctx, "default", "web", pod.MetadataPatch{Labels: map[string]*string{"app": ptr("x")}}); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("change without overwrite: %v", err)
	}
	if _, err := m.UpdateMetadata(ctx, "default", "nope", pod.MetadataPatch{Labels: map[string]*string{"a": ptr("x")}}); !errdefs.IsNotFound(err) {
		t.Errorf("missing pod: %v", err)
	}
	st.fail = errdefs.ErrUnavailable
	if _, err := m.UpdateMetadata(ctx, "default", "web", pod.MetadataPatch{Labels: map[string]*string{"b": ptr("x")}}); err == nil {
		t.Error("a store failure was not reported")
	}
	st.fail = nil
	if p, _ := m.Get(ctx, "default", "web"); p.Metadata.Labels["b"] != "" || p.Metadata.Labels["app"] != "api" {
		t.Errorf("a refused change changed the pod: %v", p.Metadata.Labels)
	}
}

func TestBindNode(t *testing.T) {
	m := NewManager(Options{NodeName: "node-1"})
	for _, tt := range []struct{ in, want, err string }{
		{"", "node-1", ""},
		{"node-1", "node-1", ""},
		{"other", "", `spec.nodeName: Invalid value: "other": this podd runs node "node-1"`},
	} {
		p := &pod.Pod{Spec: pod.PodSpec{NodeName: tt.in}}
		err := m.bindNode(p)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%q: err = %v", tt.in, err)
			}
			continue
		}
		if err != nil || p.Spec.NodeName != tt.want {
			t.Errorf("%q: nodeName %q, err %v", tt.in, p.Spec.NodeName, err)
		}
	}
}
