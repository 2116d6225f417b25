package integration

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// tickScript prints a numbered line every half second until SIGTERM, which ends it at once.
const tickScript = `trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5 & wait; done`

// instance is what identifies a running container instance on the host.
type instance struct {
	id       string
	restarts int32
	pid      int
	identity string // pid and start time: the very same process, not a reused pid
}

// instances reads every container of the pods (init containers included) that runs, keyed by
// pod/container.
func instances(t *testing.T, p *Podd, names ...string) map[string]instance {
	t.Helper()
	out := map[string]instance{}
	for _, name := range names {
		got := getPod(t, p, name)
		for _, cs := range append(append([]pod.ContainerStatus(nil), got.Status.InitContainerStatuses...), got.Status.ContainerStatuses...) {
			if cs.State.Running == nil {
				continue
			}
			id := strings.TrimPrefix(cs.ContainerID, "containerd://")
			pid := taskPid(t, p, id)
			out[name+"/"+cs.Name] = instance{id: id, restarts: cs.RestartCount, pid: pid, identity: processIdentity(pid)}
		}
	}
	return out
}

// allRunning: every container of the pod, sidecars included, runs.
func allRunning(got *pod.Pod) bool {
	if got.Status.Phase != pod.PodRunning {
		return false
	}
	for _, cs := range append(append([]pod.ContainerStatus(nil), got.Status.InitContainerStatuses...), got.Status.ContainerStatuses...) {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// TestLiveRestore kills podd with SIGKILL under running pods — a main container beside a native
// sidecar, a container that restarted once already, a container that ignores SIGTERM — and checks
// that the containers' processes ran on untouched, and that the restarted podd adopted them: same
// processes, same restartCount, exits watched (a process killed from the host is restarted per the
// policy), stop with the grace contract, exec, logs and logs -f.
func TestLiveRestore(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	web, restarted, stubborn := uniqueName(t, "web"), uniqueName(t, "restarted"), uniqueName(t, "stubborn")
	// Detached: `podctl run` rightly fails for the container whose first start fails.
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 30
  initContainers:
  - name: proxy
    image: %[4]s
    restartPolicy: Always
    command: ["sh", "-c", %[5]q]
  containers:
  - name: app
    image: %[4]s
    command: ["sh", "-c", %[6]q]
---
apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 30
  volumes:
  - {name: data, emptyDir: {}}
  containers:
  - name: app
    image: %[4]s
    # Fails on its first start only: restartCount 1 before podd goes away.
    command: ["sh", "-c", "if [ ! -e /data/once ]; then touch /data/once; exit 1; fi; %[7]s"]
    volumeMounts: [{name: data, mountPath: /data}]
---
apiVersion: v1
kind: Pod
metadata:
  name: %[3]s
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[4]s
    command: ["sh", "-c", "trap '' TERM; echo ignoring TERM; while true; do sleep 1; done"]
`, web, restarted, stubborn, busyboxImage, untilTerm, tickScript, untilTerm))
	names := []string{web, restarted, stubborn}
	waitPod(t, p, restarted, "running after one restart", func(got *pod.Pod) bool {
		return allRunning(got) && got.Status.ContainerStatuses[0].RestartCount == 1
	})
	for _, name := range names {
		waitPod(t, p, name, "running", allRunning)
	}
	before := instances(t, p, names...)
	if len(before) != 4 {
		t.Fatalf("%d running containers, want 4: %+v", len(before), before)
	}
	if got := before[restarted+"/app"].restarts; got != 1 {
		t.Fatalf("restartCount %d before the crash, want 1", got)
	}

	p.Kill9(t)
	for key, in := range before {
		if processIdentity(in.pid) != in.identity {
			t.Errorf("%s: process %d did not outlive podd", key, in.pid)
		}
	}
	p.Start(t)
	for _, name := range names {
		waitPod(t, p, name, "running", allRunning)
	}
	after := instances(t, p, names...)
	for key, in := range before {
		got, ok := after[key]
		switch {
		case !ok:
			t.Errorf("%s does not run after the restart", key)
		case got.id != in.id || got.pid != in.pid || got.identity != in.identity:
			t.Errorf("%s: container %s pid %d after the restart, want the same %s pid %d", key, got.id, got.pid, in.id, in.pid)
		case got.restarts != in.restarts:
			t.Errorf("%s: restartCount %d after the restart, was %d", key, got.restarts, in.restarts)
		}
	}

	t.Run("logs and logs -f", func(t *testing.T) {
		if log := podLogs(t, p, restarted, "app"); log != "" {
			t.Errorf("logs of the current instance: %q, want nothing (it prints nothing)", log)
		}
		prev := mustPodctl(t, p, "logs", "-c", "app", web).Stdout
		if !strings.Contains(prev, "tick 1\n") {
			t.Fatalf("logs of the adopted container lack its first line:\n%s", prev)
		}
		f := startFollower(t, p, web, "-c", "app")
		// Lines written after the restart reach the follower.
		logsWaitFor(t, "two lines more than before the follower", func() bool {
			return strings.Count(f.out.String(), "\n") >= strings.Count(prev, "\n")+2
		})
	})

	t.Run("exec", func(t *testing.T) {
		res := p.Podctl(t, "exec", web, "-c", "app", "--", "sh", "-c", "cat /proc/1/cmdline >/dev/null; exit 7")
		if res.ExitCode != 7 {
			t.Errorf("exec: %s\nwant exit code 7", res)
		}
		res = p.Podctl(t, "exec", web, "-c", "proxy", "--", "echo", "sidecar")
		if res.ExitCode != 0 || res.Stdout != "sidecar\n" {
			t.Errorf("exec in the adopted sidecar: %s", res)
		}
	})

	t.Run("exit watching", func(t *testing.T) {
		// A process killed from the host: podd notices and restarts it per restartPolicy Always.
		victim := after[web+"/app"]
		if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		got := waitPod(t, p, web, "app restarted", func(got *pod.Pod) bool {
			return allRunning(got) && got.Status.ContainerStatuses[0].RestartCount == 1
		})
		cs := containerStatus(t, got, "app")
		if last := cs.LastState.Terminated; last == nil || last.ExitCode != 137 {
			t.Errorf("lastState %+v, want terminated with exitCode 137", cs.LastState)
		}
		now := instances(t, p, web)
		if now[web+"/proxy"] != after[web+"/proxy"] {
			t.Errorf("the sidecar changed when app was killed: %+v, was %+v", now[web+"/proxy"], after[web+"/proxy"])
		}
	})

	t.Run("stop with the grace contract", func(t *testing.T) {
		// A process that exits on SIGTERM: stop returns at its exit, long before the 30s grace.
		start := time.Now()
		mustPodctl(t, p, "stop", restarted)
		if took := time.Since(start); took >= 30*time.Second {
			t.Errorf("stop took %v: podd waited for the grace instead of the adopted process's exit", took)
		}
		cs := containerStatus(t, getPod(t, p, restarted), "app")
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 || cs.RestartCount != 1 {
			t.Errorf("after stop: %+v, restartCount %d; want terminated with the trap's exit code 0, restartCount 1", cs.State, cs.RestartCount)
		}
		// A process that ignores SIGTERM: killed at the end of its 2s grace.
		start = time.Now()
		mustPodctl(t, p, "stop", stubborn)
		took := time.Since(start)
		cs = containerStatus(t, getPod(t, p, stubborn), "app")
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 {
			t.Errorf("after stop: %+v, want terminated by SIGKILL (137)", cs.State)
		}
		if took < 2*time.Second {
			t.Errorf("stop took %v, less than the 2s grace: SIGKILL came early", took)
		}
		if processIdentity(after[stubborn+"/app"].pid) == after[stubborn+"/app"].identity {
			t.Errorf("the stopped process %d still runs", after[stubborn+"/app"].pid)
		}
	})
}
