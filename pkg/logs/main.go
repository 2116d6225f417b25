package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The descriptors containerd's binary log driver gives its logger (runtime/v2/logging): the
// container's stdout and stderr, and a pipe to close once ready; CONTAINER_ID and
// CONTAINER_NAMESPACE are in the environment, which the logger does not need.
const (
	fdStdout = 3
	fdStderr = 4
	fdReady  = 5
)

// LoggerMain is a container's logger as a shim starts it (`podd-logger logger <config>`, or
// `podd logger <config>`): it serves until the shim ends the container's output, and returns the
// process's exit code. Messages go to errOut, which the shim discards: they are for someone
// running it by hand.
func LoggerMain(arg string, errOut io.Writer) int {
	cfg, err := ParseLoggerConfig(arg)
	if err != nil {
		fmt.Fprintln(errOut, "podd logger:", err)
		return 2
	}
	// Non-blocking descriptors make pollable files, whose reads can be given a deadline.
	for _, fd := range []int{fdStdout, fdStderr} {
		if err := unix.SetNonblock(fd, true); err != nil {
			fmt.Fprintf(errOut, "podd logger: descriptor %d: %v (not started by a containerd shim?)\n", fd, err)
			return 2
		}
	}
	stdout := os.NewFile(fdStdout, "container-stdout")
	stderr := os.NewFile(fdStderr, "container-stderr")
	ready := os.NewFile(fdReady, "ready")
	// The pod's logs cgroup is joined right after the shim was told the logger is ready, and
	// before Serve reads a byte of output: all the logger does for the container is the pod's.
	// Until it has joined, the container can write no more than the pipes hold (64 KiB a stream)
	// before it blocks; in practice it has not even started, since the shim runs runc create
	// (30-50 ms here) after readiness and the join takes 5-10 ms. Joining before readiness made
	// the shim wait for it while it holds its create lock: the first write to a cgroup v1
	// cgroup.procs waits for an RCU grace period, and a pod's containers share one shim that
	// creates them one after the other, so a pod's start paid that once per container.
	// A cgroup that cannot be joined is reported (to whoever runs it by hand) but stops nothing:
	// losing the container's output would be worse.
	readyThenJoin := func() error {
		err := ready.Close()
		if jerr := JoinCgroups(cfg.Cgroups, os.Getpid()); jerr != nil {
			fmt.Fprintln(errOut, "podd logger:", jerr)
		}
		return err
	}
	// The shim sends SIGTERM after it closed its ends of the pipes: read what is left, then exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, cfg, stdout, stderr, readyThenJoin); err != nil {
		fmt.Fprintln(errOut, "podd logger:", err)
		return 1
	}
	return 0
}

// JoinCgroups moves the process pid (all its threads) into the cgroups whose cgroup.procs files
// are procs.
func JoinCgroups(procs []string, pid int) error {
	var errs []error
	for _, p := range procs {
		if err := os.WriteFile(p, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("join cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}
