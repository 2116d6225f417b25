package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
	fail error
}

func (s *memStore) PutObjects(ctx context.Context, objs map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.data == nil {
		s.data = map[string][]byte{}
	}
	for k, v := range objs {
		if v == nil {
			delete(s.data, k)
		} else {
			s.data[k] = v
		}
	}
	return nil
}

func (s *memStore) ListObjects(ctx context.Context) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.data {
		out[k] = v
	}
	return out, nil
}

type apiPods struct {
	mu   sync.Mutex
	pods map[string]*pod.Pod
	fail error
}

func (a *apiPods) CreatePods(ctx context.Context, pods []*pod.Pod) ([]*pod.Pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return nil, a.fail
	}
	for _, p := range pods {
		a.pods[p.Metadata.Namespace+"/"+p.Metadata.Name] = pod.Clone(p)
	}
	return pods, nil
}

func (a *apiPods) Get(ctx context.Context, ns, name string) (*pod.Pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pods[ns+"/"+name]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	return pod.Clone(p), nil
}

func (a *apiPods) UpdateMetadata(ctx context.Context, ns, name string, patch pod.MetadataPatch) (*pod.Pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pods[ns+"/"+name]
	for k, v := range patch.Labels {
		if v == nil {
			delete(p.Metadata.Labels, k)
		} else {
			if p.Metadata.Labels == nil {
				p.Metadata.Labels = map[string]string{}
			}
			p.Metadata.Labels[k] = *v
		}
	}
	return p, nil
}

func (a *apiPods) Remove(ctx context.Context, ns, name string, grace *time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pods, ns+"/"+name)
	return nil
}

func decodeObjects(t *testing.T, doc string) []object.Object {
	t.Helper()
	objs, err := manifest.DecodeObjects([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

const appYAML = `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  containers: [{name: app, image: busybox}]
`

func actions(rs []Result) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%s %s", r.Kind, r.Name, r.Action))
	}
	return strings.Join(out, ", ")
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	pods := &apiPods{pods: map[string]*pod.Pod{}}
	objs, err := NewObjects(ctx, st, pods, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := objs.Apply(ctx, decodeObjects(t, appYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(rs), "ConfigMap/cfg created, Deployment/web created, Pod/solo created"; got != want {
		t.Errorf("first apply: %s, want %s", got, want)
	}
	d, err := objs.Get("Deployment", "default", "web")
	if err != nil || d.GetMetadata().UID == "" || d.GetMetadata().Generation != 1 {
		t.Fatalf("deployment %+v, %v", d, err)
	}
	rs, err = objs.Apply(ctx, decodeObjects(t, appYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(rs), "ConfigMap/cfg unchanged, Deployment/web unchanged, Pod/solo unchanged"; got != want {
		t.Errorf("second apply: %s, want %s", got, want)
	}
	edited := strings.Replace(appYAML, "replicas: 2", "replicas: 3", 1)
	edited = strings.Replace(edited, "metadata: {name: solo}", "metadata: {name: solo, labels: {tier: x}}", 1)
	rs, err = objs.Apply(ctx, decodeObjects(t, edited))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(rs), "ConfigMap/cfg unchanged, Deployment/web configured, Pod/solo configured"; got != want {
		t.Errorf("edited apply: %s, want %s", got, want)
	}
	d2, _ := objs.Get("Deployment", "default", "web")
	if d2.GetMetadata().Generation != 2 || d2.GetMetadata().UID != d.GetMetadata().UID {
		t.Errorf("generation %d uid %s, want 2 and the same uid", d2.GetMetadata().Generation, d2.GetMetadata().UID)
	}
	if p, _ := pods.Get(ctx, "default", "solo"); p.Metadata.Labels["tier"] != "x" {
		t.Errorf("pod labels not patched: %v", p.Metadata.Labels)
	}

	// A reload from the store sees the same.
	again, err := NewObjects(ctx, st, pods, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d3, err := again.Get("Deployment", "default", "web"); err != nil || *d3.(*object.Deployment).Spec.Replicas != 3 {
		t.Errorf("reloaded: %+v %v", d3, err)
	}
}

// TestApplyAllOrNone: a refused change anywhere in the manifest changes nothing.
func TestApplyAllOrNone(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	pods := &apiPods{pods: map[string]*pod.Pod{}}
	objs, _ := NewObjects(ctx, st, pods, nil, nil)
	if _, err := objs.Apply(ctx, decodeObjects(t, appYAML)); err != nil {
		t.Fatal(err)
	}
	before, _ := st.ListObjects(ctx)

	tests := map[string]string{
		"selector changed": strings.Replace(strings.Replace(appYAML, "{matchLabels: {app: web}}", "{matchLabels: {app: web2}}", 1), "{labels: {app: web}}", "{labels: {app: web2}}", 1),
		"pod spec changed": strings.Replace(strings.Replace(appYAML, `data: {a: "1"}`, `data: {a: "2"}`, 1), "metadata: {name: solo}\nspec:\n  containers: [{name: app, image: busybox}]", "metadata: {name: solo}\nspec:\n  containers: [{name: app, image: busybox:2}]", 1),
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := objs.Apply(ctx, decodeObjects(t, doc))
			if err == nil {
				t.Fatal("applied")
			}
			after, _ := st.ListObjects(ctx)
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("store changed by a refused apply")
			}
			if c, _ := objs.Get("ConfigMap", "default", "cfg"); c.(*object.ConfigMap).Data["a"] != "1" {
				t.Errorf("config map changed")
			}
		})
	}

	// Pods that cannot be created undo the objects written before them.
	pods.fail = fmt.Errorf("no room: %w", errdefs.ErrResourceExhausted)
	doc := strings.Replace(appYAML, "name: solo", "name: solo2", 1)
	doc = strings.Replace(doc, "name: cfg", "name: cfg2", 1)
	if _, err := objs.Apply(ctx, decodeObjects(t, doc)); err == nil {
		t.Fatal("applied")
	}
	after, _ := st.ListObjects(ctx)
	if _, ok := after["ConfigMap/default/cfg2"]; ok {
		t.Errorf("cfg2 left in the store after its pods failed")
	}
	if _, err := objs.Get("ConfigMap", "default", "cfg2"); !errdefs.IsNotFound(err) {
		t.Errorf("cfg2 visible: %v", err)
	}
}

func TestDeleteFollowsOwners(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	objs, _ := NewObjects(ctx, st, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	if _, err := objs.Apply(ctx, decodeObjects(t, appYAML)); err != nil {
		t.Fatal(err)
	}
	d, _ := objs.Get("Deployment", "default", "web")
	rs := &object.ReplicaSet{APIVersion: "apps/v1", Kind: "ReplicaSet", Metadata: pod.ObjectMeta{Namespace: "default", Name: "web-abc",
		OwnerReferences: []pod.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: d.GetMetadata().UID}}}}
	if err := objs.Put(ctx, rs); err != nil {
		t.Fatal(err)
	}
	changed := objs.Changed()
	if err := objs.Delete(ctx, "Deployment", "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("Changed not closed by a delete")
	}
	if got := objs.List("ReplicaSet", ""); len(got) != 0 {
		t.Errorf("owned replica set left: %v", got)
	}
	if err := objs.Delete(ctx, "Deployment", "default", "web", nil); !errdefs.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
}
