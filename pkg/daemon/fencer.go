package daemon

import (
	"context"
	"fmt"
	"syscall"

	"github.com/podd-dev/podd/pkg/runtime"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// fencer enforces a lost leadership on a pod's containers (elections.Fencer): freeze and thaw
// through containerd's task Pause and Resume (the cgroup freezer), signals through the task
// service, stops through the supervisor's stop contract. A container that is not running has
// nothing to enforce.
type fencer struct {
	mgr *supervisor.Manager
	rt  *runtime.Runtime
}

func (f fencer) running(namespace, pod, container string) (string, bool, error) {
	return f.mgr.RunningContainer(namespace, pod, container)
}

func (f fencer) Freeze(ctx context.Context, namespace, pod, container string) error {
	id, running, err := f.running(namespace, pod, container)
	if err != nil || !running {
		return err
	}
	return f.rt.PauseContainer(ctx, id)
}

func (f fencer) Thaw(ctx context.Context, namespace, pod, container string) error {
	id, _, err := f.running(namespace, pod, container)
	if err != nil || id == "" {
		return err
	}
	return f.rt.ResumeContainer(ctx, id)
}

func (f fencer) Signal(ctx context.Context, namespace, pod, container string, sig syscall.Signal) error {
	id, running, err := f.running(namespace, pod, container)
	if err != nil || !running {
		return err
	}
	return f.rt.SignalContainer(ctx, id, sig)
}

func (f fencer) Stop(ctx context.Context, namespace, pod, container string) error {
	return f.mgr.KillContainer(ctx, namespace, pod, container, "",
		fmt.Sprintf("Container %s of a leader that lost its lease (podd.io/leader-fence: stop), will be restarted", container))
}
