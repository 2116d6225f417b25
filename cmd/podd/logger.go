package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/logs"
)

// The descriptors containerd's binary log driver gives its logger (runtime/v2/logging): the
// container's stdout and stderr, and a pipe to close once ready; CONTAINER_ID and
// CONTAINER_NAMESPACE are in the environment, which podd does not need.
const (
	fdStdout = 3
	fdStderr = 4
	fdReady  = 5
)

// runLogger is podd started by a shim as a container's logger: `podd logger <config>`. It does
// nothing else podd does; see logs.Serve.
func runLogger(arg string) int {
	cfg, err := logs.ParseLoggerConfig(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podd logger:", err)
		return 2
	}
	// Non-blocking descriptors make pollable files, whose reads can be given a deadline.
	for _, fd := range []int{fdStdout, fdStderr} {
		if err := unix.SetNonblock(fd, true); err != nil {
			fmt.Fprintf(os.Stderr, "podd logger: descriptor %d: %v (not started by a containerd shim?)\n", fd, err)
			return 2
		}
	}
	stdout := os.NewFile(fdStdout, "container-stdout")
	stderr := os.NewFile(fdStderr, "container-stderr")
	ready := os.NewFile(fdReady, "ready")
	// The shim sends SIGTERM after it closed its ends of the pipes: read what is left, then exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := logs.Serve(ctx, cfg, stdout, stderr, ready.Close); err != nil {
		// The shim discards a logger's stderr; the message is for someone running it by hand.
		fmt.Fprintln(os.Stderr, "podd logger:", err)
		return 1
	}
	return 0
}
