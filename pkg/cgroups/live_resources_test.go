package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// On the real kernel: SetupPod's values are accepted and read back, a process in a child cgroup
// is counted in the pod's stats, and RemovePod cleans up.
func TestSetupPodAndStatsLiveHost(t *testing.T) {
	requireRoot(t)
	fs, err := Load(MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("podd-test-%d-live", os.Getpid())
	const uid = "stats"
	t.Cleanup(func() {
		_ = RemovePod(t.Context(), fs, parent, uid)
		for _, h := range fs.Hierarchies {
			if d := h.dir("/" + parent); d != "" {
				_ = os.Remove(d)
			}
		}
	})
	l := PodLimits{CPUShares: 512, CPUQuota: 50000, MemoryLimit: 64 << 20, PidsLimit: 16}
	if err := SetupPod(fs, parent, uid, l); err != nil {
		t.Fatal(err)
	}
	cgroup := PodPath(parent, uid)
	// A process in the pod cgroup itself (v2 forbids processes beside children, and there are none).
	dir, err := fs.dirFor("pids", cgroup)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for _, ctrl := range []string{"pids", "memory", "cpu", "cpuacct"} {
		d, err := fs.dirFor(ctrl, cgroup)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatalf("move the process into %s: %v", d, err)
		}
		if fs.Mode == V2 {
			break
		}
	}
	st, err := ReadStats(fs, cgroup)
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryLimit != 64<<20 || st.CPUQuota != 50000 || st.CPUPeriod != CPUPeriod || st.PidsLimit != 16 || st.PidsCurrent != 1 {
		t.Errorf("stats of the pod cgroup: %+v", st)
	}
	if pids, err := Procs(fs, cgroup); err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("Procs = %v, %v; want [%d] (from %s)", pids, err, cmd.Process.Pid, dir)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := RemovePod(t.Context(), fs, parent, uid); err != nil {
		t.Fatal(err)
	}
}
