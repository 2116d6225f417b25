package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// fakeProcess reacts to each signal as react says; it records the signals in the order received.
type fakeProcess struct {
	mu       sync.Mutex
	received []syscall.Signal
	exit     chan struct{}
	once     sync.Once
	react    func(p *fakeProcess, sig syscall.Signal) error
}

func (p *fakeProcess) Signal(_ context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	p.received = append(p.received, sig)
	p.mu.Unlock()
	if p.react == nil {
		return nil
	}
	return p.react(p, sig)
}

func (p *fakeProcess) Exited() <-chan struct{} { return p.exit }

func (p *fakeProcess) die() { p.once.Do(func() { close(p.exit) }) }

func (p *fakeProcess) signals() []syscall.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.received)
}

// Reactions.
var (
	diesOn = func(sigs ...syscall.Signal) func(*fakeProcess, syscall.Signal) error {
		return func(p *fakeProcess, sig syscall.Signal) error {
			if slices.Contains(sigs, sig) {
				p.die()
			}
			return nil
		}
	}
	// diesSoonOn exits a little after the signal, from another goroutine, as a real process does.
	diesSoonOn = func(want syscall.Signal) func(*fakeProcess, syscall.Signal) error {
		return func(p *fakeProcess, sig syscall.Signal) error {
			if sig == want {
				go func() { time.Sleep(10 * time.Millisecond); p.die() }()
			}
			return nil
		}
	}
	notFoundOn = func(want syscall.Signal, next func(*fakeProcess, syscall.Signal) error) func(*fakeProcess, syscall.Signal) error {
		return func(p *fakeProcess, sig syscall.Signal) error {
			if sig == want {
				p.die()
				return fmt.Errorf("process already finished: %w", errdefs.ErrNotFound)
			}
			return next(p, sig)
		}
	}
	errOn = func(want syscall.Signal, next func(*fakeProcess, syscall.Signal) error) func(*fakeProcess, syscall.Signal) error {
		return func(p *fakeProcess, sig syscall.Signal) error {
			if sig == want {
				return fmt.Errorf("ttrpc: closed: %w", errdefs.ErrUnavailable)
			}
			return next(p, sig)
		}
	}
	ignoresAll = func(*fakeProcess, syscall.Signal) error { return nil }
)

func TestStop(t *testing.T) {
	const (
		short = 50 * time.Millisecond
		// long is a grace the test must never wait out; ctx's deadline turns such a wait into
		// a failure rather than a hang.
		long = time.Hour
	)
	tests := []struct {
		name       string
		react      func(*fakeProcess, syscall.Signal) error
		exitedPrev bool
		stopSignal syscall.Signal
		grace      time.Duration
		cancelOn   syscall.Signal // cancel ctx when this signal is received
		wantSigs   []syscall.Signal
		wantKilled bool
		wantErr    error
	}{
		{
			name:       "exits at once on TERM",
			react:      diesOn(syscall.SIGTERM),
			stopSignal: syscall.SIGTERM, grace: long,
			wantSigs: []syscall.Signal{syscall.SIGTERM},
		},
		{
			name:       "exits a moment after TERM: returns then, not after the grace",
			react:      diesSoonOn(syscall.SIGTERM),
			stopSignal: syscall.SIGTERM, grace: long,
			wantSigs: []syscall.Signal{syscall.SIGTERM},
		},
		{
			name:       "ignores TERM: KILL after the grace",
			react:      diesOn(syscall.SIGKILL),
			stopSignal: syscall.SIGTERM, grace: short,
			wantSigs:   []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
			wantKilled: true,
		},
		{
			name:       "image's stop signal is sent instead of TERM",
			react:      diesOn(syscall.SIGQUIT),
			stopSignal: syscall.SIGQUIT, grace: long,
			wantSigs: []syscall.Signal{syscall.SIGQUIT},
		},
		{
			name:       "zero stop signal means TERM",
			react:      diesOn(syscall.SIGTERM),
			stopSignal: 0, grace: long,
			wantSigs: []syscall.Signal{syscall.SIGTERM},
		},
		{
			name:       "grace 0: KILL at once",
			react:      diesOn(syscall.SIGKILL),
			stopSignal: syscall.SIGTERM, grace: 0,
			wantSigs:   []syscall.Signal{syscall.SIGKILL},
			wantKilled: true,
		},
		{
			name:       "negative grace counts as 0",
			react:      diesOn(syscall.SIGKILL),
			stopSignal: syscall.SIGTERM, grace: -time.Second,
			wantSigs:   []syscall.Signal{syscall.SIGKILL},
			wantKilled: true,
		},
		{
			name:       "stop signal KILL: no grace needed",
			react:      diesOn(syscall.SIGKILL),
			stopSignal: syscall.SIGKILL, grace: long,
			wantSigs:   []syscall.Signal{syscall.SIGKILL},
			wantKilled: true,
		},
		{
			name:       "already exited: nothing sent",
			react:      ignoresAll,
			exitedPrev: true,
			stopSignal: syscall.SIGTERM, grace: long,
			wantSigs: nil,
		},
		{
			name:       "TERM finds no process",
			react:      notFoundOn(syscall.SIGTERM, ignoresAll),
			stopSignal: syscall.SIGTERM, grace: long,
			wantSigs: []syscall.Signal{syscall.SIGTERM},
		},
		{
			name:       "exits between grace and KILL",
			react:      notFoundOn(syscall.SIGKILL, ignoresAll),
			stopSignal: syscall.SIGTERM, grace: short,
			wantSigs: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
		},
		{
			name:       "TERM fails: KILL without waiting out the grace",
			react:      errOn(syscall.SIGTERM, diesOn(syscall.SIGKILL)),
			stopSignal: syscall.SIGTERM, grace: long,
			wantSigs:   []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
			wantKilled: true,
		},
		{
			name:       "KILL fails",
			react:      errOn(syscall.SIGKILL, ignoresAll),
			stopSignal: syscall.SIGTERM, grace: short,
			wantSigs: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
			wantErr:  errdefs.ErrUnavailable,
		},
		{
			name:       "ctx cancelled during the grace: no KILL",
			react:      ignoresAll,
			stopSignal: syscall.SIGTERM, grace: long,
			cancelOn: syscall.SIGTERM,
			wantSigs: []syscall.Signal{syscall.SIGTERM},
			wantErr:  context.Canceled,
		},
		{
			name:       "KILL does not end it (uninterruptible sleep): ctx bounds the wait",
			react:      ignoresAll,
			stopSignal: syscall.SIGTERM, grace: short,
			cancelOn:   syscall.SIGKILL,
			wantSigs:   []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
			wantKilled: true,
			wantErr:    context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			p := &fakeProcess{exit: make(chan struct{})}
			p.react = func(p *fakeProcess, sig syscall.Signal) error {
				if tt.cancelOn != 0 && sig == tt.cancelOn {
					cancel()
				}
				return tt.react(p, sig)
			}
			if tt.exitedPrev {
				p.die()
			}

			killed, err := stopProcess(ctx, p, tt.stopSignal, tt.grace)

			if tt.wantErr == nil && err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Stop: err = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stop waited out a grace it should not have: %v", err)
			}
			if killed != tt.wantKilled {
				t.Errorf("killed = %v, want %v", killed, tt.wantKilled)
			}
			if got := p.signals(); !slices.Equal(got, tt.wantSigs) {
				t.Errorf("signals = %v, want %v", got, tt.wantSigs)
			}
		})
	}
}
