package ctl

import (
	"bytes"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// TestDescribeStatefulSetAndClaim: describe sts and pvc print kubectl's fields.
func TestDescribeStatefulSetAndClaim(t *testing.T) {
	objs, err := manifest.DecodeObjects([]byte(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: busybox, volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data-web-0, uid: x}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	set := objs[0].(*object.StatefulSet)
	set.Metadata.UID = "u1"
	set.Status.Replicas = 2
	yes := true
	p := &pod.Pod{Metadata: pod.ObjectMeta{Name: "web-0", OwnerReferences: []pod.OwnerReference{{Kind: "StatefulSet", UID: "u1", Controller: &yes}}},
		Spec:   pod.PodSpec{Volumes: []pod.Volume{{Name: "data", PersistentVolumeClaim: &pod.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}},
		Status: pod.PodStatus{Phase: pod.PodRunning}}
	var b bytes.Buffer
	if err := describeStatefulSet(&b, set, []*pod.Pod{p}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Name:", "web", "Replicas:", "2 desired | 2 total", "Update Strategy:", "RollingUpdate", "Partition:", "1 Running / 0 Waiting", "Volume Claims:", "local-path", "Capacity:", "1Gi", "[ReadWriteOnce]", "/data from data"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe sts: no %q in\n%s", want, b.String())
		}
	}
	claim := objs[1].(*object.PersistentVolumeClaim)
	claim.Metadata.UID = "c1"
	object.AddFinalizer(&claim.Metadata, object.PVCProtectionFinalizer)
	claim.Status = object.PersistentVolumeClaimStatus{Phase: "Bound", AccessModes: []string{"ReadWriteOnce"}, Capacity: claim.Spec.Resources.Requests}
	b.Reset()
	if err := describeClaim(&b, claim, []*pod.Pod{p}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"StorageClass:", "local-path", "Status:", "Bound", "Volume:", "pvc-c1", "Finalizers:", "[kubernetes.io/pvc-protection]", "Access Modes:", "RWO", "Used By:", "web-0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe pvc: no %q in\n%s", want, b.String())
		}
	}
}
