package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// podLimits are the pod cgroup's values: the sums of the containers' (limits only when every
// container sets one) and the pids limit.
func podLimits(p *pod.Pod, pidsLimit int64) cgroups.PodLimits {
	sums := pod.EffectivePodResources(&p.Spec)
	return cgroups.PodLimits{
		CPUShares:   cgroups.MilliCPUToShares(sums.CPURequestMilli),
		CPUQuota:    cgroups.MilliCPUToQuota(sums.CPULimitMilli, cgroups.CPUPeriod),
		CPUPeriod:   cgroups.CPUPeriod,
		MemoryLimit: sums.MemoryLimit,
		PidsLimit:   pidsLimit,
	}
}

func (r *Host) containerCgroup(podUID, id string) string {
	if id == "" {
		return cgroups.PodPath(r.cfg.CgroupParent, podUID)
	}
	return cgroups.ContainerPath(r.cfg.CgroupParent, podUID, id)
}

// CgroupStats reads a container's (or, with id "", the pod's) cgroup figures.
func (r *Host) CgroupStats(ctx context.Context, podUID, id string) (*pod.ContainerStats, error) {
	st, err := cgroups.ReadStats(r.cgroupFS, r.containerCgroup(podUID, id))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	u := func(v uint64) *uint64 { return &v }
	cs := &pod.ContainerStats{
		CPU: &pod.CPUStats{Time: now, UsageCoreNanoSeconds: u(st.CPUUsageNanos)},
		Memory: &pod.MemoryStats{
			Time: now, UsageBytes: u(st.MemoryUsage), WorkingSetBytes: u(st.MemoryWorkingSet),
			RSSBytes: u(st.MemoryRSS), OOMKills: u(st.OOMKills),
		},
		Process: &pod.ProcessStats{ProcessCount: u(st.PidsCurrent)},
	}
	if st.CPUQuota > 0 && st.CPUPeriod > 0 {
		cs.CPU.LimitNanoCores = u(uint64(st.CPUQuota) * 1e9 / st.CPUPeriod)
	}
	if st.MemoryLimit > 0 {
		cs.Memory.LimitBytes = u(st.MemoryLimit)
		avail := uint64(0)
		if st.MemoryLimit > st.MemoryWorkingSet {
			avail = st.MemoryLimit - st.MemoryWorkingSet
		}
		cs.Memory.AvailableBytes = &avail
	}
	if st.PidsLimit > 0 {
		cs.Process.ProcessLimit = u(st.PidsLimit)
	}
	return cs, nil
}

// NetworkStats reads the interface counters of the pod's network namespace over netlink; a pod
// without one of its own (hostNetwork) has none (nil).
func (r *Host) NetworkStats(ctx context.Context, podUID string) (*pod.NetworkStats, error) {
	path := r.nsPath(netNS, podUID)
	if ok, _ := isNSFile(path); !ok {
		return nil, nil
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace of pod %s: %w", podUID, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in pod %s: %w", podUID, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces of pod %s: %w", podUID, err)
	}
	var rx, tx uint64
	out := &pod.NetworkStats{Time: time.Now().UTC()}
	for _, l := range links {
		a := l.Attrs()
		if a.Statistics == nil {
			continue
		}
		s := a.Statistics
		rxB, txB, rxE, txE := s.RxBytes, s.TxBytes, s.RxErrors, s.TxErrors
		out.Interfaces = append(out.Interfaces, pod.InterfaceStats{Name: a.Name, RxBytes: &rxB, TxBytes: &txB, RxErrors: &rxE, TxErrors: &txE})
		if a.Name != "lo" {
			rx += s.RxBytes
			tx += s.TxBytes
		}
	}
	out.RxBytes, out.TxBytes = &rx, &tx
	return out, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux podd runs on.
const clockTicks = 100

// Processes lists the processes in a container's cgroup from /proc.
func (r *Host) Processes(ctx context.Context, podUID, id string) ([]pod.ProcessInfo, error) {
	pids, err := cgroups.Procs(r.cgroupFS, r.containerCgroup(podUID, id))
	if err != nil {
		return nil, err
	}
	out := []pod.ProcessInfo{}
	users := map[string]string{}
	for _, pid := range pids {
		info, ok := processInfo(pid, users)
		if ok {
			out = append(out, info)
		}
	}
	return out, nil
}

// processInfo reads one process; ok is false when it exited meanwhile.
func processInfo(pid int, users map[string]string) (pod.ProcessInfo, bool) {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return pod.ProcessInfo{}, false
	}
	info := pod.ProcessInfo{PID: pid}
	// The command name is in parentheses and may hold spaces; the fields after it are fixed.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseUint(f[11], 10, 64)
			st, _ := strconv.ParseUint(f[12], 10, 64)
			info.CPUSeconds = float64(ut+st) / clockTicks
		}
		if j := bytes.IndexByte(stat, '('); j >= 0 && j < i {
			info.Command = string(stat[j+1 : i])
		}
	}
	if cmdline, err := os.ReadFile(filepath.Join(proc, "cmdline")); err == nil && len(cmdline) > 0 {
		info.Command = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	uid := ""
	if status, err := os.ReadFile(filepath.Join(proc, "status")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(status))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					uid = f[0]
				}
				break
			}
		}
	}
	info.User = uid
	if name, ok := users[uid]; ok {
		info.User = name
	} else if uid != "" {
		// The name as the container knows it: its own /etc/passwd, seen through /proc/<pid>/root.
		if name := lookupUser(filepath.Join(proc, "root"), uid); name != "" {
			info.User = name
		}
		users[uid] = info.User
	}
	return info, true
}

// maxPasswd bounds how much of a container's /etc/passwd podd reads: the container can write it.
const maxPasswd = 1 << 20

// lookupUser finds uid's name in root's /etc/passwd. The file is resolved inside root (a symlink
// of the container's cannot send podd to the host's files) and must be a regular file, of which
// at most maxPasswd bytes are read.
func lookupUser(root, uid string) string {
	data, err := readInRoot(root, "etc/passwd", maxPasswd)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == uid {
			return f[0]
		}
	}
	return ""
}

// readInRoot reads at most limit bytes of the regular file at path, resolved inside root.
func readInRoot(root, path string, limit int64) ([]byte, error) {
	dir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	handle, err := pathrs.OpenatInRoot(dir, path)
	if err != nil {
		return nil, err
	}
	defer handle.Close()
	f, err := pathrs.Reopen(handle, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

var _ supervisor.StatsRuntime = (*Host)(nil)
