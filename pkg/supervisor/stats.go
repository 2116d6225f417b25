package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// StatsRuntime is what stats, top and metrics need from the runtime; pkg/runtime implements it.
// A runtime without it answers errdefs.ErrNotImplemented.
type StatsRuntime interface {
	// CgroupStats fills the cumulative figures (no usageNanoCores) of a container's cgroup, or
	// of the pod's cgroup when containerID is "". A cgroup that is gone is errdefs.ErrNotFound.
	CgroupStats(ctx context.Context, podUID, containerID string) (*pod.ContainerStats, error)
	// NetworkStats reads the pod's network namespace; nil without one (hostNetwork).
	NetworkStats(ctx context.Context, podUID string) (*pod.NetworkStats, error)
	// Processes lists the processes in a container's cgroup.
	Processes(ctx context.Context, podUID, containerID string) ([]pod.ProcessInfo, error)
}

// cpuSamples keeps each container's previous cpu sample, so that usageNanoCores is the rate over
// the window since the previous request (a watch's interval); without a recent one, stats samples
// twice, cpuSampleWindow apart.
type cpuSamples struct {
	mu sync.Mutex
	m  map[string]cpuSample // cgroup key → sample
}

type cpuSample struct {
	at    time.Time
	usage uint64
}

const (
	cpuSampleWindow = 250 * time.Millisecond
	cpuSampleMaxAge = 5 * time.Minute
)

func (s *cpuSamples) swap(key string, now cpuSample) (cpuSample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]cpuSample{}
	}
	prev, ok := s.m[key]
	s.m[key] = now
	for k, v := range s.m {
		if now.at.Sub(v.at) > cpuSampleMaxAge {
			delete(s.m, k)
		}
	}
	return prev, ok && now.at.Sub(prev.at) <= cpuSampleMaxAge && now.at.After(prev.at) && now.usage >= prev.usage
}

// statsTarget is what stats reads for one container, copied under the manager's lock.
type statsTarget struct {
	name    string
	id      string
	started *time.Time
}

func (m *Manager) statsRuntime() (StatsRuntime, error) {
	sr, ok := m.sb.(StatsRuntime)
	if !ok {
		return nil, fmt.Errorf("the runtime has no stats: %w", errdefs.ErrNotImplemented)
	}
	return sr, nil
}

// podTargets copies the pod and its running containers (init containers and sidecars first).
func (m *Manager) podTargets(namespace, name string) (*pod.Pod, []statsTarget, error) {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return nil, nil, err
	}
	p, ctrs := w.view()
	var out []statsTarget
	for _, c := range ctrs {
		if c.running && c.id != "" {
			t := statsTarget{name: c.name, id: c.id}
			if r := c.status.State.Running; r != nil {
				t.started = r.StartedAt
			}
			out = append(out, t)
		}
	}
	return p, out, nil
}

// Stats reads the pod's figures: its cgroup's, its running containers' and its network's.
func (m *Manager) Stats(ctx context.Context, namespace, name string) (*pod.PodStats, error) {
	sr, err := m.statsRuntime()
	if err != nil {
		return nil, err
	}
	p, targets, err := m.podTargets(namespace, name)
	if err != nil {
		return nil, err
	}
	uid := p.Metadata.UID
	out := &pod.PodStats{
		PodRef:     pod.PodReference{Name: p.Metadata.Name, Namespace: p.Metadata.Namespace, UID: uid},
		StartTime:  p.Status.StartTime,
		QOSClass:   p.Status.QOSClass,
		Containers: []pod.ContainerStats{},
	}
	read := func(id string) (*pod.ContainerStats, bool, error) {
		cs, err := sr.CgroupStats(ctx, uid, id)
		if errdefs.IsNotFound(err) {
			return nil, false, nil // exited meanwhile, or not created yet
		}
		if err != nil {
			return nil, false, err
		}
		fresh := m.rate(uid+"/"+id, cs)
		return cs, fresh, nil
	}
	podCS, fresh, err := read("")
	if err != nil {
		return nil, err
	}
	stale := !fresh && podCS != nil
	ctrs := make([]*pod.ContainerStats, len(targets))
	for i, t := range targets {
		cs, fresh, err := read(t.id)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", t.name, err)
		}
		ctrs[i] = cs
		stale = stale || (!fresh && cs != nil)
	}
	if stale {
		// No earlier sample to take a rate from: take a second one a moment later.
		select {
		case <-time.After(cpuSampleWindow):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if podCS, _, err = read(""); err != nil {
			return nil, err
		}
		for i, t := range targets {
			if ctrs[i] == nil {
				continue
			}
			if ctrs[i], _, err = read(t.id); err != nil {
				return nil, fmt.Errorf("container %s: %w", t.name, err)
			}
		}
	}
	if podCS != nil {
		out.CPU, out.Memory, out.Process = podCS.CPU, podCS.Memory, podCS.Process
	}
	for i, t := range targets {
		if ctrs[i] == nil {
			continue
		}
		cs := *ctrs[i]
		cs.Name, cs.StartTime = t.name, t.started
		out.Containers = append(out.Containers, cs)
	}
	if out.Network, err = sr.NetworkStats(ctx, uid); err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("network: %w", err)
	}
	return out, nil
}

