package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// lcVolumeFile reads a file of an emptyDir volume from the host.
func lcVolumeFile(t *testing.T, p *Podd, uid, volume, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.Root, "pods", uid, "volumes", volume, file))
	if err != nil {
		t.Fatalf("read %s of volume %s: %v", file, volume, err)
	}
	return string(data)
}

// The lifecycle contract in one pod: init containers, then the sidecar (once its startup probe
// passed), then the main container; on stop, the main container's preStop hook, its exit, and
// only then the sidecar's stop. Each step appends to a file in a shared emptyDir.
func TestLifecycleOrderInitSidecarMainStop(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 10
  volumes: [{name: rec, emptyDir: {}}]
  initContainers:
  - name: init1
    image: %[2]s
    command: [sh, -c, "echo init1 >> /rec/order"]
    volumeMounts: [{name: rec, mountPath: /rec}]
  - name: init2
    image: %[2]s
    command: [sh, -c, "echo init2 >> /rec/order"]
    volumeMounts: [{name: rec, mountPath: /rec}]
  - name: sidecar
    image: %[2]s
    restartPolicy: Always
    command: [sh, -c, "echo sidecar-start >> /rec/order; trap 'echo sidecar-stop >> /rec/order; exit 0' TERM; while true; do sleep 0.1; done"]
    startupProbe: {exec: {command: [grep, -q, sidecar-start, /rec/order]}, periodSeconds: 1}
    volumeMounts: [{name: rec, mountPath: /rec}]
  containers:
  - name: main
    image: %[2]s
    command: [sh, -c, "echo main-start >> /rec/order; trap 'echo main-stop >> /rec/order; exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      preStop: {exec: {command: [sh, -c, "echo prestop >> /rec/order"]}}
    volumeMounts: [{name: rec, mountPath: /rec}]
`, name, busyboxImage)
	p.RunManifest(t, manifest)
	got := waitPod(t, p, name, "main running", func(q *pod.Pod) bool {
		return len(q.Status.ContainerStatuses) == 1 && q.Status.ContainerStatuses[0].State.Running != nil
	})
	uid := got.Metadata.UID
	if res := p.Podctl(t, "get", name); !strings.Contains(res.Stdout, "2/2") || !strings.Contains(res.Stdout, "Running") {
		t.Errorf("get shows %q, want READY 2/2 (main + sidecar) Running", res.Stdout)
	}
	if res := p.Podctl(t, "stop", name); res.ExitCode != 0 {
		t.Fatalf("stop: %s", res)
	}
	order := strings.Fields(lcVolumeFile(t, p, uid, "rec", "order"))
	want := []string{"init1", "init2", "sidecar-start", "main-start", "prestop", "main-stop", "sidecar-stop"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Fatalf("order = %v, want %v", order, want)
	}
	stopped := getPod(t, p, name)
	if s := stopped.Status.InitContainerStatuses[2].State.Terminated; s == nil || s.ExitCode != 0 {
		t.Errorf("sidecar state after stop = %+v, want terminated by its trap (exit 0)", stopped.Status.InitContainerStatuses[2].State)
	}
}

// A failed init container under restartPolicy Never fails the pod; its main containers never start.
func TestLifecycleFailedInitFailsPod(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: init, image: %[2]s, command: [sh, -c, "exit 4"]}
  containers:
  - {name: main, image: %[2]s, command: [sleep, "100"]}
`, name, busyboxImage)
	runDetached(t, p, manifest)
	got := waitPod(t, p, name, "Failed", func(q *pod.Pod) bool { return q.Status.Phase == pod.PodFailed })
	if s := got.Status.ContainerStatuses[0]; s.State.Running != nil || s.State.Terminated != nil {
		t.Fatalf("main container ran after a failed init container: %+v", s.State)
	}
	if res := p.Podctl(t, "get", name); !strings.Contains(res.Stdout, "Init:Error") {
		t.Errorf("get shows %q, want STATUS Init:Error", res.Stdout)
	}
}

// Restarts follow the configured backoff curve (base 1s, max 2s here: 1s, 2s, 2s); the previous
// instance's log stays readable; events record the back-off.
func TestLifecycleRestartBackoffCurve(t *testing.T) {
	p := startPoddWith(t, "--restart-backoff-base", "1s", "--restart-backoff-max", "2s")
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: rec, emptyDir: {}}]
  containers:
  - name: crash
    image: %[2]s
    command: [sh, -c, "cut -d' ' -f1 /proc/uptime >> /rec/starts; n=$(wc -l < /rec/starts); echo instance $n; exit 1"]
    volumeMounts: [{name: rec, mountPath: /rec}]
