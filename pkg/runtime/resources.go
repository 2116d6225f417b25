package runtime

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
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

// oomGrace is how long an OOM event waits for the main process's exit before it counts as the
// kill of another process: the event can arrive before the exit of the process it killed.
const oomGrace = time.Second

// oomTracker attributes a container's OOM kills: to its main process when it ends by SIGKILL
// with the cgroup's counter above what was already reported, to other processes otherwise.
type oomTracker struct {
	// count reads the cgroup's OOM kill counter.
	count    func() (uint64, error)
	reported uint64
}

func (r *Runtime) newOOMTracker(podUID, id string) *oomTracker {
	cgroup := r.containerCgroup(podUID, id)
	t := &oomTracker{count: func() (uint64, error) { return cgroups.OOMKills(r.cgroupFS, cgroup) }}
	t.reported, _ = t.count()
	return t
}

// more reads the counter and returns the kills not reported yet.
func (t *oomTracker) more() uint64 {
	n, err := t.count()
	if err != nil || n <= t.reported {
		return 0
	}
	return n - t.reported
}

// exitOOM: the main process ended by SIGKILL and the kernel counted an OOM kill not yet reported.
func (t *oomTracker) exitOOM(code uint32) bool {
	return code == 128+9 && t.more() > 0
}

func (r *Runtime) containerCgroup(podUID, id string) string {
	if id == "" {
		return cgroups.PodPath(r.cfg.CgroupParent, podUID)
	}
	return cgroups.ContainerPath(r.cfg.CgroupParent, podUID, id)
}
