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

// TestShareProcessNamespace runs specs/examples/pods/share-process-namespace.yaml (Kubernetes'
// pods/share-process-namespace.yaml with busybox): the shell container sees the other
// container's processes, under podd's PID 1, and can signal them; the other container, restarted,
// joins the same namespace again. A container with stdin and tty keeps its stdin open (cat does
// not end), and one with tty: true has a terminal whose output reaches its log.
func TestShareProcessNamespace(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	const name = "nginx"
	mustRun(t, p, podExample(t, "share-process-namespace.yaml"))
	if cmd := execIn(t, p, name, "shell", "cat", "/proc/1/cmdline"); !strings.Contains(cmd, "pod-pid-init") {
		t.Errorf("PID 1 of the pod's namespace runs %q, want podd's pod-pid-init", cmd)
	}
	ps := execIn(t, p, name, "shell", "ps", "ax")
	t.Logf("ps ax in shell:\n%s", ps)
	if !strings.Contains(ps, "httpd -f -p 8080") || !strings.Contains(ps, "sleep 3600") {
		t.Errorf("shell does not see both containers' processes:\n%s", ps)
	}
	if same := execIn(t, p, name, "nginx", "sh", "-c", "pidof sleep"); same == "" {
		t.Errorf("nginx does not see shell's sleep")
	}
	// shell's sleep has a terminal, and its stdin too.
	if fd := execIn(t, p, name, "shell", "sh", "-c", "readlink /proc/$(pidof sleep)/fd/0; readlink /proc/$(pidof sleep)/fd/1"); !strings.HasPrefix(fd, "/dev/pts/") {
		t.Errorf("sleep's stdin and stdout: %q, want a terminal", fd)
	}

	// A signal from one container ends the other's process: httpd is not PID 1 here, so SIGTERM
	// without a handler ends it, and its container restarts into the same namespace.
	before := execIn(t, p, name, "shell", "pidof", "httpd")
	execIn(t, p, name, "shell", "kill", before)
	waitPod(t, p, name, "nginx restarted", func(got *pod.Pod) bool {
		s := got.Status.ContainerStatuses[0]
		return s.RestartCount >= 1 && s.State.Running != nil
	})
	got := getPod(t, p, name)
	if term := got.Status.ContainerStatuses[0].LastState.Terminated; term == nil || term.ExitCode != 143 {
		t.Errorf("nginx's last termination: %+v, want exit code 143 (SIGTERM from shell)", term)
	}
	waitFor(t, "the new httpd in shell's view", func() bool {
		after := p.Podctl(t, "exec", name, "-c", "shell", "--", "pidof", "httpd")
		return after.ExitCode == 0 && strings.TrimSpace(after.Stdout) != "" && strings.TrimSpace(after.Stdout) != before
	})

	stdio := uniqueName(t, "stdio")
	mustRun(t, p, `apiVersion: v1
kind: Pod
metadata: {name: `+stdio+`}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: cat
    image: `+busyboxImage+`
    command: [cat]
    stdin: true
    stdinOnce: true
    tty: true
  - name: term
    image: `+busyboxImage+`
    command: [sh, -c, "if [ -t 1 ]; then echo on a terminal; else echo not a terminal; fi; exec sleep 3600"]
    tty: true
`)
	waitFor(t, "term's line in its log", func() bool {
		return strings.Contains(p.Podctl(t, "logs", stdio, "-c", "term").Stdout, "on a terminal")
	})
	// cat reads its stdin until an end of file that never comes: still the first instance.
	if pidof := execIn(t, p, stdio, "term", "pidof", "cat"); pidof == "" {
		t.Errorf("cat is not running")
	}
	if got := getPod(t, p, stdio); got.Status.ContainerStatuses[0].RestartCount != 0 || got.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("cat with stdin: %+v, want running, never restarted", got.Status.ContainerStatuses[0])
	}
}
