package supervisor

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

const sidecarPod = `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: init1, image: "busybox:1"}
  - {name: init2, image: "busybox:1"}
  - {name: side1, image: "busybox:1", restartPolicy: Always}
  - {name: side2, image: "busybox:1", restartPolicy: Always}
  containers:
  - {name: app, image: "busybox:1"}
  - {name: app2, image: "busybox:1"}
`

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestInitSidecarMainOrderAndStopOrder(t *testing.T) {
	rt := newFakeRuntime()
	m := startManager(t, rt, newMemStore())
	if _, err := create(context.Background(), m, []byte(sidecarPod)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "Init:0/4", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[0].State.Running != nil })
	if p, _ := m.Get(context.Background(), "default", "web"); p.Status.Phase != pod.PodPending {
		t.Fatalf("phase during init = %s, want Pending", p.Status.Phase)
	}
	rt.exitByName("init1", 0)
	waitFor(t, m, "web", "init2 running", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[1].State.Running != nil })
	rt.exitByName("init2", 0)
	p := waitFor(t, m, "web", "mains running", func(p *pod.Pod) bool {
		return p.Status.Phase == pod.PodRunning && p.Status.ContainerStatuses[0].State.Running != nil && p.Status.ContainerStatuses[1].State.Running != nil
	})
	if c := p.Status.Conditions[1]; c.Type != "Initialized" || c.Status != "True" {
		t.Fatalf("Initialized condition = %+v", c)
	}
	grace := 5 * time.Second
	if _, err := m.Stop(context.Background(), "default", "web", &grace); err != nil {
		t.Fatal(err)
	}
	h := rt.history()
	order := []string{"start:init1", "exit:init1:0", "start:init2", "exit:init2:0", "start:side1", "start:side2"}
	for i := 1; i < len(order); i++ {
		if indexOf(h, order[i-1]) > indexOf(h, order[i]) || indexOf(h, order[i]) < 0 {
			t.Fatalf("%s not before %s in %v", order[i-1], order[i], h)
		}
	}
	for _, main := range []string{"start:app", "start:app2"} {
		if indexOf(h, main) < indexOf(h, "start:side2") {
			t.Fatalf("%s before the sidecars in %v", main, h)
		}
	}
	// Stop: mains first, then sidecars in reverse order, each after the previous exited.
	last := []string{"exit:app:143", "exit:app2:143", "signal:side2:SIGTERM", "exit:side2:143", "signal:side1:SIGTERM", "exit:side1:143"}
	for _, mainExit := range last[:2] {
		if indexOf(h, mainExit) < 0 || indexOf(h, mainExit) > indexOf(h, "signal:side2:SIGTERM") {
			t.Fatalf("%s not before the sidecars' stop in %v", mainExit, h)
		}
	}
	for i := 3; i < len(last); i++ {
		if indexOf(h, last[i-1]) > indexOf(h, last[i]) || indexOf(h, last[i]) < 0 {
			t.Fatalf("%s not before %s in %v", last[i-1], last[i], h)
		}
	}
}

func TestFailedInitUnderNeverFailsPod(t *testing.T) {
	rt := newFakeRuntime()
	m := startManager(t, rt, newMemStore())
	if _, err := create(context.Background(), m, []byte(sidecarPod)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "init1 running", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[0].State.Running != nil })
	rt.exitByName("init1", 2)
	waitFor(t, m, "web", "Failed", phaseIs(pod.PodFailed))
	time.Sleep(50 * time.Millisecond)
	for _, e := range rt.history() {
		if e == "start:init2" || e == "start:app" {
			t.Fatalf("%s started after a failed init container: %v", e, rt.history())
		}
	}
}

func TestSidecarsDoNotKeepCompletedPodAlive(t *testing.T) {
	rt := newFakeRuntime()
	m := startManager(t, rt, newMemStore())
	if _, err := create(context.Background(), m, []byte(sidecarPod)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "init1 running", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[0].State.Running != nil })
	rt.exitByName("init1", 0)
	waitFor(t, m, "web", "init2 running", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[1].State.Running != nil })
	rt.exitByName("init2", 0)
	waitFor(t, m, "web", "mains running", func(p *pod.Pod) bool {
		return p.Status.ContainerStatuses[0].State.Running != nil && p.Status.ContainerStatuses[1].State.Running != nil
	})
	rt.exitByName("app", 0)
	rt.exitByName("app2", 0)
	p := waitFor(t, m, "web", "Succeeded with sidecars stopped", func(p *pod.Pod) bool {
		return p.Status.Phase == pod.PodSucceeded && p.Status.InitContainerStatuses[2].State.Terminated != nil && p.Status.InitContainerStatuses[3].State.Terminated != nil
	})
	if p.Status.Reason != "" {
		t.Fatalf("reason = %q: a completed pod is not a stopped one", p.Status.Reason)
	}
}

