package pod

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// AnnotationLeaderFence asks podd to enforce a lost leadership on the pod's guarded containers
// (local leader elections): "freeze" pauses them (cgroup freezer) until the pod acknowledges the
// loss, "stop" stops them (SIGTERM, grace, SIGKILL; restartPolicy applies), "signal:SIGUSR1"
// sends them that signal. Without it podd only tells (events, the election's watch).
const AnnotationLeaderFence = "podd.io/leader-fence"

// Leader fence modes.
const (
	FenceNone   = ""
	FenceFreeze = "freeze"
	FenceStop   = "stop"
	FenceSignal = "signal"
)

// LeaderFence is the pod's podd.io/leader-fence annotation, read.
type LeaderFence struct {
	Mode   string
	Signal syscall.Signal // for FenceSignal
}

// ParseLeaderFence reads the annotation's value ("" or absent: no enforcement).
func ParseLeaderFence(v string) (LeaderFence, error) {
	v = strings.TrimSpace(v)
	switch v {
	case "", "none":
		return LeaderFence{}, nil
	case FenceFreeze, FenceStop:
		return LeaderFence{Mode: v}, nil
	}
	name, ok := strings.CutPrefix(v, FenceSignal+":")
	if !ok {
		return LeaderFence{}, fmt.Errorf(`must be "freeze", "stop" or "signal:NAME" (e.g. signal:SIGUSR1)`)
	}
	sig, err := parseSignal(name)
	if err != nil {
		return LeaderFence{}, err
	}
	return LeaderFence{Mode: FenceSignal, Signal: sig}, nil
}

// parseSignal reads a signal's name (SIGUSR1, USR1, usr1) or number (1 to 64).
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range [1, 64]", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig, ok := signalNames[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("%q is not a signal (e.g. SIGUSR1, SIGHUP, or a number)", s)
}

// signalNames are Linux's standard signals by name, as Kubernetes' own API lists them for a
// container's stopSignal: the model names them itself, with the standard library's numbers, so
// that it imports nothing beyond the standard library (pkg/signals, which the runtime uses, reads
// the same names through x/sys).
var signalNames = map[string]syscall.Signal{
	"SIGHUP": syscall.SIGHUP, "SIGINT": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT, "SIGILL": syscall.SIGILL,
	"SIGTRAP": syscall.SIGTRAP, "SIGABRT": syscall.SIGABRT, "SIGBUS": syscall.SIGBUS, "SIGFPE": syscall.SIGFPE,
	"SIGKILL": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1, "SIGSEGV": syscall.SIGSEGV, "SIGUSR2": syscall.SIGUSR2,
	"SIGPIPE": syscall.SIGPIPE, "SIGALRM": syscall.SIGALRM, "SIGTERM": syscall.SIGTERM, "SIGSTKFLT": syscall.SIGSTKFLT,
	"SIGCHLD": syscall.SIGCHLD, "SIGCONT": syscall.SIGCONT, "SIGSTOP": syscall.SIGSTOP, "SIGTSTP": syscall.SIGTSTP,
	"SIGTTIN": syscall.SIGTTIN, "SIGTTOU": syscall.SIGTTOU, "SIGURG": syscall.SIGURG, "SIGXCPU": syscall.SIGXCPU,
	"SIGXFSZ": syscall.SIGXFSZ, "SIGVTALRM": syscall.SIGVTALRM, "SIGPROF": syscall.SIGPROF, "SIGWINCH": syscall.SIGWINCH,
	"SIGIO": syscall.SIGIO, "SIGPWR": syscall.SIGPWR, "SIGSYS": syscall.SIGSYS,
}

// LeaderFenceOf is the pod's leader fence (none when the annotation is absent or malformed:
// validation refuses a malformed one before a pod runs).
func LeaderFenceOf(p *Pod) LeaderFence {
	f, err := ParseLeaderFence(p.Metadata.Annotations[AnnotationLeaderFence])
	if err != nil {
		return LeaderFence{}
	}
	return f
}

func checkLeaderFence(p *Pod, errs *ErrorList) {
	v, ok := p.Metadata.Annotations[AnnotationLeaderFence]
	if !ok {
		return
	}
	if _, err := ParseLeaderFence(v); err != nil {
		errs.invalid("metadata.annotations["+AnnotationLeaderFence+"]", v, err.Error())
	}
}