`, name, busyboxImage)
	runDetached(t, p, manifest)
	// restartCount counts a restart when it begins: at 5, five instances have run to their exit.
	got := waitPod(t, p, name, "5 restarts", func(q *pod.Pod) bool {
		return q.Status.ContainerStatuses[0].RestartCount >= 5
	})
	var starts []float64
	for _, f := range strings.Fields(lcVolumeFile(t, p, got.Metadata.UID, "rec", "starts")) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, v)
	}
	if len(starts) < 5 {
		t.Fatalf("%d starts recorded, want 5", len(starts))
	}
	want := []float64{1, 2, 2, 2}
	var gaps []string
	for i, w := range want {
		gap := starts[i+1] - starts[i]
		gaps = append(gaps, fmt.Sprintf("%.2fs", gap))
		// Never sooner than the backoff; later only by the time a start takes (generous bound).
		if gap < w || gap > w+2.5 {
			t.Errorf("restart %d came %.2fs after the previous start, want %.0fs + start time", i+1, gap, w)
		}
	}
	t.Logf("intervals between starts: %s (backoff 1s, 2s, 2s, 2s)", strings.Join(gaps, " "))
	s := waitPod(t, p, name, "CrashLoopBackOff", func(q *pod.Pod) bool {
		w := q.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == pod.ReasonCrashLoopBackOff
	}).Status.ContainerStatuses[0]
	if s.LastState.Terminated == nil || s.LastState.Terminated.ExitCode != 1 {
		t.Errorf("lastState = %+v, want the previous termination with exit code 1", s.LastState)
	}
	prev := p.Podctl(t, "logs", name, "--previous")
	if prev.ExitCode != 0 || !strings.Contains(prev.Stdout, "instance ") {
		t.Errorf("logs --previous: %s", prev)
	}
	if res := p.Podctl(t, "get", name); !strings.Contains(res.Stdout, "CrashLoopBackOff") {
		t.Errorf("get shows %q, want STATUS CrashLoopBackOff", res.Stdout)
	}
	ev := p.Podctl(t, "events", name)
	if !strings.Contains(ev.Stdout, "BackOff") || !strings.Contains(ev.Stdout, "Started") {
		t.Errorf("events lack BackOff/Started: %s", ev)
	}
}

// A failing liveness probe restarts the container, using the probe's own grace period; the
// events say why.
func TestLifecycleLivenessRestarts(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 60
  containers:
  - name: app
    image: %[2]s
    command: [sh, -c, "touch /tmp/alive; sleep 2; rm /tmp/alive; exec sleep 1000"]
    livenessProbe:
      exec: {command: [test, -f, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 1
      terminationGracePeriodSeconds: 1
`, name, busyboxImage)
	p.RunManifest(t, manifest)
	start := time.Now()
	got := waitPod(t, p, name, "a restart", func(q *pod.Pod) bool { return q.Status.ContainerStatuses[0].RestartCount >= 1 })
	// sleep as PID 1 ignores SIGTERM: only the probe's 1s grace (not the pod's 60s) explains this.
	if time.Since(start) >= 60*time.Second {
		t.Errorf("restart took %v: the probe's terminationGracePeriodSeconds (1s) was not used, the pod's 60s was", time.Since(start))
	}
	if l := got.Status.ContainerStatuses[0].LastState.Terminated; l == nil || l.ExitCode != 137 {
		t.Errorf("lastState = %+v, want terminated by SIGKILL (137)", got.Status.ContainerStatuses[0].LastState)
	}
	ev := p.Podctl(t, "events", name).Stdout
	for _, want := range []string{"Liveness probe failed", "failed liveness probe, will be restarted"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}
}

// Readiness drives READY and the Ready condition: an httpGet probe into the pod's network
// namespace, toggled by creating and removing the page it asks for.
func TestLifecycleReadinessTogglesReady(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %[2]s
    command: [httpd, -f, -p, "127.0.0.1:8080", -h, /var/www]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /ready.html, port: http}
      periodSeconds: 1
      failureThreshold: 1
