package runtime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// resourceOpts sets the container's cgroup values and oom_score_adj as the kubelet does: cpu
// shares from the request (2 without one), a CFS quota over 100 ms from the cpu limit, the memory
// limit, and oom_score_adj by the pod's QoS class. runc writes shares as cpu.weight on cgroup v2.
func resourceOpts(p *pod.ContainerPlan, machineMemory int64, oomFloor int) []oci.SpecOpts {
	r := p.Resources
	var cpuReq, cpuLim, memReq, memLim int64
	if q, ok := r.Requests[pod.ResourceCPU]; ok {
		cpuReq = q.MilliValue()
	}
	if q, ok := r.Limits[pod.ResourceCPU]; ok {
		cpuLim = q.MilliValue()
	}
	if q, ok := r.Requests[pod.ResourceMemory]; ok {
		memReq = q.Value()
	}
	if q, ok := r.Limits[pod.ResourceMemory]; ok {
		memLim = q.Value()
	}
	opts := []oci.SpecOpts{oci.WithCPUShares(cgroups.MilliCPUToShares(cpuReq))}
	if quota := cgroups.MilliCPUToQuota(cpuLim, cgroups.CPUPeriod); quota > 0 {
		opts = append(opts, oci.WithCPUCFS(quota, cgroups.CPUPeriod))
	}
	if memLim > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(memLim)))
	}
	qos := p.QOSClass
	if qos == "" {
		qos = pod.QOSBestEffort
	}
	adj := max(pod.OOMScoreAdj(qos, memReq, machineMemory), oomFloor)
	opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.OOMScoreAdj = &adj
		return nil
	})
	return opts
}

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

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/<pid>/status's CapEff.
const capSysResource = 24

// oomScoreAdjFloor is the lowest oom_score_adj podd can give a container: -1000 with
// CAP_SYS_RESOURCE; without it (some sandboxes drop it even for root) the kernel refuses any value
// below 0 and runc fails to start the container, so values are raised to 0 — what containerd's
// CRI calls restrict_oom_score_adj.
func oomScoreAdjFloor() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			if err == nil && caps&(1<<capSysResource) != 0 {
				return -1000
			}
			return 0
		}
	}
	return 0
}

// machineMemory is MemTotal from /proc/meminfo in bytes, the kubelet's memory capacity.
func machineMemory() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb * 1024, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

func (r *Runtime) containerCgroup(podUID, id string) string {
	if id == "" {
		return cgroups.PodPath(r.cfg.CgroupParent, podUID)
	}
	return cgroups.ContainerPath(r.cfg.CgroupParent, podUID, id)
}

// CgroupStats reads a container's (or, with id "", the pod's) cgroup figures.
func (r *Runtime) CgroupStats(ctx context.Context, podUID, id string) (*pod.ContainerStats, error) {
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
func (r *Runtime) NetworkStats(ctx context.Context, podUID string) (*pod.NetworkStats, error) {
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
func (r *Runtime) Processes(ctx context.Context, podUID, id string) ([]pod.ProcessInfo, error) {
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
		if name := lookupUser(filepath.Join(proc, "root", "etc", "passwd"), uid); name != "" {
			info.User = name
		}
		users[uid] = info.User
	}
	return info, true
}

func lookupUser(passwd, uid string) string {
	data, err := os.ReadFile(passwd)
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

// oomWatch fans containerd's /tasks/oom events out to the containers that watch for them. One
// subscription serves every container; it reconnects when containerd restarts.
type oomWatch struct {
	mu   sync.Mutex
	subs map[string]chan struct{} // container ID → signal
	once sync.Once
}

// subscribe returns a channel that gets a value (coalesced) on each OOM event of the container.
func (r *Runtime) oomSubscribe(ctx context.Context, id string) (<-chan struct{}, func()) {
	r.oom.once.Do(func() {
		r.oom.subs = map[string]chan struct{}{}
		go r.oomEvents(context.WithoutCancel(ctx))
	})
	ch := make(chan struct{}, 1)
	r.oom.mu.Lock()
	r.oom.subs[id] = ch
	r.oom.mu.Unlock()
	return ch, func() {
		r.oom.mu.Lock()
		if r.oom.subs[id] == ch {
			delete(r.oom.subs, id)
		}
		r.oom.mu.Unlock()
	}
}

func (r *Runtime) oomEvents(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		if r.closed.Load() {
			return
		}
		evs, errs := r.client.Subscribe(ctx, fmt.Sprintf(`namespace==%q,topic=="/tasks/oom"`, r.cfg.Namespace))
	loop:
		for {
			select {
			case env := <-evs:
				backoff = 100 * time.Millisecond
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				oom, ok := v.(*apievents.TaskOOM)
				if !ok {
					continue
				}
				r.oom.mu.Lock()
				if ch := r.oom.subs[oom.ContainerID]; ch != nil {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
				r.oom.mu.Unlock()
			case err := <-errs:
				if r.closed.Load() {
					return
				}
				r.log.Debug("OOM event subscription ended; subscribing again", "err", err)
				break loop
			}
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// oomGrace is how long an OOM event waits for the main process's exit before it counts as the
// kill of another process: the event can arrive before the exit of the process it killed.
const oomGrace = time.Second

// oomTracker attributes a container's OOM kills: to its main process when it ends by SIGKILL
// with the cgroup's counter above what was already reported, to other processes otherwise.
type oomTracker struct {
	r        *Runtime
	cgroup   string
	reported uint64
}

func (r *Runtime) newOOMTracker(podUID, id string) *oomTracker {
	t := &oomTracker{r: r, cgroup: r.containerCgroup(podUID, id)}
	t.reported, _ = cgroups.OOMKills(r.cgroupFS, t.cgroup)
	return t
}

// more reads the counter and returns the kills not reported yet.
func (t *oomTracker) more() uint64 {
	n, err := cgroups.OOMKills(t.r.cgroupFS, t.cgroup)
	if err != nil || n <= t.reported {
		return 0
	}
	return n - t.reported
}

// exitOOM: the main process ended by SIGKILL and the kernel counted an OOM kill not yet reported.
func (t *oomTracker) exitOOM(code uint32) bool {
	return code == 128+9 && t.more() > 0
}

var _ supervisor.StatsRuntime = (*Runtime)(nil)
