package cgroups

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestMilliCPUToShares(t *testing.T) {
	for milli, want := range map[int64]uint64{0: 2, -5: 2, 1: 2, 2: 2, 100: 102, 250: 256, 500: 512, 1000: 1024, 2500: 2560, 1 << 40: MaxShares} {
		if got := MilliCPUToShares(milli); got != want {
			t.Errorf("MilliCPUToShares(%d) = %d, want %d", milli, got, want)
		}
	}
}

func TestMilliCPUToQuota(t *testing.T) {
	for milli, want := range map[int64]int64{0: 0, -1: 0, 1: 1000, 10: 1000, 100: 10000, 500: 50000, 1000: 100000, 2500: 250000} {
		if got := MilliCPUToQuota(milli, CPUPeriod); got != want {
			t.Errorf("MilliCPUToQuota(%d) = %d, want %d", milli, got, want)
		}
	}
}

func TestSharesToWeight(t *testing.T) {
	// runc's table: 2 → 1, 1024 → 39, 262144 → 10000.
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 512: 20, 1024: 39, 2048: 79, 262144: 10000, 1 << 30: 10000} {
		if got := SharesToWeight(shares); got != want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestSetupPodV1(t *testing.T) {
	h := newFakeHost(t, layoutHybrid)
	l := PodLimits{CPUShares: 1536, CPUQuota: 150000, MemoryLimit: 96 << 20, PidsLimit: 4096}
	if err := SetupPod(h.fs, "podd", "u1", l); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu,cpuacct/podd/podu1/cpu.shares":        "1536",
		"cpu,cpuacct/podd/podu1/cpu.cfs_period_us": "100000",
		"cpu,cpuacct/podd/podu1/cpu.cfs_quota_us":  "150000",
		"memory/podd/podu1/memory.limit_in_bytes":  "100663296",
		"pids/podd/podu1/pids.max":                 "4096",
	}
	for f, v := range want {
		if got := readTrim(t, filepath.Join(h.root, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, "cpu,cpuacct", "podd", "podu1")); err != nil {
		t.Errorf("cpuacct pod cgroup: %v", err)
	}
	// Hierarchies podd does not set values in are left to runc.
	if _, err := os.Stat(filepath.Join(h.root, "cpuset", "podd", "podu1")); !os.IsNotExist(err) {
		t.Errorf("cpuset pod cgroup created: %v", err)
	}
	// Unlimited: a second call writes the kernel's "none".
	if err := SetupPod(h.fs, "podd", "u1", PodLimits{}); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{
		"cpu,cpuacct/podd/podu1/cpu.shares":       "2",
		"cpu,cpuacct/podd/podu1/cpu.cfs_quota_us": "-1",
		"memory/podd/podu1/memory.limit_in_bytes": "-1",
		"pids/podd/podu1/pids.max":                "max",
	} {
		if got := readTrim(t, filepath.Join(h.root, f)); got != v {
			t.Errorf("unlimited: %s = %q, want %q", f, got, v)
		}
	}
	if err := SetupPod(h.fs, "podd", "../x", l); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad uid: %v", err)
	}
}

