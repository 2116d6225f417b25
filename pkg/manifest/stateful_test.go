package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/object"
)

// TestWorkloadExamplesDecode: the example manifests in specs/examples/workloads decode and validate.
func TestWorkloadExamplesDecode(t *testing.T) {
	paths, err := filepath.Glob("../../specs/examples/workloads/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeObjects(data); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

const claimPod = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  subdomain: db
  containers:
  - name: app
    image: busybox
    volumeMounts: [{name: d, mountPath: /data}]
  volumes:
  - name: d
    persistentVolumeClaim: {claimName: data, readOnly: true}
`

// TestStatefulFields: a pod's persistentVolumeClaim volume and subdomain are read; finalizers,
// which podd sets, and a claim without a name are refused with their field.
func TestStatefulFields(t *testing.T) {
	pods, err := Decode([]byte(claimPod))
	if err != nil {
		t.Fatal(err)
	}
	v := pods[0].Spec.Volumes[0].PersistentVolumeClaim
	if v == nil || v.ClaimName != "data" || !v.ReadOnly || pods[0].Spec.Subdomain != "db" {
		t.Errorf("decoded %+v, subdomain %q", pods[0].Spec.Volumes[0], pods[0].Spec.Subdomain)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"no claim name", "claimName: data, ", "", "spec.volumes[0].persistentVolumeClaim.claimName: Required value"},
		{"two sources", "persistentVolumeClaim: {", "emptyDir: {}\n    persistentVolumeClaim: {", "spec.volumes[0].persistentVolumeClaim: Forbidden: may not specify more than 1 volume type"},
		{"finalizers", "metadata: {name: web}", "metadata: {name: web, finalizers: [x]}", "metadata.finalizers: Forbidden"},
		{"bad subdomain", "subdomain: db", "subdomain: DB", "spec.subdomain: Invalid value"},
	} {
		_, err := Decode([]byte(strings.Replace(claimPod, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestStatefulSetMountsClaimTemplates: a StatefulSet's containers may mount its
// volumeClaimTemplates; a mount that names neither a volume nor a claim template is refused.
func TestStatefulSetMountsClaimTemplates(t *testing.T) {
	data, err := os.ReadFile("../../specs/examples/workloads/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeObjects(data)
	if err != nil {
		t.Fatal(err)
	}
	set := objs[0].(*object.StatefulSet)
	if len(set.Spec.Template.Spec.Volumes) != 0 {
		t.Errorf("validation changed the template's volumes: %+v", set.Spec.Template.Spec.Volumes)
	}
	if c := set.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; c == nil || *c != object.LocalStorageClass {
		t.Errorf("claim template's storage class: %v, want %s", c, object.LocalStorageClass)
	}
	bad := strings.Replace(string(data), "- {name: data, mountPath: /data}", "- {name: other, mountPath: /data}", 1)
	if _, err := DecodeObjects([]byte(bad)); err == nil || !strings.Contains(err.Error(), `volumeMounts[0].name: Not found: "other"`) {
		t.Errorf("a mount of an unknown volume: %v", err)
	}
}
