// Package ctl is what podctl's commands do: each verb has an options struct, filled from the
// command line by cmd/podctl, and a function that talks to podd through an api.Client and writes
// to the streams it is given, so that tests run it without a terminal or a process.
package ctl

import (
	"fmt"
	"io"
	"time"
)

// Streams are the standard streams of a command.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// UsageError is a mistake on the command line; podctl exits with status 2 on it.
type UsageError struct {
	Message string
}

func (e *UsageError) Error() string { return e.Message }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Message: fmt.Sprintf(format, args...)}
}

// ExitError asks podctl to exit with Code and to print nothing: the exit status of a command run by
// exec.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

// now is the clock of ages; tests set it.
var now = time.Now

// DefaultNamespace is the namespace of pods when none is given.
const DefaultNamespace = "default"
