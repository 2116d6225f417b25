package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

func i32(v int32) *int32 { return &v }

// selfScaleFixture applies a Deployment (annotated with policy unless empty) and makes its
// ReplicaSet and a pod of it, as the controllers would.
func selfScaleFixture(t *testing.T, policy string) (*SelfScale, *Objects, *pod.Pod, *time.Time) {
	t.Helper()
	ctx := context.Background()
	objs, _ := NewObjects(ctx, &memStore{}, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	ann := ""
	if policy != "" {
		ann = "\n  annotations: {podd.io/self-scale: \"" + policy + "\"}"
	}
	doc := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web` + ann + `
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: busybox}]
`
	if _, err := objs.Apply(ctx, decodeObjects(t, doc)); err != nil {
		t.Fatal(err)
	}
	d, _ := objs.Get("Deployment", "default", "web")
	rs := &object.ReplicaSet{APIVersion: "apps/v1", Kind: "ReplicaSet", Metadata: pod.ObjectMeta{Namespace: "default", Name: "web-abc",
		OwnerReferences: []pod.OwnerReference{ControllerRef(d)}}, Spec: object.ReplicaSetSpec{Replicas: i32(2),
		Selector: &pod.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: d.(*object.Deployment).Spec.Template}}
	if err := objs.Put(ctx, rs); err != nil {
		t.Fatal(err)
	}
	rsObj, _ := objs.Get("ReplicaSet", "default", "web-abc")
	asker := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: "default", Name: "web-abc-xyz12", OwnerReferences: []pod.OwnerReference{ControllerRef(rsObj)}}}
	now := time.Unix(1_000_000, 0)
	s := &SelfScale{Objects: objs, Now: func() time.Time { return now }}
	return s, objs, asker, &now
}

func replicasNow(t *testing.T, objs *Objects) int32 {
	d, err := objs.Get("Deployment", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	return *d.(*object.Deployment).Spec.Replicas
}

func TestSelfScale(t *testing.T) {
	ctx := context.Background()
	t.Run("not opted in", func(t *testing.T) {
		s, objs, asker, _ := selfScaleFixture(t, "")
		d, err := s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Delta: i32(1)})
		if err != nil || d.Outcome != ScaleRefused || !strings.Contains(d.Message, "does not let its pods scale it") || replicasNow(t, objs) != 2 {
			t.Errorf("%+v %v, replicas %d", d, err, replicasNow(t, objs))
		}
	})
	t.Run("bad policy", func(t *testing.T) {
		s, _, asker, _ := selfScaleFixture(t, "min=3,max=2")
		d, _ := s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Delta: i32(1)})
		if d.Outcome != ScaleRefused || !strings.Contains(d.Message, "min 3 is above max 2") {
			t.Errorf("%+v", d)
		}
	})
	t.Run("granted, clamped, stabilised, idempotent", func(t *testing.T) {
		s, objs, asker, now := selfScaleFixture(t, "min=1,max=4,window=1m")
		d, _ := s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Delta: i32(1), Reason: "queue is long", IdempotencyKey: "k1"})
		if d.Outcome != ScaleGranted || d.From != 2 || d.To != 3 || replicasNow(t, objs) != 3 {
			t.Fatalf("+1: %+v, replicas %d", d, replicasNow(t, objs))
		}
		// The same key again: the same answer, counted once.
		d2, _ := s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Delta: i32(1), IdempotencyKey: "k1"})
		if d2 != d || replicasNow(t, objs) != 3 {
			t.Errorf("retry: %+v, replicas %d", d2, replicasNow(t, objs))
		}
		d, _ = s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Replicas: i32(20)})
		if d.Outcome != ScaleClamped || d.To != 4 || replicasNow(t, objs) != 4 {
			t.Errorf("20: %+v", d)
		}
		// Within the window a scale-down is held at the highest count asked for.
		*now = now.Add(30 * time.Second)
		d, _ = s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Replicas: i32(1)})
		if d.Outcome != ScaleClamped || d.To != 4 || !strings.Contains(d.Message, "stabilisation window") || replicasNow(t, objs) != 4 {
			t.Errorf("down within the window: %+v, replicas %d", d, replicasNow(t, objs))
		}
		*now = now.Add(2 * time.Minute)
		d, _ = s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Replicas: i32(0)})
		if d.Outcome != ScaleClamped || d.To != 1 || replicasNow(t, objs) != 1 {
			t.Errorf("down to 0 after the window: %+v, replicas %d", d, replicasNow(t, objs))
		}
	})
	t.Run("self goes first", func(t *testing.T) {
		s, objs, asker, _ := selfScaleFixture(t, "min=1,max=4,window=0s")
		d, err := s.Request(ctx, "default", asker.Metadata.Name, asker, ScaleRequest{Delta: i32(-1), Self: true})
		if err != nil {
			t.Fatal(err)
		}
		if d.Outcome != ScaleGranted || d.To != 1 {
			t.Fatalf("%+v", d)
		}
		rs, _ := objs.Get("ReplicaSet", "default", "web-abc")
		if got := rs.GetMetadata().Annotations[AnnotationScaleDownVictim]; got != asker.Metadata.Name {
			t.Errorf("victim %q, want %s", got, asker.Metadata.Name)
		}
		old := time.Unix(0, 0)
		pods := []*pod.Pod{
			{Metadata: pod.ObjectMeta{Name: "web-abc-new01", CreationTimestamp: &old}, Status: pod.PodStatus{Phase: pod.PodPending}},
			{Metadata: pod.ObjectMeta{Name: asker.Metadata.Name, CreationTimestamp: &old}, Status: pod.PodStatus{Phase: pod.PodRunning}},
		}
		if v := podsToDelete(pods, 1, time.Now(), rs.GetMetadata().Annotations[AnnotationScaleDownVictim]); v[0].Metadata.Name != asker.Metadata.Name {
			t.Errorf("scale-down removes %s, want the pod that asked", v[0].Metadata.Name)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		s, _, asker, _ := selfScaleFixture(t, "min=1,max=4")
		for _, req := range []ScaleRequest{{}, {Delta: i32(1), Replicas: i32(2)}, {Delta: i32(-2), Self: true}} {
			if _, err := s.Request(ctx, "default", asker.Metadata.Name, asker, req); err == nil {
				t.Errorf("%+v accepted", req)
			}
		}
	})
}
