package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// podExample reads one of specs/examples/pods with the test's busybox image.
func podExample(t *testing.T, file string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "specs", "examples", "pods", file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "localhost/podd/busybox:1.35", busyboxImage)
}

// TestServiceAccountName runs specs/examples/pods/service-account.yaml: the pod's
// serviceAccountName reaches the container through env's fieldRef spec.serviceAccountName, a pod
// without one is "default" (its deprecated alias serviceAccount too), and no token is mounted.
func TestServiceAccountName(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	const name = "service-account"
	mustRun(t, p, podExample(t, "service-account.yaml"))
	got := getPod(t, p, name)
	if got.Spec.ServiceAccountName != "build-bot" || got.Spec.DeprecatedServiceAccount != "build-bot" {
		t.Errorf("serviceAccountName %q, serviceAccount %q; want build-bot for both", got.Spec.ServiceAccountName, got.Spec.DeprecatedServiceAccount)
	}
	if sa := execIn(t, p, name, "app", "sh", "-c", "echo $SERVICE_ACCOUNT"); sa != "build-bot" {
		t.Errorf("$SERVICE_ACCOUNT = %q, want build-bot", sa)
	}
	if res := p.Podctl(t, "exec", name, "--", "ls", "/var/run/secrets/kubernetes.io/serviceaccount"); res.ExitCode == 0 {
		t.Errorf("a service account token folder exists: %s", res)
	}

	plain := uniqueName(t, "default")
	mustRun(t, p, `apiVersion: v1
kind: Pod
metadata: {name: `+plain+`}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: `+busyboxImage+`
    env:
    - name: SA
      valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
`)
	waitPod(t, p, plain, "Running", func(got *pod.Pod) bool { return got.Status.Phase == pod.PodRunning })
	if sa := execIn(t, p, plain, "app", "sh", "-c", "echo $SA"); sa != "default" {
		t.Errorf("$SA of a pod without serviceAccountName = %q, want default", sa)
	}
}
