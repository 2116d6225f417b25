package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// ApplyManifest writes yaml to a file and runs `podctl apply -f` with it; it fails the test unless
// podctl succeeds. Cleanup deletes what the manifest names with `podctl delete -f`.
func (p *Podd) ApplyManifest(t testing.TB, manifest string) Result {
	t.Helper()
	path := writeManifest(t, manifest)
	t.Cleanup(func() {
		if res := p.Podctl(t, "delete", "--ignore-not-found", "-f", path); res.ExitCode != 0 {
			t.Logf("clean up: podctl delete -f: %s", res)
		}
	})
	res := p.Podctl(t, "apply", "-f", path)
	if res.ExitCode != 0 {
		t.Fatalf("podctl apply -f %s:\n%s\nmanifest:\n%s", path, res, manifest)
	}
	return res
}

// TestApplyGetDelete: podctl apply creates objects of several kinds and a pod from one file,
// applying it again changes nothing, get lists each kind with kubectl's columns, a refused
// document creates nothing, and delete -f removes everything.
func TestApplyGetDelete(t *testing.T) {
	p := sharedPodd(t)
	manifest := `apiVersion: v1
kind: ConfigMap
metadata: {name: apply-cfg, labels: {app: apply}}
data: {greeting: hello}
---
apiVersion: v1
kind: Service
metadata: {name: apply-svc}
spec:
  selector: {app: apply}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: apply-pod, labels: {app: apply}}
spec:
  containers:
  - name: app
    image: ` + busyboxImage + `
    command: [sleep, "3600"]
`
	res := p.ApplyManifest(t, manifest)
	for _, want := range []string{"configmap/apply-cfg created", "service/apply-svc created", "pod/apply-pod created"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("apply: want %q in\n%s", want, res)
		}
	}
	path := writeManifest(t, manifest)
	res = p.Podctl(t, "apply", "-f", path)
	if res.ExitCode != 0 || strings.Count(res.Stdout, "unchanged") != 3 {
		t.Errorf("second apply: want 3 unchanged:\n%s", res)
	}

	res = p.Podctl(t, "get", "cm,svc")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "configmap/apply-cfg") || !strings.Contains(res.Stdout, "service/apply-svc") ||
		!strings.Contains(res.Stdout, "8080/TCP") {
		t.Errorf("get cm,svc:\n%s", res)
	}
	res = p.Podctl(t, "get", "configmap", "apply-cfg", "-o", "json")
	var cm struct {
		Metadata struct{ UID string }
		Data     map[string]string
	}
	if err := json.Unmarshal([]byte(res.Stdout), &cm); err != nil || cm.Data["greeting"] != "hello" || cm.Metadata.UID == "" {
		t.Errorf("get configmap -o json: %v\n%s", err, res)
	}
	// One empty kind says so, as kubectl does.
	if res := p.Podctl(t, "-n", "apply-empty", "get", "cm"); res.ExitCode != 0 || res.Stderr != "No resources found in apply-empty namespace.\n" {
		t.Errorf("get cm in an empty namespace:\n%s", res)
	}
	res = p.Podctl(t, "get", "po", "-l", "app=apply")
	if !strings.Contains(res.Stdout, "apply-pod") {
		t.Errorf("get po -l app=apply:\n%s", res)
	}

	// A refused document refuses the file: the good ConfigMap beside it is not created.
	bad := writeManifest(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: apply-good}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: apply-bad}
spec:
  ports: [{port: 80, targetPort: 8080}]
`)
	res = p.Podctl(t, "apply", "-f", bad)
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "spec.ports[0].targetPort") {
		t.Errorf("apply of a bad Service: want a refusal naming spec.ports[0].targetPort:\n%s", res)
	}
	if res := p.Podctl(t, "get", "cm", "apply-good"); res.ExitCode == 0 {
		t.Errorf("the good ConfigMap of a refused file was created:\n%s", res)
	}

	res = p.Podctl(t, "delete", "-f", path)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, `pod "apply-pod" deleted`) {
		t.Errorf("delete -f:\n%s", res)
	}
	for _, args := range [][]string{{"get", "cm", "apply-cfg"}, {"get", "svc", "apply-svc"}, {"get", "po", "apply-pod"}} {
		if res := p.Podctl(t, args...); res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
			t.Errorf("podctl %s after delete:\n%s", strings.Join(args, " "), res)
		}
	}
}
