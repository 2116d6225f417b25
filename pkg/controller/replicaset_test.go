package controller

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

func rsYAML(replicas int, minReady int) string {
	return strings.NewReplacer("REPLICAS", itoa(replicas), "MINREADY", itoa(minReady)).Replace(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: front}
spec:
  replicas: REPLICAS
  minReadySeconds: MINREADY
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec:
      containers: [{name: app, image: busybox}]
`)
}

func itoa(n int) string { return strconv.Itoa(n) }

var rsPodName = regexp.MustCompile(`^front-[bcdfghjklmnpqrstvwxz2456789]{5}$`)

// TestReplicaSetScale: pods are made and removed to match replicas, named and owned as
// Kubernetes names and owns them, and the status counts them.
func TestReplicaSetScale(t *testing.T) {
	for _, tc := range []struct{ from, to int }{{0, 3}, {3, 5}, {5, 2}, {2, 0}, {0, 0}} {
		t.Run(itoa(tc.from)+"->"+itoa(tc.to), func(t *testing.T) {
			e := newWorkloadEnv(t)
			e.apply(rsYAML(tc.from, 0))
			e.settle(nil)
			if got := len(e.podsOf("front")); got != tc.from {
				t.Fatalf("%d pods at first, want %d", got, tc.from)
			}
			e.readyAll("front")
			e.apply(rsYAML(tc.to, 0))
			e.settle(nil)
			pods := e.podsOf("front")
			if len(pods) != tc.to {
				t.Fatalf("%d pods, want %d", len(pods), tc.to)
			}
			rs := e.replicaSet("front")
			owners := e.pods.Owners()
			for _, p := range pods {
				if !rsPodName.MatchString(p.Metadata.Name) {
					t.Errorf("pod name %q is not front-<5 of Kubernetes' alphabet>", p.Metadata.Name)
				}
				refs := p.Metadata.OwnerReferences
				if len(refs) != 1 || refs[0].Kind != "ReplicaSet" || refs[0].Name != "front" || refs[0].UID != rs.Metadata.UID ||
					refs[0].APIVersion != "apps/v1" || refs[0].Controller == nil || !*refs[0].Controller {
					t.Errorf("pod %s ownerReferences %+v", p.Metadata.Name, refs)
				}
				if p.Metadata.Labels["app"] != "front" {
					t.Errorf("pod %s labels %v", p.Metadata.Name, p.Metadata.Labels)
				}
				if o := owners["default/"+p.Metadata.Name]; o.Kind != "ReplicaSet" || o.Name != "default/front" {
					t.Errorf("pod %s supervisor owner %+v", p.Metadata.Name, o)
				}
			}
			if rs.Status.Replicas != int32(tc.to) || rs.Status.ObservedGeneration != rs.Metadata.Generation {
				t.Errorf("status %+v, generation %d", rs.Status, rs.Metadata.Generation)
			}
		})
	}
}

// TestReplicaSetScaleDownOrder: a scale-down removes pods as Kubernetes ranks them — not ready
// before ready, ready for less time before longer.
func TestReplicaSetScaleDownOrder(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(rsYAML(5, 0))
	e.settle(nil)
	pods := e.podsOf("front")
	// pods[0] ready first, pods[1] a minute later, pods[2] two minutes later; 3 and 4 never.
	for i := 0; i < 3; i++ {
		e.makeReady(pods[i])
		e.clock.Add(time.Minute)
	}
	e.settle(nil)
	if rs := e.replicaSet("front"); rs.Status.ReadyReplicas != 3 || rs.Status.AvailableReplicas != 3 {
		t.Fatalf("status %+v, want 3 ready and available", rs.Status)
	}
	e.apply(rsYAML(2, 0))
	e.settle(nil)
	left := e.podsOf("front")
	if len(left) != 2 {
		t.Fatalf("%d pods left, want 2", len(left))
	}
	want := map[string]bool{pods[0].Metadata.Name: true, pods[1].Metadata.Name: true}
	for _, p := range left {
		if !want[p.Metadata.Name] {
			t.Errorf("pod %s kept; want the two ready longest: %v", p.Metadata.Name, want)
		}
	}
}

// TestReplicaSetMinReadySeconds: a Ready pod is available only after minReadySeconds, and the
// controller asks to look again then.
func TestReplicaSetMinReadySeconds(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(rsYAML(1, 10))
	e.settle(nil)
	e.readyAll("front")
	after, err := e.rs.Sync(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := e.replicaSet("front")
	if rs.Status.ReadyReplicas != 1 || rs.Status.AvailableReplicas != 0 {
		t.Errorf("status %+v, want ready 1, available 0", rs.Status)
	}
	if after <= 0 || after > 10*time.Second {
		t.Errorf("requeue after %v, want within minReadySeconds (10s)", after)
	}
	e.clock.Add(10 * time.Second)
	if _, err := e.rs.Sync(e.ctx); err != nil {
		t.Fatal(err)
	}
	if rs := e.replicaSet("front"); rs.Status.AvailableReplicas != 1 {
		t.Errorf("status %+v after minReadySeconds, want available 1", rs.Status)
	}
}

// TestReplicaSetReplacesFailedPod: a pod that failed for good (evicted) is removed and replaced.
func TestReplicaSetReplacesFailedPod(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(rsYAML(2, 0))
	e.settle(nil)
	pods := e.podsOf("front")
	e.pods.setStatus("default", pods[0].Metadata.Name, func(st *pod.PodStatus) { st.Phase = pod.PodFailed })
	e.settle(nil)
	now := e.podsOf("front")
	if len(now) != 2 {
		t.Fatalf("%d pods, want 2", len(now))
	}
	for _, p := range now {
		if p.Metadata.Name == pods[0].Metadata.Name {
			t.Errorf("the failed pod %s is still there", p.Metadata.Name)
		}
	}
}

// TestReplicaSetRestartKeepsCount: a new controller (a restarted podd) over the same pods and
// stored objects neither adds nor removes a pod.
func TestReplicaSetRestartKeepsCount(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(rsYAML(3, 0))
	e.settle(nil)
	before := e.podsOf("front")
	objs, err := NewObjects(e.ctx, e.store, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.objs = objs
	e.rs = &ReplicaSets{Objects: objs, Pods: e.pods, Now: e.clock.Now}
	e.d = &Deployments{Objects: objs, Pods: e.pods, Now: e.clock.Now}
	e.settle(nil)
	after := e.podsOf("front")
	if len(after) != 3 {
		t.Fatalf("%d pods after the restart, want 3", len(after))
	}
	for i := range after {
		if after[i].Metadata.Name != before[i].Metadata.Name {
			t.Errorf("pod %s replaced by %s", before[i].Metadata.Name, after[i].Metadata.Name)
		}
	}
}

// TestObjectsUpdate: Update keeps identity, makes a new generation only for a spec change, and
// refuses (changing nothing) what validation refuses, naming the field.
func TestObjectsUpdate(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(rsYAML(1, 0))
	rs := e.replicaSet("front")
	out, err := e.objs.Update(e.ctx, "ReplicaSet", "default", "front", func(o object.Object) error {
		o.(*object.ReplicaSet).Status.Replicas = 7
		return nil
	})
	if err != nil || out.GetMetadata().Generation != 1 || out.GetMetadata().UID != rs.Metadata.UID {
		t.Fatalf("status update: %v, %+v", err, out)
	}
	out, err = e.objs.Update(e.ctx, "ReplicaSet", "default", "front", func(o object.Object) error {
		n := int32(4)
		o.(*object.ReplicaSet).Spec.Replicas = &n
		return nil
	})
	if err != nil || out.GetMetadata().Generation != 2 || out.(*object.ReplicaSet).Status.Replicas != 7 {
		t.Fatalf("spec update: %v, %+v", err, out)
	}
	_, err = e.objs.Update(e.ctx, "ReplicaSet", "default", "front", func(o object.Object) error {
		n := int32(-1)
		o.(*object.ReplicaSet).Spec.Replicas = &n
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "spec.replicas") {
		t.Fatalf("negative replicas: %v, want an error naming spec.replicas", err)
	}
	if got := *e.replicaSet("front").Spec.Replicas; got != 4 {
		t.Errorf("a refused update changed replicas to %d", got)
	}
	if _, err := e.objs.Update(e.ctx, "ReplicaSet", "default", "nope", func(object.Object) error { return nil }); err == nil {
		t.Error("update of a missing object: no error")
	}
}