func TestSetupPodV2(t *testing.T) {
	h := newFakeHost(t, layoutV2)
	uni := filepath.Join(h.root, "unified")
	// The fake kernel: the root and podd's parent offer the controllers.
	for _, dir := range []string{uni, filepath.Join(uni, "podd")} {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids rdma misc\n"), 0o644)
	}
	os.WriteFile(filepath.Join(uni, "cgroup.subtree_control"), []byte("memory\n"), 0o644)
	l := PodLimits{CPUShares: 1024, CPUQuota: 50000, MemoryLimit: 64 << 20, PidsLimit: 100}
	if err := SetupPod(h.fs, "podd", "u2", l); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{
		"cgroup.subtree_control":      "+cpu +pids", // memory was enabled already
		"podd/cgroup.subtree_control": "+cpu +memory +pids",
		"podd/podu2/cpu.weight":       "39",
		"podd/podu2/cpu.max":          "50000 100000",
		"podd/podu2/memory.max":       "67108864",
		"podd/podu2/pids.max":         "100",
	} {
		if got := readTrim(t, filepath.Join(uni, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if err := SetupPod(h.fs, "podd", "u2", PodLimits{}); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"podd/podu2/cpu.max": "max 100000", "podd/podu2/memory.max": "max", "podd/podu2/pids.max": "max", "podd/podu2/cpu.weight": "1"} {
		if got := readTrim(t, filepath.Join(uni, f)); got != v {
			t.Errorf("unlimited: %s = %q, want %q", f, got, v)
		}
	}
}

// writeCgroup writes control files of one cgroup in a fake hierarchy folder.
func writeCgroup(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadStatsV1(t *testing.T) {
	h := newFakeHost(t, layoutHybrid)
	cg := ContainerPath("podd", "u", "c1")
	writeCgroup(t, filepath.Join(h.root, "cpu,cpuacct", cg), map[string]string{
		"cpuacct.usage": "123456789\n", "cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n",
	})
	writeCgroup(t, filepath.Join(h.root, "memory", cg), map[string]string{
		"memory.usage_in_bytes": "50000000\n",
		"memory.limit_in_bytes": "67108864\n",
		"memory.stat":           "cache 100\nrss 7\ntotal_cache 41943040\ntotal_rss 1048576\ntotal_inactive_file 4000000\ntotal_active_file 0\n",
		"memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
	})
	writeCgroup(t, filepath.Join(h.root, "pids", cg), map[string]string{"pids.current": "3\n", "pids.max": "max\n", "cgroup.procs": "10\n12\n"})
	st, err := ReadStats(h.fs, cg)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{CPUUsageNanos: 123456789, MemoryUsage: 50000000, MemoryWorkingSet: 46000000, MemoryRSS: 1048576,
		MemoryLimit: 67108864, CPUQuota: 50000, CPUPeriod: 100000, PidsCurrent: 3, OOMKills: 2}
	if st != want {
		t.Errorf("ReadStats =\n%+v\nwant\n%+v", st, want)
	}
	if n, err := OOMKills(h.fs, cg); err != nil || n != 2 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	if pids, err := Procs(h.fs, cg); err != nil || !slices.Equal(pids, []int{10, 12}) {
		t.Errorf("Procs = %v, %v", pids, err)
	}
	// No limit: v1's huge number, and no quota.
	writeCgroup(t, filepath.Join(h.root, "memory", cg), map[string]string{"memory.limit_in_bytes": "9223372036854771712\n"})
	writeCgroup(t, filepath.Join(h.root, "cpu,cpuacct", cg), map[string]string{"cpu.cfs_quota_us": "-1\n"})
	if st, err := ReadStats(h.fs, cg); err != nil || st.MemoryLimit != 0 || st.CPUQuota != 0 {
		t.Errorf("unlimited: %+v, %v", st, err)
	}
	if _, err := ReadStats(h.fs, ContainerPath("podd", "u", "gone")); !errdefs.IsNotFound(err) {
		t.Errorf("missing cgroup: %v", err)
	}
	if _, err := Procs(h.fs, ContainerPath("podd", "u", "gone")); !errdefs.IsNotFound(err) {
		t.Errorf("missing cgroup procs: %v", err)
	}
}

func TestReadStatsV2(t *testing.T) {
	h := newFakeHost(t, layoutV2)
	cg := ContainerPath("podd", "u", "c1")
	writeCgroup(t, filepath.Join(h.root, "unified", cg), map[string]string{
		"cpu.stat":       "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
		"cpu.max":        "50000 100000\n",
		"memory.current": "50000000\n",
		"memory.max":     "max\n",
		"memory.stat":    "anon 1048576\nfile 41943040\nshmem 41943040\ninactive_file 1000\n",
		"memory.events":  "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
		"pids.current":   "2\n",
		"pids.max":       "4096\n",
		"cgroup.procs":   "7\n",
	})
	st, err := ReadStats(h.fs, cg)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{CPUUsageNanos: 2500000, MemoryUsage: 50000000, MemoryWorkingSet: 49999000, MemoryRSS: 1048576,
		CPUQuota: 50000, CPUPeriod: 100000, PidsCurrent: 2, PidsLimit: 4096, OOMKills: 1}
	if st != want {
		t.Errorf("ReadStats =\n%+v\nwant\n%+v", st, want)
	}
	if n, err := OOMKills(h.fs, cg); err != nil || n != 1 {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	if pids, err := Procs(h.fs, cg); err != nil || !slices.Equal(pids, []int{7}) {
		t.Errorf("Procs = %v, %v", pids, err)
	}
}

// TestMilliCPUToQuotaSaturates: a cpu limit of 1e18 (its millicores saturate at MaxInt64) once
// overflowed the quota's product and became the kernel's 1 ms minimum, a cap of 10m.
func TestMilliCPUToQuotaSaturates(t *testing.T) {
	for _, tc := range []struct{ milli, want int64 }{
		{math.MaxInt64, MaxQuota},                // 1e18 cpus, as pod.Quantity's MilliValue gives it
		{1_000_000_000_000_000, MaxQuota},        // 1e12 cpus: the product overflows int64
		{175_921_860_444, 175_921_860_444 * 100}, // the largest limit under the kernel's ceiling
		{175_921_860_445, MaxQuota},
		{64_000, 6_400_000}, // 64 cpus, as before
	} {
		if got := MilliCPUToQuota(tc.milli, CPUPeriod); got != tc.want {
			t.Errorf("MilliCPUToQuota(%d) = %d, want %d", tc.milli, got, tc.want)
		}
	}
}

// TestDefaultPidsLimit: all pods together get half of pid_max unless --pids-limit says otherwise.
func TestDefaultPidsLimit(t *testing.T) {
	for pidMax, want := range map[int64]int64{32768: 16384, 4194304: 2097152, 1: 1} {
		if got := DefaultPidsLimit(pidMax); got != want {
			t.Errorf("DefaultPidsLimit(%d) = %d, want %d", pidMax, got, want)
		}
	}
}

// TestSetupLogs: the loggers' cgroup is made beside the containers' under the pod's, in every
// hierarchy that has the pod's cgroup (once where cpu and cpuacct are mounted together), with no
// limits of its own; never where the pod has no cgroup.
func TestSetupLogs(t *testing.T) {
	h := newFakeHost(t, layoutHybrid)
	if _, err := SetupLogs(h.fs, "podd", "u1"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("before the pod's cgroup: %v, want a failed precondition", err)
	}
	if _, err := os.Stat(filepath.Join(h.root, "memory", "podd", "podu1")); !os.IsNotExist(err) {
		t.Errorf("SetupLogs created the pod's cgroup: %v", err)
	}
	if err := SetupPod(h.fs, "podd", "u1", PodLimits{CPUQuota: 50000, MemoryLimit: 64 << 20, PidsLimit: 100}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		procs, err := SetupLogs(h.fs, "podd", "u1")
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, hier := range []string{"cpu,cpuacct", "memory", "pids"} {
			want = append(want, filepath.Join(h.root, hier, "podd", "podu1", "podd-logs", "cgroup.procs"))
		}
		if !slices.Equal(procs, want) {
			t.Errorf("procs files %v, want %v", procs, want)
		}
		for _, p := range procs {
			if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
				t.Errorf("%s: %v", filepath.Dir(p), err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 0 {
				t.Errorf("%s has files %v: want no limits of its own", filepath.Dir(p), entries)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, "cpuset", "podd", "podu1", "podd-logs")); !os.IsNotExist(err) {
		t.Errorf("logs cgroup in cpuset: %v", err)
	}
	if _, err := SetupLogs(h.fs, "podd", "../x"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad uid: %v", err)
	}
	// The pod's removal takes the leaf with it.
	if err := RemovePod(context.Background(), h.fs, "podd", "u1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := PodExists(h.fs, "podd", "u1"); ok || err != nil {
		t.Errorf("after RemovePod: exists %v, %v", ok, err)
	}

	v2 := newFakeHost(t, layoutV2)
	uni := filepath.Join(v2.root, "unified")
	for _, dir := range []string{uni, filepath.Join(uni, "podd"), filepath.Join(uni, "podd", "podu2")} {
		writeCgroup(t, dir, map[string]string{"cgroup.controllers": "cpu memory pids\n"})
	}
	procs, err := SetupLogs(v2.fs, "podd", "u2")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(uni, "podd", "podu2", "podd-logs", "cgroup.procs"); len(procs) != 1 || procs[0] != want {
		t.Errorf("v2 procs files %v, want [%s]", procs, want)
	}
	if got := readTrim(t, filepath.Join(uni, "podd", "podu2", "cgroup.subtree_control")); got != "+cpu +memory +pids" {
		t.Errorf("v2 pod subtree_control %q: want the controllers enabled for the leaf", got)
	}
}
