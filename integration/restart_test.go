package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"

	"github.com/podd-dev/podd/pkg/pod"
)

// TestRestartPolicy runs containers that exit, under each restartPolicy, and checks what podd
// did about it the way Kubernetes reports it: phase, reason, exit code, restartCount, lastState.
func TestRestartPolicy(t *testing.T) {
	t.Parallel()
	// A podd of its own: containers that restart all the time keep a podd busy.
	p := startPodd(t)
	never, onFailure, onFailureOK, always := uniqueName(t, "never"), uniqueName(t, "onfailure"), uniqueName(t, "onfailure-ok"), uniqueName(t, "always")
	podOf := func(name, policy, script string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", %q]
`, name, policy, busyboxImage, script)
	}
	// Detached: `podctl run` fails, rightly, for a container that exits with an error before it
	// has been seen running.
	runDetached(t, p, strings.Join([]string{
		podOf(never, "Never", "echo run; exit 3"),
		podOf(onFailure, "OnFailure", "echo run; exit 1"),
		podOf(onFailureOK, "OnFailure", "echo run; exit 0"),
		podOf(always, "Always", "echo run; exit 0"),
	}, "---\n"))

	t.Run("Never, exit 3", func(t *testing.T) {
		got := waitDone(t, p, never)
		cs := containerStatus(t, got, "app")
		if got.Status.Phase != pod.PodFailed {
			t.Errorf("phase %s, want Failed", got.Status.Phase)
		}
		if term := cs.State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
			t.Errorf("state %+v, want terminated with exitCode 3 and reason Error", cs.State)
		}
		if cs.RestartCount != 0 {
			t.Errorf("restartCount %d, want 0", cs.RestartCount)
		}
		if log := podLogs(t, p, never, "app"); log != "run\n" {
			t.Errorf("log %q, want one run", log)
		}
	})

	t.Run("OnFailure, exit 0", func(t *testing.T) {
		got := waitDone(t, p, onFailureOK)
		cs := containerStatus(t, got, "app")
		if got.Status.Phase != pod.PodSucceeded {
			t.Errorf("phase %s, want Succeeded", got.Status.Phase)
		}
		if term := cs.State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("state %+v, want terminated with exitCode 0 and reason Completed", cs.State)
		}
		if cs.RestartCount != 0 {
			t.Errorf("restartCount %d, want 0", cs.RestartCount)
		}
	})

	for _, tc := range []struct {
		what, name   string
		code         int32
		reason       string
		wantPhase    pod.PodPhase
		wantRestarts int32
	}{
		{"OnFailure, exit 1", onFailure, 1, "Error", "", 2},
		{"Always, exit 0", always, 0, "Completed", pod.PodRunning, 2},
	} {
		t.Run(tc.what, func(t *testing.T) {
			start := time.Now()
			got := waitPod(t, p, tc.name, fmt.Sprintf("restarted %d times", tc.wantRestarts), func(got *pod.Pod) bool {
				return len(got.Status.ContainerStatuses) == 1 && got.Status.ContainerStatuses[0].RestartCount >= tc.wantRestarts
			})
			t.Logf("%d restarts after %v", tc.wantRestarts, time.Since(start).Round(time.Millisecond))
			cs := containerStatus(t, got, "app")
			if last := cs.LastState.Terminated; last == nil || last.ExitCode != tc.code || last.Reason != tc.reason {
				t.Errorf("lastState %+v, want terminated with exitCode %d and reason %s", cs.LastState, tc.code, tc.reason)
			}
			if tc.wantPhase != "" && got.Status.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Status.Phase, tc.wantPhase)
			}
			if got.Status.Phase == pod.PodSucceeded || got.Status.Phase == pod.PodFailed {
				t.Errorf("phase %s: a pod whose container restarts has not ended", got.Status.Phase)
			}
		})
	}
}

// TestPoddRestart checks that pods outlive podd: a running pod is adopted, not restarted, after
// podd stops cleanly and after it is killed, and keeps working through podctl; a pod whose
// containers vanished while podd was down is recreated when podd comes back.
func TestPoddRestart(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	kept, vanished, exits := uniqueName(t, "kept"), uniqueName(t, "vanished"), uniqueName(t, "exits")
	// Each start of the container appends a line to a file in an emptyDir, which lives as long as
	// the pod: the number of lines is the number of starts.
	const script = `echo started >> /data/starts; echo started; ` + untilTerm
	podOf := func(name string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 30
  volumes:
  - {name: data, emptyDir: {}}
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", %q]
    volumeMounts: [{name: data, mountPath: /data}]
`, name, busyboxImage, script)
	}
	mustRun(t, p, podOf(kept)+"---\n"+podOf(vanished)+"---\n"+fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  volumes:
  - {name: data, emptyDir: {}}
  containers:
  - name: app
    image: %s
    # Exits with 4 once the test creates /data/go: while podd is down.
    command: ["sh", "-c", "until [ -e /data/go ]; do sleep 0.1; done; exit 4"]
    volumeMounts: [{name: data, mountPath: /data}]
`, exits, busyboxImage))

	// starts reads the number of times the pod's container started, from the emptyDir.
	starts := func(t *testing.T, name string) int {
		t.Helper()
		res := mustPodctl(t, p, "exec", name, "--", "cat", "/data/starts")
		return strings.Count(res.Stdout, "started\n")
	}
	// running waits until the pod runs, and returns its container's status.
	running := func(t *testing.T, name string) pod.ContainerStatus {
		t.Helper()
		got := waitPod(t, p, name, "running", func(got *pod.Pod) bool {
			return got.Status.Phase == pod.PodRunning && len(got.Status.ContainerStatuses) == 1 &&
				got.Status.ContainerStatuses[0].State.Running != nil
		})
		return containerStatus(t, got, "app")
	}
	// adopted checks that the pod runs the very container it ran before podd went away.
	adopted := func(t *testing.T, name string, before pod.ContainerStatus) {
		t.Helper()
		cs := running(t, name)
		if cs.ContainerID != before.ContainerID || cs.RestartCount != 0 {
			t.Errorf("container %s, restartCount %d; want the same %s, never restarted", cs.ContainerID, cs.RestartCount, before.ContainerID)
		}
		if n := starts(t, name); n != 1 {
			t.Errorf("the container started %d times, want once", n)
		}
	}

	keptBefore := running(t, kept)
	vanishedBefore := running(t, vanished)
	keptPid := taskPid(t, p, strings.TrimPrefix(keptBefore.ContainerID, "containerd://"))

	t.Run("SIGTERM and start", func(t *testing.T) {
		p.Restart(t)
		adopted(t, kept, keptBefore)
		adopted(t, vanished, vanishedBefore)
	})

	t.Run("SIGKILL and start, a pod's containers removed meanwhile", func(t *testing.T) {
		exitsPod := getPod(t, p, exits)
		exitsID := strings.TrimPrefix(containerStatus(t, exitsPod, "app").ContainerID, "containerd://")
		p.Kill9(t)
		uid := getPodOffline(t, p, vanished)
		deleteContainers(t, p, uid)
		// A container that exits while podd is down.
		if err := os.WriteFile(filepath.Join(p.Root, "pods", exitsPod.Metadata.UID, "volumes", "data", "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitTaskStopped(t, p, exitsID)
		p.Start(t)
		adopted(t, kept, keptBefore)
		if pid := taskPid(t, p, strings.TrimPrefix(keptBefore.ContainerID, "containerd://")); pid != keptPid {
			t.Errorf("the kept pod's process is %d, was %d", pid, keptPid)
		}

		cs := running(t, vanished)
		if ctrs := podContainers(t, p, uid); len(ctrs) != 1 {
			t.Errorf("containerd holds %d containers of the recreated pod, want 1", len(ctrs))
		}
		if n := starts(t, vanished); n != 2 {
			t.Errorf("the recreated pod's container started %d times in all, want 2", n)
		}
		t.Logf("recreated container: %s, restartCount %d", cs.ContainerID, cs.RestartCount)

		got := waitDone(t, p, exits)
		ecs := containerStatus(t, got, "app")
		if got.Status.Phase != pod.PodFailed || ecs.State.Terminated == nil || ecs.State.Terminated.ExitCode != 4 || ecs.RestartCount != 0 {
			t.Errorf("the pod whose container exited with 4 while podd was down: phase %s, container %+v; want Failed, terminated with exitCode 4, not restarted", got.Status.Phase, ecs)
		}
	})

	t.Run("podctl works after the restarts", func(t *testing.T) {
		if log := podLogs(t, p, kept, "app"); log != "started\n" {
			t.Errorf("log %q, want the one line of the one start", log)
		}
		res := p.Podctl(t, "exec", kept, "--", "sh", "-c", "exit 5")
		if res.ExitCode != 5 {
			t.Errorf("exec sh -c 'exit 5': %s\nwant exit code 5", res)
		}
		// The trap exits at once: a stop that took the 30s grace would mean that podd lost
		// track of the exit of the adopted process.
		start := time.Now()
		mustPodctl(t, p, "stop", kept)
		elapsed := time.Since(start)
		t.Logf("podctl stop of an adopted container that exits on SIGTERM, grace 30s: %v", elapsed.Round(time.Millisecond))
		if elapsed >= 30*time.Second {
			t.Errorf("podctl stop took %v, want it to return at the exit, before the 30s grace", elapsed)
		}
		cs := containerStatus(t, getPod(t, p, kept), "app")
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			t.Errorf("after stop: %+v, want terminated with the trap's exit code 0", cs.State)
		}
	})
}

// getPodOffline reads a pod's UID from the labels of its containers while podd is down.
func getPodOffline(t *testing.T, p *Podd, name string) string {
	t.Helper()
	ctrs, err := containerdClient(t).ContainerService().List(p.Context(), fmt.Sprintf("labels.%q==%q", "io.podd.pod.name", name))
	if err != nil || len(ctrs) == 0 {
		t.Fatalf("find the containers of pod %s: %v (%d found)", name, err, len(ctrs))
	}
	return ctrs[0].Labels[labelPodUID]
}

// deleteContainers kills and deletes a pod's containers, tasks and snapshots with the containerd
// client, behind podd's back.
func deleteContainers(t *testing.T, p *Podd, uid string) {
	t.Helper()
	ctx := p.Context()
	for _, info := range podContainers(t, p, uid) {
		c, err := containerdClient(t).LoadContainer(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if task, err := c.Task(ctx, nil); err == nil {
			exited, err := task.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-exited
			if _, err := task.Delete(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(podContainers(t, p, uid)); n != 0 {
		t.Fatalf("%d containers of pod %s remain", n, uid)
	}
}

// waitTaskStopped waits until a container's task has exited, as containerd sees it.
func waitTaskStopped(t *testing.T, p *Podd, id string) {
	t.Helper()
	ctr, err := containerdClient(t).LoadContainer(p.Context(), id)
	if err != nil {
		t.Fatalf("load container %s: %v", id, err)
	}
	task, err := ctr.Task(p.Context(), nil)
	if err != nil {
		t.Fatalf("task of container %s: %v", id, err)
	}
	deadline := time.Now().Add(podWaitTimeout)
	for {
		st, err := task.Status(p.Context())
		if err != nil {
			t.Fatalf("status of task %s: %v", id, err)
		}
		if st.Status == containerd.Stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s after %v, want stopped", id, st.Status, podWaitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
