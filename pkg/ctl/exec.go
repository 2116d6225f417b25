package ctl

import (
	"context"
	"fmt"
	"io"

	"github.com/podd-dev/podd/pkg/api"
)

// ExecOptions are podctl exec's.
type ExecOptions struct {
	Namespace string
	Name      string
	// Container is where to run; "" is the pod's first container.
	Container string
	Command   []string
	// Stdin forwards standard input; without it the command reads nothing.
	Stdin bool
	// TTY asks for a terminal. With Stdin and a terminal on standard input, the local terminal is
	// put in raw mode and its size follows the window's.
	TTY bool
}

// Exec runs a command in a container and returns its exit code.
func Exec(ctx context.Context, c *api.Client, o ExecOptions, s Streams) (int, error) {
	if len(o.Command) == 0 {
		return -1, Usagef("exec: missing COMMAND: podctl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]")
	}
	req := api.ExecRequest{Container: o.Container, Command: o.Command, Stdin: o.Stdin, TTY: o.TTY}
	var stdin io.Reader
	if o.Stdin {
		stdin = s.In
	}
	var resize chan api.TermSize
	if o.TTY {
		in, inIsTerm := terminalOf(s.In)
		if o.Stdin && !inIsTerm {
			// Keystrokes are not what a pipe carries; a TTY would only mangle the data.
			fmt.Fprintln(s.Err, "Unable to use a TTY - input is not a terminal")
			req.TTY = false
		} else {
			sizeOf, ok := terminalOf(s.Out)
			if !ok {
				sizeOf, ok = in, inIsTerm
			}
			if ok {
				if size, err := sizeOf.size(); err == nil {
					req.Size = &size
				}
				resize = make(chan api.TermSize, 1)
				stop := sizeOf.watchResize(resize)
				defer stop()
			}
			if o.Stdin {
				restore, err := in.makeRaw()
				if err != nil {
					return -1, fmt.Errorf("exec: put the terminal in raw mode: %w", err)
				}
				defer restore()
			}
		}
	}
	return c.Exec(ctx, o.Namespace, o.Name, req, stdin, s.Out, s.Err, resize)
}