func TestRestartBackoffCurve(t *testing.T) {
	rt := newFakeRuntime()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: newMemStore(), LogRoot: t.TempDir(), BackoffBase: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	if _, err := create(context.Background(), m, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: a, image: busybox:1}\n")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 5; i++ {
		waitFor(t, m, "web", "running", func(p *pod.Pod) bool {
			return p.Status.ContainerStatuses[0].State.Running != nil && p.Status.ContainerStatuses[0].RestartCount == int32(i)
		})
		rt.exitByName("a", 1)
		p := waitFor(t, m, "web", "CrashLoopBackOff", func(p *pod.Pod) bool {
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == pod.ReasonCrashLoopBackOff
		})
		s := p.Status.ContainerStatuses[0]
		if s.LastState.Terminated == nil || s.LastState.Terminated.ExitCode != 1 {
			t.Fatalf("lastState = %+v, want the previous termination", s.LastState)
		}
		got = append(got, strings.Fields(s.State.Waiting.Message)[1])
	}
	if want := "20ms 40ms 80ms 80ms 80ms"; strings.Join(got, " ") != want {
		t.Fatalf("backoff = %s, want %s", strings.Join(got, " "), want)
	}
}

const probedPod = `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: a
    image: "busybox:1"
    livenessProbe: {exec: {command: [live]}, periodSeconds: 1, failureThreshold: 1}
    readinessProbe: {exec: {command: [ready]}, periodSeconds: 1}
`

func TestLivenessRestartsAndReadinessToggles(t *testing.T) {
	rt := newFakeRuntime()
	var live, ready atomic.Bool
	live.Store(true)
	ready.Store(true)
	rt.execHook = func(ctx context.Context, name string, cmd []string) (int, error) {
		ok := map[string]*atomic.Bool{"live": &live, "ready": &ready}[cmd[0]].Load()
		if ok {
			return 0, nil
		}
		return 1, nil
	}
	m := startManager(t, rt, newMemStore())
	if _, err := create(context.Background(), m, []byte(probedPod)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "Ready", func(p *pod.Pod) bool {
		return p.Status.ContainerStatuses[0].Ready && p.Status.Conditions[3].Status == "True"
	})
	ready.Store(false)
	waitFor(t, m, "web", "not Ready", func(p *pod.Pod) bool {
		return !p.Status.ContainerStatuses[0].Ready && p.Status.Conditions[3].Status == "False"
	})
	ready.Store(true)
	waitFor(t, m, "web", "Ready again", func(p *pod.Pod) bool { return p.Status.ContainerStatuses[0].Ready })
	live.Store(false)
	waitFor(t, m, "web", "restarted after liveness failure", func(p *pod.Pod) bool { return p.Status.ContainerStatuses[0].RestartCount >= 1 })
	live.Store(true)
	evs, _ := m.Events(context.Background(), "default", "web")
	var reasons []string
	for _, e := range evs {
		reasons = append(reasons, e.Reason+":"+e.Message)
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"Unhealthy:Readiness probe failed", "Unhealthy:Liveness probe failed", "Killing:Container a failed liveness probe, will be restarted", "Started:Started container a"} {
		if !strings.Contains(all, want) {
			t.Errorf("no event %q in:\n%s", want, all)
		}
	}
}

func TestPostStartFailureKillsContainer(t *testing.T) {
	rt := newFakeRuntime()
	rt.execHook = func(ctx context.Context, name string, cmd []string) (int, error) { return 3, nil }
	m := startManager(t, rt, newMemStore())
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: a\n    image: busybox:1\n    lifecycle: {postStart: {exec: {command: [hook]}}}\n"
	if _, err := create(context.Background(), m, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, m, "web", "terminated", func(p *pod.Pod) bool { return p.Status.ContainerStatuses[0].State.Terminated != nil })
	if r := p.Status.ContainerStatuses[0].State.Terminated.Reason; r != pod.ReasonPostStartHookError {
		t.Fatalf("reason = %s, want PostStartHookError", r)
	}
}

