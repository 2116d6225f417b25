package supervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/podd-dev/podd/pkg/pod"
)

// HostPortsChecker is implemented by a runtime that can tell whether the host has a pod's
// hostPorts free; CreatePods asks it before it stores anything.
type HostPortsChecker interface {
	CheckHostPorts(ctx context.Context, p *pod.Pod) error
}

// hostPortConflictsLocked refuses pods whose hostPorts other pods hold: those that exist, those
// being created, and those created with them. m.mu is held, so two creations cannot both win.
func (m *Manager) hostPortConflictsLocked(pods []*pod.Pod) error {
	others := make([]*pod.Pod, 0, len(m.pods)+len(m.creating)+len(pods))
	for _, w := range m.pods {
		others = append(others, w.rec.Pod) // the spec is fixed: no need of the worker's lock
	}
	for _, p := range m.creating {
		others = append(others, p)
	}
	var errs []error
	for _, p := range pods {
		if len(pod.HostPorts(p)) == 0 {
			continue
		}
		if err := pod.HostPortConflicts(p, others); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Metadata.Name, err))
		}
		others = append(others, p)
	}
	return errors.Join(errs...)
}

// probeHostPorts refuses pods whose hostPorts a process on the host holds, when the sandbox can
// tell. It binds the ports for a moment, outside the manager's lock.
func (m *Manager) probeHostPorts(ctx context.Context, pods []*pod.Pod) error {
	c, ok := m.sb.(HostPortsChecker)
	if !ok {
		return nil
	}
	var errs []error
	for _, p := range pods {
		if len(pod.HostPorts(p)) == 0 {
			continue
		}
		if err := c.CheckHostPorts(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Metadata.Name, err))
		}
	}
	return errors.Join(errs...)
}
