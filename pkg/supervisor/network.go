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

// checkHostPortsLocked refuses pods whose hostPorts other pods (those known and those created
// with them) or processes on the host hold. m.mu must be held, so two creations cannot both win.
func (m *Manager) checkHostPortsLocked(ctx context.Context, pods []*pod.Pod) error {
	others := make([]*pod.Pod, 0, len(m.pods)+len(pods))
	for _, w := range m.pods {
		others = append(others, w.rec.Pod)
	}
	var errs []error
	for _, p := range pods {
		if len(pod.HostPorts(p)) == 0 {
			continue
		}
		err := pod.HostPortConflicts(p, others)
		if c, ok := m.sb.(HostPortsChecker); ok && err == nil {
			err = c.CheckHostPorts(ctx, p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Metadata.Name, err))
		}
		others = append(others, p)
	}
	return errors.Join(errs...)
}
