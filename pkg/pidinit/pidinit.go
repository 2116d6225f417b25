// Package pidinit is PID 1 of a pod's shared PID namespace (shareProcessNamespace: true): the part
// of the kubelet's pause container that podd cannot do without. A PID namespace lives only as long
// as its first process, and every process left without a parent in it becomes that process's
// child: so it is a process of podd's own, not one of the containers (whose restart would kill the
// others), and it reaps what it inherits. It is started by pkg/sandbox from podd-logger (or podd)
// with Arg, and does nothing else: a few hundred kilobytes of memory per such pod.
package pidinit

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Arg is the argument that makes podd or podd-logger run Main.
const Arg = "pod-pid-init"

// Main reaps children until SIGTERM or SIGINT, and returns the exit status. The kernel delivers to
// a PID namespace's first process only the signals it handles (SIGKILL from outside excepted), so
// the containers' processes cannot end it by mistake.
func Main() int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}
