package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// Stats are one cgroup's resource figures at one instant, with the kubelet's meanings.
type Stats struct {
	// CPUUsageNanos is the cpu time used since the cgroup was created, in ns (cumulative).
	CPUUsageNanos uint64
	// MemoryUsage is the memory charged to the cgroup (page cache included).
	MemoryUsage uint64
	// MemoryWorkingSet is MemoryUsage less the inactive file cache: what the kubelet evicts on
	// and what cadvisor reports as working set.
	MemoryWorkingSet uint64
	// MemoryRSS is anonymous memory (and swap cache): total_rss on v1, anon on v2.
	MemoryRSS uint64
	// MemoryLimit is the memory limit in bytes; 0: none.
	MemoryLimit uint64
	// CPUQuota and CPUPeriod are the CFS limit in µs; CPUQuota 0: none.
	CPUQuota  int64
	CPUPeriod uint64
	// PidsCurrent and PidsLimit count tasks; PidsLimit 0: none.
	PidsCurrent uint64
	PidsLimit   uint64
	// OOMKills counts the processes the OOM killer killed in the cgroup.
	OOMKills uint64
}

// unlimitedV1 is above what cgroup v1 reports for "no memory limit" (PAGE_COUNTER_MAX pages,
// rounded): any value at least this large means none.
const unlimitedV1 = uint64(1) << 60

// ReadStats reads the cgroup's figures (a container's: ContainerPath) from its v1 hierarchies or
// the unified tree. A cgroup that does not exist fails with errdefs.ErrNotFound.
func ReadStats(fs FS, cgroup string) (Stats, error) {
	if fs.Mode == V2 {
		return readStatsV2(fs, cgroup)
	}
	return readStatsV1(fs, cgroup)
}

func readStatsV1(fs FS, cgroup string) (Stats, error) {
	var st Stats
	r := reader{fs: fs, cgroup: cgroup}
	st.CPUUsageNanos = r.uint("cpuacct", "cpuacct.usage")
	st.MemoryUsage = r.uint("memory", "memory.usage_in_bytes")
	mem := r.keyed("memory", "memory.stat")
	st.MemoryRSS = mem["total_rss"]
	st.MemoryWorkingSet = workingSet(st.MemoryUsage, mem["total_inactive_file"])
	if lim := r.uint("memory", "memory.limit_in_bytes"); lim < unlimitedV1 {
		st.MemoryLimit = lim
	}
	st.OOMKills = r.keyed("memory", "memory.oom_control")["oom_kill"]
	if q := r.int("cpu", "cpu.cfs_quota_us"); q > 0 {
		st.CPUQuota = q
	}
	st.CPUPeriod = r.uint("cpu", "cpu.cfs_period_us")
	st.PidsCurrent = r.uint("pids", "pids.current")
	st.PidsLimit = r.max("pids", "pids.max")
	return st, r.err
}

func readStatsV2(fs FS, cgroup string) (Stats, error) {
	var st Stats
	r := reader{fs: fs, cgroup: cgroup}
	st.CPUUsageNanos = r.keyed("cpu", "cpu.stat")["usage_usec"] * 1000
	st.MemoryUsage = r.uint("memory", "memory.current")
	mem := r.keyed("memory", "memory.stat")
	st.MemoryRSS = mem["anon"]
	st.MemoryWorkingSet = workingSet(st.MemoryUsage, mem["inactive_file"])
	st.MemoryLimit = r.max("memory", "memory.max")
	st.OOMKills = r.keyed("memory", "memory.events")["oom_kill"]
	if f := r.fields("cpu", "cpu.max"); len(f) == 2 {
		if f[0] != "max" {
			st.CPUQuota, _ = strconv.ParseInt(f[0], 10, 64)
		}
		st.CPUPeriod, _ = strconv.ParseUint(f[1], 10, 64)
	}
	st.PidsCurrent = r.uint("pids", "pids.current")
	st.PidsLimit = r.max("pids", "pids.max")
	return st, r.err
}

func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// OOMKills reads only the cgroup's OOM kill counter (memory.oom_control on v1, memory.events on v2).
func OOMKills(fs FS, cgroup string) (uint64, error) {
	r := reader{fs: fs, cgroup: cgroup}
	var n uint64
	if fs.Mode == V2 {
		n = r.keyed("memory", "memory.events")["oom_kill"]
	} else {
		n = r.keyed("memory", "memory.oom_control")["oom_kill"]
	}
	return n, r.err
}

// Procs lists the processes in the cgroup (not in its children), from the pids hierarchy on v1
// (or memory, where pids is not mounted) and the unified tree on v2.
func Procs(fs FS, cgroup string) ([]int, error) {
	ctrl := "pids"
	if _, ok := fs.controller("pids"); !ok && fs.Mode != V2 {
		ctrl = "memory"
	}
	dir, err := fs.dirFor(ctrl, cgroup)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("cgroup %s: %w", cgroup, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read %s: %w", cgroup, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("cgroup.procs of %s: %q is not a pid", cgroup, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// reader reads control files and keeps the first error: a missing cgroup is ErrNotFound, a
// missing file of an existing cgroup (a kernel without that feature) reads as zero.
type reader struct {
	fs     FS
	cgroup string
	err    error
}

func (r *reader) read(ctrl, file string) []byte {
	if r.err != nil {
		return nil
	}
	dir, err := r.fs.dirFor(ctrl, r.cgroup)
	if err != nil {
		if ctrl == "pids" && errdefs.IsNotFound(err) && r.fs.Mode != V2 {
			return nil // a v1 host without the pids controller
		}
		r.err = err
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		if _, serr := os.Stat(dir); errors.Is(serr, iofs.ErrNotExist) {
			r.err = fmt.Errorf("cgroup %s: %w", r.cgroup, errdefs.ErrNotFound)
		} else if !errors.Is(err, iofs.ErrNotExist) {
			r.err = fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
		}
		return nil
	}
	return bytes.TrimSpace(data)
}

func (r *reader) uint(ctrl, file string) uint64 {
	data := r.read(ctrl, file)
	if len(data) == 0 {
		return 0
	}
	v, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("parse %s of %s: %w", file, r.cgroup, err)
	}
	return v
}

func (r *reader) int(ctrl, file string) int64 {
	data := r.read(ctrl, file)
	if len(data) == 0 {
		return 0
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("parse %s of %s: %w", file, r.cgroup, err)
	}
	return v
}

// max reads a value that may be "max" (none, 0).
func (r *reader) max(ctrl, file string) uint64 {
	data := r.read(ctrl, file)
	if len(data) == 0 || string(data) == "max" {
		return 0
	}
	v, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("parse %s of %s: %w", file, r.cgroup, err)
	}
	return v
}

func (r *reader) fields(ctrl, file string) []string {
	return strings.Fields(string(r.read(ctrl, file)))
}

// keyed reads a file of "key value" lines (memory.stat, cpu.stat, memory.events, oom_control).
func (r *reader) keyed(ctrl, file string) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(r.read(ctrl, file)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}
