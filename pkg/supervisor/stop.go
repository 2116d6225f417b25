package supervisor

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/signals"
)

// stopTarget is a running process as the stop contract sees it: a container's main process
// (process, below), or a fake in tests.
type stopTarget interface {
	// Signal delivers sig to the process. An error that errdefs.IsNotFound classifies means the
	// process is already gone.
	Signal(ctx context.Context, sig syscall.Signal) error
	// Exited is closed once the process has ended. It must not be nil.
	Exited() <-chan struct{}
}

// stopProcess ends p the way Kubernetes stops a container: stopSignal (zero means SIGTERM), then up to
// grace for the process to exit, then SIGKILL, then wait for the exit. It returns as soon as the
// process exits rather than when the grace runs out, and killed says whether SIGKILL was sent.
// A grace of zero or less, or a stopSignal of SIGKILL, sends SIGKILL at once.
//
// ctx bounds the whole call: cancelling it abandons the stop without escalating, so a caller that
// gives up (podd shutting down) never kills a workload it did not mean to kill. A process that is
// already gone is not an error.
func stopProcess(ctx context.Context, p stopTarget, stopSignal syscall.Signal, grace time.Duration) (killed bool, err error) {
	if stopSignal == 0 {
		stopSignal = syscall.SIGTERM
	}
	if exited(p) {
		return false, nil
	}

	var stopErr error
	if grace > 0 && stopSignal != syscall.SIGKILL {
		switch err := p.Signal(ctx, stopSignal); {
		case errdefs.IsNotFound(err):
			return false, nil
		case err != nil:
			// A process we could not ask to stop must still be stopped: waiting out the grace
			// would only delay the SIGKILL that follows anyway.
			stopErr = fmt.Errorf("send %s: %w", signals.Name(stopSignal), err)
		default:
			timer := time.NewTimer(grace)
			select {
			case <-p.Exited():
				timer.Stop()
				return false, nil
			case <-ctx.Done():
				timer.Stop()
				return false, fmt.Errorf("wait for exit after %s: %w", signals.Name(stopSignal), ctx.Err())
			case <-timer.C:
			}
		}
	}

	if err := p.Signal(ctx, syscall.SIGKILL); err != nil {
		if errdefs.IsNotFound(err) {
			// It exited on its own between the grace running out and the kill.
			return false, nil
		}
		return false, errors.Join(stopErr, fmt.Errorf("send SIGKILL: %w", err))
	}
	select {
	case <-p.Exited():
		return true, nil
	case <-ctx.Done():
		return true, fmt.Errorf("wait for exit after SIGKILL: %w", ctx.Err())
	}
}

func exited(p stopTarget) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

// process is a container's main process: signalled through the runtime, its exit seen on the
// channel the worker closes when the runtime reports it.
type process struct {
	rt     Runtime
	id     string
	exited chan struct{}
}

func (p process) Signal(ctx context.Context, sig syscall.Signal) error {
	return p.rt.SignalContainer(ctx, p.id, sig)
}

func (p process) Exited() <-chan struct{} { return p.exited }

// stopSignal is the image's STOPSIGNAL as a signal, SIGTERM when it names none (or none podd knows).
func stopSignal(name string) syscall.Signal {
	if sig, err := signals.Parse(name); name != "" && err == nil {
		return sig
	}
	return syscall.SIGTERM
}