`, name, busyboxImage)
	p.RunManifest(t, manifest)
	ready := func(want bool) {
		t.Helper()
		cond := "False"
		if want {
			cond = "True"
		}
		waitPod(t, p, name, "Ready="+cond, func(q *pod.Pod) bool {
			for _, c := range q.Status.Conditions {
				if c.Type == "Ready" {
					return c.Status == cond && q.Status.ContainerStatuses[0].Ready == want
				}
			}
			return false
		})
		if res := p.Podctl(t, "get", name); want != strings.Contains(res.Stdout, "1/1") {
			t.Errorf("get shows %q with Ready=%v", res.Stdout, want)
		}
	}
	ready(false)
	p.Podctl(t, "exec", name, "--", "sh", "-c", "echo ok > /var/www/ready.html")
	ready(true)
	p.Podctl(t, "exec", name, "--", "rm", "/var/www/ready.html")
	ready(false)
	if ev := p.Podctl(t, "events", name).Stdout; !strings.Contains(ev, "Readiness probe failed") {
		t.Errorf("events lack the readiness failure:\n%s", ev)
	}
}

// An exec probe that outlives its timeout is killed with its children: none piles up.
func TestLifecycleExecProbeTimeoutLeavesNoProcess(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %[2]s
    command: [sleep, "1000"]
    readinessProbe:
      exec: {command: [sh, -c, "sleep 77; true"]}
      periodSeconds: 1
      timeoutSeconds: 1
`, name, busyboxImage)
	p.RunManifest(t, manifest)
	time.Sleep(5 * time.Second)
	res := p.Podctl(t, "exec", name, "--", "ps", "-o", "args")
	if n := strings.Count(res.Stdout, "sleep 77"); n > 2 {
		t.Fatalf("%d probe processes left running after 5 timed-out probes:\n%s", n, res.Stdout)
	}
	if ev := p.Podctl(t, "events", name).Stdout; !strings.Contains(ev, "timed out") {
		t.Errorf("events lack the probe timeout:\n%s", ev)
	}
}

// A preStop hook that overruns the grace period is killed, not waited for: stop takes the grace.
func TestLifecyclePreStopOverrunIsKilled(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      preStop: {exec: {command: [sleep, "30"]}}
`, name, busyboxImage)
	p.RunManifest(t, manifest)
	start := time.Now()
	if res := p.Podctl(t, "stop", name); res.ExitCode != 0 {
		t.Fatalf("stop: %s", res)
	}
	took := time.Since(start)
	t.Logf("stop with a 30s preStop and a 2s grace took %v", took)
	if took < 2*time.Second || took >= 30*time.Second {
		t.Fatalf("stop took %v, want the 2s grace: at least that, and less than the 30s the preStop asks for", took)
	}
}

// A failing postStart hook kills the container: reason PostStartHookError.
func TestLifecyclePostStartFailure(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %[2]s
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      postStart: {exec: {command: [sh, -c, "exit 3"]}}
`, name, busyboxImage)
	runDetached(t, p, manifest)
	got := waitPod(t, p, name, "terminated", func(q *pod.Pod) bool {
		return q.Status.ContainerStatuses[0].State.Terminated != nil
	})
	if r := got.Status.ContainerStatuses[0].State.Terminated.Reason; r != pod.ReasonPostStartHookError {
		t.Fatalf("reason = %q, want PostStartHookError", r)
	}
	if ev := p.Podctl(t, "events", name).Stdout; !strings.Contains(ev, "FailedPostStartHook") {
		t.Errorf("events lack FailedPostStartHook:\n%s", ev)
	}
}

// exec -it gives the command a terminal of the caller's size.
func TestLifecycleExecTTY(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	p.RunManifest(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: %[2]s, command: [sleep, "1000"]}
`, name, busyboxImage))
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("script (util-linux) is needed to give podctl a terminal: %v", err)
	}
	_, podctlBin := poddBinaries(t)
	inner := fmt.Sprintf("stty rows 33 cols 101; %s --socket %s exec -it %s -- sh -c 'tty; stty size; exit 5'", podctlBin, p.Socket, name)
	out, err := exec.Command("script", "-qec", inner, "/dev/null").CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "33 101") || code != 5 {
		t.Fatalf("exec -it: exit %d, output %q; want a /dev/pts terminal of 33x101 and exit 5", code, s)
	}
}
