package ctl

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/podd-dev/podd/pkg/api"
)

// terminal is a stream that is a terminal.
type terminal struct {
	fd int
}

// terminalOf tells whether a stream is a terminal.
func terminalOf(stream any) (terminal, bool) {
	f, ok := stream.(interface{ Fd() uintptr })
	if !ok {
		return terminal{}, false
	}
	fd := int(f.Fd())
	return terminal{fd: fd}, term.IsTerminal(fd)
}

func (t terminal) size() (api.TermSize, error) {
	w, h, err := term.GetSize(t.fd)
	if err != nil {
		return api.TermSize{}, err
	}
	return api.TermSize{Width: uint16(w), Height: uint16(h)}, nil
}

// makeRaw puts the terminal in raw mode, so that keys (Ctrl-C too) go to the remote command as
// typed, and returns how to restore it.
func (t terminal) makeRaw() (func(), error) {
	state, err := term.MakeRaw(t.fd)
	if err != nil {
		return nil, err
	}
	return func() { term.Restore(t.fd, state) }, nil
}

// watchResize sends the terminal's size on ch whenever the window changes (SIGWINCH), keeping only
// the latest, until stop is called.
func (t terminal) watchResize(ch chan api.TermSize) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				size, err := t.size()
				if err != nil {
					continue
				}
				select {
				case <-ch:
				default:
				}
				ch <- size
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}
