package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
