package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/runtime"
)

func TestConnectWaitsForContainerd(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := connect(ctx, runtime.Config{
		Address: filepath.Join(dir, "no-containerd.sock"),
		Root:    filepath.Join(dir, "root"),
		State:   filepath.Join(dir, "state"),
	}, log)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline: connect waits for containerd until then", err)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("connect gave up after %v, before its context ended", took)
	}
	// Several attempts (100ms, 200ms, 400ms apart), one log line.
	if n := strings.Count(logs.String(), "containerd is not available"); n != 1 {
		t.Errorf("%d log lines about the wait, want 1:\n%s", n, logs.String())
	}
}

func TestConnectFailsAtOnceOnBadConfig(t *testing.T) {
	dir := t.TempDir()
	// Something listens, so that the configuration is what fails.
	ln, err := net.Listen("unix", filepath.Join(dir, "listening.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs bytes.Buffer
	_, err = connect(ctx, runtime.Config{
		Address: filepath.Join(dir, "listening.sock"),
		Root:    "/proc/podd-cannot-create-this",
		State:   filepath.Join(dir, "state"),
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		t.Fatal("connect succeeded with a root that cannot be created")
	}
	// A retry would have logged the wait (the first attempt logs at once).
	if strings.Contains(logs.String(), "waiting") {
		t.Errorf("a configuration error was retried:\n%s", logs.String())
	}
}
