package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

type sent struct {
	mu     sync.Mutex
	states []string
}

func (s *sent) send(state string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = append(s.states, state)
	return true, nil
}

func (s *sent) count(state string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.states {
		if st == state {
			n++
		}
	}
	return n
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// The watchdog pings while the check passes and stops pinging while it fails or hangs.
func TestWatchdogPingsOnlyWhileHealthy(t *testing.T) {
	var s sent
	n := &notifier{log: discard, send: s.send}
	var healthy atomic.Bool
	healthy.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		n.watchdog(ctx, 40*time.Millisecond, func(ctx context.Context) error {
			if healthy.Load() {
				return nil
			}
			<-ctx.Done() // a hung check: the deadline of half an interval ends it
			return ctx.Err()
		})
		close(done)
	}()
	time.Sleep(200 * time.Millisecond)
	pings := s.count("WATCHDOG=1")
	if pings < 4 {
		t.Errorf("%d pings in 200 ms at a 40 ms interval, want about 10", pings)
	}
	healthy.Store(false)
	time.Sleep(60 * time.Millisecond) // a ping under way may still land
	before := s.count("WATCHDOG=1")
	time.Sleep(200 * time.Millisecond)
	if after := s.count("WATCHDOG=1"); after != before {
		t.Errorf("%d pings while unhealthy", after-before)
	}
	healthy.Store(true)
	time.Sleep(100 * time.Millisecond)
	if s.count("WATCHDOG=1") == before {
		t.Errorf("no ping after health came back")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("watchdog did not end with its context")
	}
}

func TestWatchdogOff(t *testing.T) {
	var s sent
	n := &notifier{log: discard, send: s.send}
	n.watchdog(t.Context(), 0, func(context.Context) error { return nil }) // returns at once
	if len(s.states) != 0 {
		t.Errorf("sent %v with the watchdog off", s.states)
	}
}

type fakeLogind struct {
	mu       sync.Mutex
	taken    int
	released int
	sigs     chan bool
}

type fakeLock struct{ l *fakeLogind }

func (f fakeLock) Close() error {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	f.l.released++
	return nil
}

func (l *fakeLogind) Inhibit(what, who, why, mode string) (io.Closer, error) {
	if what != "shutdown" || mode != "delay" {
		return nil, errors.New("unexpected lock " + what + "/" + mode)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taken++
	return fakeLock{l}, nil
}
func (l *fakeLogind) PrepareForShutdown() <-chan bool { return l.sigs }
func (l *fakeLogind) Close()                          {}

func (l *fakeLogind) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.taken, l.released
}

// A host shutdown: podd stops the pods, then releases its delay lock; a cancelled shutdown
// starts the pods again and makes it take the lock again.
func TestInhibitShutdown(t *testing.T) {
	ld := &fakeLogind{sigs: make(chan bool)}
	stopped := make(chan struct{}, 2)
	var resumed atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		inhibitShutdown(ctx, ld, discard, func(context.Context) error {
			if _, released := ld.counts(); released != 0 {
				t.Error("lock released before the pods were stopped")
			}
			stopped <- struct{}{}
			return nil
		}, func(context.Context) { resumed.Add(1) })
		close(done)
	}()
	ld.sigs <- true
	<-stopped
	ld.sigs <- false // cancelled: the pods start again, the lock is taken again
	ld.sigs <- false // (a second one changes nothing)
	cancel()
	<-done
	taken, released := ld.counts()
	if taken != 2 || released != 2 {
		t.Errorf("lock taken %d times and released %d times; want 2 and 2 (the second at exit)", taken, released)
	}
	if n := resumed.Load(); n != 1 {
		t.Errorf("pods resumed %d times after one cancelled shutdown, want 1", n)
	}
}

func TestJournalFields(t *testing.T) {
	var got map[string]string
	var msg string
	var pri journal.Priority
	h := &journalHandler{level: slog.LevelInfo, send: func(m string, p journal.Priority, vars map[string]string) error {
		msg, pri, got = m, p, vars
		return nil
	}}
	log := slog.New(h).With("pod", "default/web").WithGroup("ctr")
	log.Warn("container exited", "name", "app", "exit-code", 137, "_private", "x", "message", "m")
	want := map[string]string{
		"SYSLOG_IDENTIFIER": "podd", "POD": "default/web", "CTR_NAME": "app", "CTR_EXIT_CODE": "137",
		"CTR__PRIVATE": "x", "CTR_MESSAGE": "m",
	}
	if msg != "container exited" || pri != journal.PriWarning {
		t.Errorf("message %q priority %d", msg, pri)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	log.Debug("hidden")
	if msg != "container exited" {
		t.Errorf("a debug record passed an info handler")
	}
	for _, tc := range []struct{ in, want string }{
		{"pod", "POD"}, {"pod_uid", "POD_UID"}, {"_x", "X"}, {"9lives", "LIVES"}, {"a.b-c", "A_B_C"}, {"message", "PODD_MESSAGE"}, {"", ""},
	} {
		if got := fieldName(tc.in); got != tc.want {
			t.Errorf("fieldName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if strings.Contains(fieldName("ü"), "ü") {
		t.Errorf("non-ASCII kept in a field name")
	}
}