// A preStop hook whose exec is SIGKILLed because the container it stopped ended (exit 137: the
// runtime kills what remains in a container whose main process is gone) did its job: no
// FailedPreStopHook. The same exit while the container still runs is a failed hook.
func TestPreStopHookKilledWithItsContainer(t *testing.T) {
	for _, tt := range []struct {
		name       string
		stopsApp   bool
		wantFailed bool
	}{
		{"hook stops the container", true, false},
		{"hook killed, container runs", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFakeRuntime()
			rt.execHook = func(ctx context.Context, name string, cmd []string) (int, error) {
				if tt.stopsApp {
					rt.exitByName("a", 0)
				}
				return 137, nil
			}
			m := startManager(t, rt, newMemStore())
			manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  terminationGracePeriodSeconds: 30\n  containers:\n  - name: a\n    image: busybox:1\n    lifecycle: {preStop: {exec: {command: [sh, -c, 'kill 1; sleep 30']}}}\n"
			if _, err := create(context.Background(), m, []byte(manifest)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, m, "web", "running", func(p *pod.Pod) bool { return p.Status.ContainerStatuses[0].State.Running != nil })
			if _, err := m.Stop(context.Background(), "default", "web", nil); err != nil {
				t.Fatal(err)
			}
			evs, _ := m.Events(context.Background(), "default", "web")
			var failed []string
			for _, e := range evs {
				if e.Reason == "FailedPreStopHook" {
					failed = append(failed, e.Message)
				}
			}
			if got := len(failed) > 0; got != tt.wantFailed {
				t.Errorf("FailedPreStopHook events %q, want some: %v", failed, tt.wantFailed)
			}
			if tt.stopsApp && indexOf(rt.history(), "signal:a:SIGTERM") >= 0 {
				t.Errorf("container a was signalled after its hook stopped it: %q", rt.history())
			}
		})
	}
}

// TestSidecarsDoNotKeepJobPodAlive: a Job's pod (restartPolicy Never or OnFailure) whose main
// containers all ended for good finishes — Succeeded or Failed — with its native sidecars
// stopped, whatever the mains' exit codes, so that a Job is never held up by a sidecar.
func TestSidecarsDoNotKeepJobPodAlive(t *testing.T) {
	for _, tc := range []struct {
		policy    string
		codes     [2]int32
		wantPhase pod.PodPhase
	}{
		{"Never", [2]int32{0, 0}, pod.PodSucceeded},
		{"Never", [2]int32{0, 3}, pod.PodFailed},
		{"OnFailure", [2]int32{0, 0}, pod.PodSucceeded},
	} {
		t.Run(fmt.Sprintf("%s %v", tc.policy, tc.codes), func(t *testing.T) {
			rt := newFakeRuntime()
			m := startManager(t, rt, newMemStore())
			manifest := strings.Replace(sidecarPod, "restartPolicy: Never", "restartPolicy: "+tc.policy, 1)
			if _, err := create(context.Background(), m, []byte(manifest)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, m, "web", "init1 running", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[0].State.Running != nil })
			rt.exitByName("init1", 0)
			waitFor(t, m, "web", "init2 running", func(p *pod.Pod) bool { return p.Status.InitContainerStatuses[1].State.Running != nil })
			rt.exitByName("init2", 0)
			waitFor(t, m, "web", "mains running", func(p *pod.Pod) bool {
				return p.Status.ContainerStatuses[0].State.Running != nil && p.Status.ContainerStatuses[1].State.Running != nil
			})
			rt.exitByName("app", tc.codes[0])
			rt.exitByName("app2", tc.codes[1])
			p := waitFor(t, m, "web", string(tc.wantPhase)+" with sidecars stopped", func(p *pod.Pod) bool {
				return p.Status.Phase == tc.wantPhase && p.Status.InitContainerStatuses[2].State.Terminated != nil && p.Status.InitContainerStatuses[3].State.Terminated != nil
			})
			for _, st := range p.Status.ContainerStatuses {
				if st.RestartCount != 0 {
					t.Errorf("main %s restarted %d times", st.Name, st.RestartCount)
				}
			}
		})
	}
}
