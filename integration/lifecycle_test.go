package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStop checks the stop contract on real processes: the stop signal (SIGTERM, or the image's
// STOPSIGNAL), then SIGKILL once the grace period is over, and a stop that returns the moment the
// process exits. It does not run in parallel with other tests, so that the measured times are
// those of podd and not of a busy machine; they are logged, and the bounds are generous.
func TestStop(t *testing.T) {
	p := sharedPodd(t)
	ignores, traps, override, usr1 := uniqueName(t, "ignores"), uniqueName(t, "traps"), uniqueName(t, "override"), uniqueName(t, "usr1")
	// All four pods start at once; each subtest then stops one.
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: sleep
    image: %[5]s
    # sleep as PID 1 has no handler for SIGTERM, so the kernel drops the signal.
    command: ["sleep", "1000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: trap
    image: %[5]s
    command: ["sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; sleep 1000 & wait"]
---
apiVersion: v1
kind: Pod
metadata:
  name: %[3]s
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: sleep
    image: %[5]s
    command: ["sleep", "1000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: %[4]s
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: usr1
    image: %[6]s
    command: ["sh", "-c", "trap 'echo got USR1; exit 0' USR1; trap 'echo got TERM; exit 1' TERM; echo ready; sleep 1000 & wait"]
`, ignores, traps, override, usr1, busyboxImage, stopSignalImage))

	// stop runs podctl stop and returns how long it took and the container's terminated state.
	stop := func(t *testing.T, name, container string, args ...string) (time.Duration, int32) {
		t.Helper()
		start := time.Now()
		mustPodctl(t, p, append([]string{"stop"}, append(args, name)...)...)
		elapsed := time.Since(start)
		cs := containerStatus(t, getPod(t, p, name), container)
		if cs.State.Terminated == nil {
			t.Fatalf("after podctl stop, container %s is %+v, want terminated", container, cs.State)
		}
		return elapsed, cs.State.Terminated.ExitCode
	}
	// waitReady waits until the shell has set its traps (it prints ready after them): a signal
	// that came before would find the shell's default disposition.
	waitReady := func(t *testing.T, name, container string) {
		t.Helper()
		deadline := time.Now().Add(podWaitTimeout)
		for !strings.Contains(podLogs(t, p, name, container), "ready\n") {
			if time.Now().After(deadline) {
				t.Fatalf("container %s of pod %s did not print ready", container, name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("SIGTERM ignored: SIGKILL after the grace period", func(t *testing.T) {
		elapsed, code := stop(t, ignores, "sleep")
		t.Logf("podctl stop of a process that ignores SIGTERM, grace 3s: %v", elapsed.Round(time.Millisecond))
		// SIGKILL may not come before the grace ran out; how long after depends on the machine.
		if elapsed < 3*time.Second {
			t.Errorf("podctl stop took %v, less than the grace period of 3s: SIGKILL came early", elapsed)
		}
		if code != 137 {
			t.Errorf("exit code %d, want 137 (SIGKILL)", code)
		}
	})

	t.Run("SIGTERM trapped: stop returns at the exit", func(t *testing.T) {
		waitReady(t, traps, "trap")
		elapsed, code := stop(t, traps, "trap")
		t.Logf("podctl stop of a process that exits on SIGTERM, grace 30s: %v", elapsed.Round(time.Millisecond))
		if elapsed >= 30*time.Second {
			t.Errorf("podctl stop took %v, want it to return when the process exits, before the 30s grace", elapsed)
		}
		if code != 42 {
			t.Errorf("exit code %d, want the trap's 42", code)
		}
		if log := podLogs(t, p, traps, "trap"); !strings.Contains(log, "got TERM\n") {
			t.Errorf("log %q, want got TERM", log)
		}
	})

	t.Run("--grace overrides the pod's", func(t *testing.T) {
		elapsed, code := stop(t, override, "sleep", "--grace", "1")
		t.Logf("podctl stop --grace 1 of a process that ignores SIGTERM, pod grace 30s: %v", elapsed.Round(time.Millisecond))
		if elapsed < time.Second || elapsed >= 30*time.Second {
			t.Errorf("podctl stop --grace 1 took %v, want at least the 1s asked for and less than the pod's 30s", elapsed)
		}
		if code != 137 {
			t.Errorf("exit code %d, want 137 (SIGKILL)", code)
		}
	})

	t.Run("the image's STOPSIGNAL", func(t *testing.T) {
		waitReady(t, usr1, "usr1")
		elapsed, code := stop(t, usr1, "usr1")
		t.Logf("podctl stop of a process that exits on its image's STOPSIGNAL SIGUSR1, grace 30s: %v", elapsed.Round(time.Millisecond))
		log := podLogs(t, p, usr1, "usr1")
		if !strings.Contains(log, "got USR1\n") || strings.Contains(log, "got TERM") {
			t.Errorf("log %q, want got USR1 and no got TERM", log)
		}
		if code != 0 {
			t.Errorf("exit code %d, want the USR1 trap's 0", code)
		}
		if elapsed >= 30*time.Second {
			t.Errorf("podctl stop took %v, want it to return when the process exits, before the 30s grace", elapsed)
		}
	})

	t.Run("stopped pods stay down", func(t *testing.T) {
		res := p.Podctl(t, "exec", ignores, "--", "true")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not running") {
			t.Errorf("exec in a stopped pod: %s\nwant a failure that says not running", res)
		}
		for _, name := range []string{ignores, traps, override, usr1} {
			got := getPod(t, p, name)
			if got.Status.Reason != "Stopped" {
				t.Errorf("pod %s: status.reason %q, want Stopped", name, got.Status.Reason)
			}
			for _, cs := range got.Status.ContainerStatuses {
				if cs.State.Terminated == nil || cs.RestartCount != 0 {
					t.Errorf("pod %s container %s: state %+v, restartCount %d; want terminated, never restarted", name, cs.Name, cs.State, cs.RestartCount)
				}
			}
		}
	})
}

// TestRemove checks that `podctl rm` leaves nothing of a pod behind: no container, snapshot,
// mount, namespace file, folder, log or cgroup.
func TestRemove(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)

	t.Run("leaves nothing", func(t *testing.T) {
		name := uniqueName(t)
		mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: disk
    emptyDir: {}
  - name: mem
    emptyDir: {medium: Memory, sizeLimit: 8Mi}
  containers:
  - name: a
    image: %[2]s
    command: ["sh", "-c", "echo a > /disk/a; %[3]s"]
    volumeMounts:
    - {name: disk, mountPath: /disk}
    - {name: mem, mountPath: /mem}
  - name: b
    image: %[2]s
    command: ["sh", "-c", "echo to the log; %[3]s"]
    volumeMounts:
    - {name: disk, mountPath: /disk, subPath: b}
`, name, busyboxImage, untilTerm))
		uid := getPod(t, p, name).Metadata.UID
		podDir := filepath.Join(p.Root, "pods", uid)
		logDir := filepath.Join(p.Root, "logs", "default_"+name+"_"+uid)
		nsFiles := []string{
			filepath.Join(p.State, "netns", uid),
			filepath.Join(p.State, "ipcns", uid),
			filepath.Join(p.State, "utsns", uid),
		}
		var cgroupDirs []string
		for _, ctrl := range []string{"cpu", "memory", "pids"} {
			cgroupDirs = append(cgroupDirs, filepath.Join("/sys/fs/cgroup", ctrl, p.CgroupRoot, "pod"+uid))
		}
		var ids []string
		for _, c := range podContainers(t, p, uid) {
			ids = append(ids, c.ID)
		}

		// What is checked for absence must first be seen present, or the check proves nothing.
		if len(ids) != 2 {
			t.Fatalf("containerd holds %d containers of the pod, want 2", len(ids))
		}
		if snaps := podSnapshots(t, p, ids); len(snaps) != 2 {
			t.Errorf("snapshots of the pod's containers: %q, want 2", snaps)
		}
		for _, path := range append(append([]string{podDir, logDir}, nsFiles...), cgroupDirs...) {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("before podctl rm: %v", err)
			}
		}
		for _, path := range append([]string{filepath.Join(podDir, "volumes", "mem")}, nsFiles...) {
			if countMounts(t, path) == 0 {
				t.Errorf("before podctl rm: nothing is mounted on %s", path)
			}
		}
		if t.Failed() {
			t.FailNow()
		}

		res := mustPodctl(t, p, "rm", name)
		if want := "pod/" + name + " removed\n"; res.Stdout != want {
			t.Errorf("podctl rm printed %q, want %q", res.Stdout, want)
		}

		if ctrs := podContainers(t, p, uid); len(ctrs) != 0 {
			t.Errorf("containerd still holds %d containers of the pod: %v", len(ctrs), ctrs)
		}
		for _, id := range ids {
			if _, err := containerdClient(t).LoadContainer(p.Context(), id); err == nil {
				t.Errorf("container %s still exists", id)
			}
		}
		if snaps := podSnapshots(t, p, ids); len(snaps) != 0 {
			t.Errorf("snapshots of the pod's containers remain: %q", snaps)
		}
		for _, path := range append([]string{podDir}, nsFiles...) {
			if n := countMounts(t, path); n != 0 {
				t.Errorf("%d mounts remain at or under %s", n, path)
			}
		}
		for _, path := range append(append([]string{podDir, logDir}, nsFiles...), cgroupDirs...) {
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s remains (stat: %v)", path, err)
			}
		}
		res = p.Podctl(t, "get", name)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
			t.Errorf("podctl get of the removed pod: %s\nwant a not-found failure", res)
		}
		res = p.Podctl(t, "rm", name)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
			t.Errorf("podctl rm of the removed pod: %s\nwant a not-found failure", res)
		}
	})

	t.Run("force is immediate", func(t *testing.T) {
		name := uniqueName(t)
		mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: sleep
    image: %s
    command: ["sleep", "1000"]
`, name, busyboxImage))
		uid := getPod(t, p, name).Metadata.UID
		start := time.Now()
		mustPodctl(t, p, "rm", "--force", name)
		elapsed := time.Since(start)
		t.Logf("podctl rm --force of a process that ignores SIGTERM, grace 30s: %v", elapsed.Round(time.Millisecond))
		if elapsed >= 30*time.Second {
			t.Errorf("podctl rm --force took %v, want it at once, not after the 30s grace period", elapsed)
		}
		if ctrs := podContainers(t, p, uid); len(ctrs) != 0 {
			t.Errorf("containerd still holds %d containers of the pod", len(ctrs))
		}
		if res := p.Podctl(t, "get", name); res.ExitCode == 0 {
			t.Errorf("podctl get of the removed pod succeeded: %s", res)
		}
	})
}

// podSnapshots lists the snapshots, in podd's namespace, of the given containers (podd names a
// container's snapshot after it) and any of their children.
func podSnapshots(t testing.TB, p *Podd, ids []string) []string {
	t.Helper()
	var found []string
	for _, s := range p.Snapshots(t) {
		if slices.Contains(ids, s.Name) || slices.Contains(ids, s.Parent) {
			found = append(found, s.Name)
		}
	}
	return found
}

// TestStopDuringLaunch stops a pod while its container is still being created and started (right
// after `podctl run -d`): the stop must wait for the launch and then stop what it launched. It has
// a podd of its own and short timeouts, because a podd that gets this wrong may hang for good.
func TestStopDuringLaunch(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := uniqueName(t)
	path := writeManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", %q]
`, name, busyboxImage, untilTerm))
	// No `podctl rm` in cleanup: startPodd's cleanup removes what is left even from a hung podd.
	mustPodctl(t, p, "run", "-d", path)
	// A grace of 2 s: a SIGTERM that reaches the shell before it has set its trap is dropped (a
	// PID 1 ignores what it does not handle), and then only the SIGKILL at the grace's end stops
	// it — as on a kubelet. What is tested is that podd does not hang, not the shell's race.
	for _, args := range [][]string{{"stop", name, "--grace", "2"}, {"rm", name}} {
		start := time.Now()
		res, done := podctlWithin(t, p, 10*time.Second, args...)
		if !done {
			// SIGQUIT makes the Go runtime write every goroutine's stack to podd's log, which
			// the test's log shows: where podd hangs.
			p.quit(t)
			t.Fatalf("podctl %s right after podctl run -d did not return within 10s: podd hangs (its goroutines are in its log)\n%s", strings.Join(args, " "), res)
		}
		if res.ExitCode != 0 {
			t.Fatalf("podctl %s right after podctl run -d: %s", strings.Join(args, " "), res)
		}
		t.Logf("podctl %s right after podctl run -d: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	if ctrs := p.Containers(t); len(ctrs) != 0 {
		t.Errorf("containerd holds %d containers after podctl rm", len(ctrs))
	}
}

// podctlWithin runs podctl against p, killing it after timeout; done is false when it had to.
func podctlWithin(t testing.TB, p *Podd, timeout time.Duration, args ...string) (res Result, done bool) {
	t.Helper()
	_, podctlBin := poddBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, podctlBin, append([]string{"--socket", p.Socket}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res = Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode()}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("podctl %s: %v", strings.Join(args, " "), err)
	}
	return res, ctx.Err() == nil
}

// quit sends SIGQUIT to podd, whose Go runtime then dumps its goroutines into its log and exits.
func (p *Podd) quit(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	d := p.d
	p.mu.Unlock()
	if d == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("podd did not exit on SIGQUIT")
	}
}