// rate sets usageNanoCores from the previous sample of the same cgroup; false when there was none.
func (m *Manager) rate(key string, cs *pod.ContainerStats) bool {
	if cs.CPU == nil || cs.CPU.UsageCoreNanoSeconds == nil {
		return true
	}
	now := cpuSample{at: cs.CPU.Time, usage: *cs.CPU.UsageCoreNanoSeconds}
	prev, ok := m.samples.swap(key, now)
	if !ok {
		return false
	}
	nano := uint64(float64(now.usage-prev.usage) / now.at.Sub(prev.at).Seconds())
	cs.CPU.UsageNanoCores = &nano
	return true
}

// AllStats reads every pod of a namespace ("" for all); pods removed meanwhile are left out.
func (m *Manager) AllStats(ctx context.Context, namespace string) ([]*pod.PodStats, error) {
	pods, err := m.List(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := []*pod.PodStats{}
	for _, p := range pods {
		s, err := m.Stats(ctx, p.Metadata.Namespace, p.Metadata.Name)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.Metadata.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Top lists the processes of each running container of the pod.
func (m *Manager) Top(ctx context.Context, namespace, name string) ([]pod.ContainerProcesses, error) {
	sr, err := m.statsRuntime()
	if err != nil {
		return nil, err
	}
	p, targets, err := m.podTargets(namespace, name)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("pod %q has no running container: %w", name, errdefs.ErrFailedPrecondition)
	}
	out := []pod.ContainerProcesses{}
	for _, t := range targets {
		procs, err := sr.Processes(ctx, p.Metadata.UID, t.id)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", t.name, err)
		}
		out = append(out, pod.ContainerProcesses{Name: t.name, Processes: procs})
	}
	return out, nil
}

// CgroupSnapshot is what metrics read of one container at scrape time: cumulative figures only.
type CgroupSnapshot struct {
	Pod       *pod.Pod
	Container string // "" for the pod
	Stats     *pod.ContainerStats
	Network   *pod.NetworkStats // pod only
}

// Snapshots reads the cumulative figures of every pod and running container, for a metrics
// scrape; no rates, no waiting. Pods or containers that vanish meanwhile are left out.
func (m *Manager) Snapshots(ctx context.Context) ([]CgroupSnapshot, error) {
	sr, err := m.statsRuntime()
	if err != nil {
		return nil, err
	}
	pods, err := m.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []CgroupSnapshot
	var errs []error
	for _, p := range pods {
		_, targets, err := m.podTargets(p.Metadata.Namespace, p.Metadata.Name)
		if err != nil {
			continue
		}
		net, err := sr.NetworkStats(ctx, p.Metadata.UID)
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
		out = append(out, CgroupSnapshot{Pod: p, Network: net})
		for _, t := range targets {
			cs, err := sr.CgroupStats(ctx, p.Metadata.UID, t.id)
			if errdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			cs.Name, cs.StartTime = t.name, t.started
			out = append(out, CgroupSnapshot{Pod: p, Container: t.name, Stats: cs})
		}
	}
	return out, errors.Join(errs...)
}
