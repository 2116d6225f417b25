package cgroups

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

// requireRoot skips a test that needs to write the host's cgroups, except under CI=true, where a
// missing prerequisite must fail rather than pass silently.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (CI=true)")
	}
	t.Skip("needs root to write the host's cgroups")
}

// On the real cgroupfs: rmdir takes the control files with it, and a cgroup with a process in it
// is busy until the process is gone.
func TestRemovePodLiveHost(t *testing.T) {
	requireRoot(t)
	fs, err := Load(MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("podd-test-%d", os.Getpid())
	const uid = "live"
	var hostDirs []string
	for _, h := range fs.Hierarchies {
		dir := h.dir(ContainerPath(parent, uid, "c1"))
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("create test cgroup: %v", err)
		}
		hostDirs = append(hostDirs, dir)
	}
	t.Cleanup(func() {
		// container, pod, parent: whatever the test left behind
		for _, d := range hostDirs {
			for range 3 {
				_ = os.Remove(d)
				d = filepath.Dir(d)
			}
		}
	})

	// A process in the first v1 hierarchy's container cgroup (v2's would need the process to
	// leave the root's domain, which a hybrid host's empty tree does not care about).
	busy := hostDirs[0]
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := os.WriteFile(filepath.Join(busy, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move process into %s: %v", busy, err)
	}

	fastRetries(t)
	err = RemovePod(t.Context(), fs, parent, uid)
	if !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("RemovePod with a process inside: err = %v, want failed precondition", err)
	}
	for _, d := range hostDirs[1:] {
		if exists(filepath.Dir(d)) {
			t.Errorf("%s not removed though it held no process", filepath.Dir(d))
		}
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	removeDelays = removeDelaysDefault
	if err := RemovePod(t.Context(), fs, parent, uid); err != nil {
		t.Fatalf("RemovePod after the process ended: %v", err)
	}
	if ok, err := PodExists(fs, parent, uid); ok || err != nil {
		t.Errorf("PodExists after removal = %v, %v", ok, err)
	}
	uids, err := ListPods(fs, parent)
	if err != nil || len(uids) != 0 {
		t.Errorf("ListPods after removal = %v, %v", uids, err)
	}
}

// A process left in the pod's logs leaf (a logger whose shim died) keeps RemovePod failing until
// KillHelpers ends it; a process in a container's cgroup is not podd's to kill.
func TestKillHelpersLiveHost(t *testing.T) {
	requireRoot(t)
	fs, err := Load(MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("podd-test-kh-%d", os.Getpid())
	const uid = "live"
	var logDirs, ctrDirs []string
	for _, h := range fs.Hierarchies {
		ld, cd := h.dir(LogsPath(parent, uid)), h.dir(ContainerPath(parent, uid, "c1"))
		if ld == "" {
			continue
		}
		for _, d := range []string{ld, cd} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatalf("create test cgroup: %v", err)
			}
		}
		logDirs, ctrDirs = append(logDirs, ld), append(ctrDirs, cd)
	}
	t.Cleanup(func() {
		_ = RemovePod(context.Background(), fs, parent, uid)
		_ = os.Remove(filepath.Dir(filepath.Dir(logDirs[0])))
	})
	start := func(dir string) *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatalf("move process into %s: %v", dir, err)
		}
		return cmd
	}
	logger, user := start(logDirs[0]), start(ctrDirs[0])
	done := make(chan error, 1)
	go func() { done <- logger.Wait() }()

	n, err := KillHelpers(fs, parent, uid)
	if err != nil || n != 1 {
		t.Fatalf("KillHelpers = %d, %v; want the 1 process of the logs leaf", n, err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("logger ended with %v, want killed", err)
	}
	if user.ProcessState != nil || user.Process.Signal(syscall.Signal(0)) != nil {
		t.Fatal("KillHelpers killed the process in the container's cgroup")
	}
	fastRetries(t)
	if err := RemovePod(t.Context(), fs, parent, uid); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("RemovePod with the container's process inside: err = %v, want failed precondition", err)
	}
	_ = user.Process.Kill()
	_ = user.Wait()
	removeDelays = removeDelaysDefault
	if err := RemovePod(t.Context(), fs, parent, uid); err != nil {
		t.Fatalf("RemovePod after both ended: %v", err)
	}
}
