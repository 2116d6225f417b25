package workqueue

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// TestProtocolRefusesStaleToken: over the runner's socket, a result with another attempt's token
// is refused and counted; the right token commits; a second result for it is refused; a runner
// that hangs up during an attempt fails it at once.
func TestProtocolRefusesStaleToken(t *testing.T) {
	work := t.TempDir()
	h, err := NewHelper(Config{Spool: t.TempDir(), WorkDir: work, Policy: spool.Policy{MaxAttempts: 3, PoisonExitCode: 65},
		Until: "drained", Poll: 10 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := h.Spool().Add(id, strings.NewReader(id)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	dial := func() (func(request) response, func()) {
		var conn net.Conn
		waitFor(t, "the helper's socket", func() bool {
			conn, err = net.Dial("unix", filepath.Join(work, socketName))
			return err == nil
		})
		sc := bufio.NewScanner(conn)
		return func(r request) response {
			if err := json.NewEncoder(conn).Encode(r); err != nil {
				t.Fatal(err)
			}
			if !sc.Scan() {
				t.Fatalf("no answer to %+v", r)
			}
			var resp response
			if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			return resp
		}, func() { conn.Close() }
	}
	ask, hangUp := dial()
	first := ask(request{Op: "next"})
	if first.Item == nil || first.Item.ID != "a" {
		t.Fatalf("next: %+v", first)
	}
	if b, _ := os.ReadFile(first.Item.Item); string(b) != "a" {
		t.Fatalf("the mounted input: %q", b)
	}
	os.WriteFile(filepath.Join(first.Item.Output, "r"), []byte("R"), 0o644)
	zero := 0
	if resp := ask(request{Op: "result", Token: "1-stale", ExitCode: &zero}); !strings.Contains(resp.Error, "lease has ended") {
		t.Fatalf("a stale token: %+v", resp)
	}
	if resp := ask(request{Op: "result", Token: first.Item.Token, ExitCode: &zero}); resp.State != spool.StateDone || resp.Error != "" {
		t.Fatalf("the right token: %+v", resp)
	}
	if resp := ask(request{Op: "result", Token: first.Item.Token, ExitCode: &zero}); resp.Error == "" {
		t.Fatalf("a second result: %+v", resp)
	}
	if got := testutil.ToFloat64(h.metrics.refused); got != 2 {
		t.Errorf("refused_commits_total %v, want 2", got)
	}
	// The answer came before the commit, which ends in the background.
	waitFor(t, "a committed", func() bool { c, _ := h.Spool().Counts(); return c.Done == 1 })
	if b, _ := os.ReadFile(filepath.Join(h.Spool().Output("a"), "r")); string(b) != "R" {
		t.Fatalf("committed output %q", b)
	}
	// b is leased, and its runner hangs up: b is retried at once.
	if second := ask(request{Op: "next"}); second.Item == nil || second.Item.ID != "b" {
		t.Fatalf("next: %+v", second)
	}
	hangUp()
	waitFor(t, "b out of leased/", func() bool { c, _ := h.Spool().Counts(); return c.Leased == 0 && c.Retry == 1 })
	retry, _ := h.Spool().Items(spool.StateRetry)
	if !strings.Contains(retry[0].LastError, "connection to the helper closed") {
		t.Fatalf("record %+v", retry[0])
	}
	// Paused: a runner asking waits; resumed, it gets b again.
	h.Spool().SetControl(spool.Control{Paused: true})
	ask2, hangUp2 := dial()
	defer hangUp2()
	got := make(chan response, 1)
	go func() { got <- ask2(request{Op: "next"}) }()
	select {
	case r := <-got:
		t.Fatalf("a paused queue gave %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	h.Spool().SetControl(spool.Control{})
	r := <-got
	if r.Item == nil || r.Item.ID != "b" || r.Item.Attempt != 2 {
		t.Fatalf("after resume: %+v", r)
	}
	if resp := ask2(request{Op: "result", Token: r.Item.Token, ExitCode: &zero}); resp.State != spool.StateDone {
		t.Fatalf("b: %+v", resp)
	}
	// --until drained: an empty queue keeps the worker waiting, until the queue is drained.
	go func() { got <- ask2(request{Op: "next"}) }()
	select {
	case r := <-got:
		t.Fatalf("an empty queue that is not drained gave %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	h.Spool().SetControl(spool.Control{Draining: true})
	if r := <-got; r.Stop == "" {
		t.Fatalf("after drain: %+v", r)
	}
}

// TestCommitInBackground: a success is answered before its commit (with the next item when the
// runner asks for it); an output that cannot be committed (a symbolic link in it) then fails the
// attempt in the background, the next item is served meanwhile, and a new helper on the same work
// folder removes what an earlier one staged.
func TestCommitInBackground(t *testing.T) {
	work, sp := t.TempDir(), t.TempDir()
	cfg := Config{Spool: sp, WorkDir: work, Policy: spool.Policy{MaxAttempts: 3, Backoff: time.Hour, MaxBackoff: time.Hour, PoisonExitCode: 65},
		Until: "empty", Poll: 10 * time.Millisecond}
	h, err := NewHelper(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := h.Spool().Add(id, strings.NewReader(id)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	var conn net.Conn
	waitFor(t, "the helper's socket", func() bool {
		conn, err = net.Dial("unix", filepath.Join(work, socketName))
		return err == nil
	})
	defer conn.Close()
	sc := bufio.NewScanner(conn)
	ask := func(r request) response {
		t.Helper()
		if err := json.NewEncoder(conn).Encode(r); err != nil {
			t.Fatal(err)
		}
		if !sc.Scan() {
			t.Fatalf("no answer to %+v", r)
		}
		var resp response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	zero := 0
	a := ask(request{Op: "next"})
	if a.Item == nil || a.Item.ID != "a" {
		t.Fatalf("next: %+v", a)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(a.Item.Output, "link")); err != nil {
		t.Fatal(err)
	}
	// The result with next: its answer and the next item in one round trip.
	b := ask(request{Op: "result", Token: a.Item.Token, ExitCode: &zero, Next: true})
	if b.State != spool.StateDone || b.ResultError != "" || b.Error != "" || b.Item == nil || b.Item.ID != "b" {
		t.Fatalf("a's result with next: %+v", b)
	}
	if resp := ask(request{Op: "result", Token: a.Item.Token, ExitCode: &zero, Next: true}); !strings.Contains(resp.ResultError, "lease has ended") || resp.Error == "" {
		t.Fatalf("a's result again, with b leased: %+v", resp)
	}
	if err := os.WriteFile(filepath.Join(b.Item.Output, "r"), []byte("B"), 0o644); err != nil {
		t.Fatal(err)
	}
	if resp := ask(request{Op: "result", Token: b.Item.Token, ExitCode: &zero}); resp.State != spool.StateDone {
		t.Fatalf("b: %+v", resp)
	}
	waitFor(t, "a retried and b committed", func() bool { c, _ := h.Spool().Counts(); return c.Retry == 1 && c.Done == 1 })
	retry, _ := h.Spool().Items(spool.StateRetry)
	if !strings.Contains(retry[0].LastError, "link") {
		t.Fatalf("a's record: %+v", retry[0])
	}
	if got, _ := os.ReadFile(filepath.Join(h.Spool().Output("b"), "r")); string(got) != "B" {
		t.Fatalf("b's output %q", got)
	}
	waitFor(t, "the staged folder removed", func() bool {
		_, err := os.Stat(filepath.Join(work, stagedDir))
		return os.IsNotExist(err)
	})
	// What a helper that died left staged is removed by the next one.
	if err := os.MkdirAll(filepath.Join(work, stagedDir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHelper(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, stagedDir)); !os.IsNotExist(err) {
		t.Fatalf("the staged folder after a new helper: %v", err)
	}
}
