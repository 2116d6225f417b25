package supervisor

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pod"
)

// writeInstanceLog appends lines (each ending with a newline unless it is the last and has none)
// to an instance's log as its logger would.
func writeInstanceLog(t *testing.T, m *Manager, p *pod.Pod, container string, attempt int, stream, text string) {
	t.Helper()
	path := pod.LogPath(m.opts.LogRoot, p, container, attempt)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	w, err := logs.NewWriter(path, logs.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Copy(stream, strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
}

func restarted(name string, count int32) func(*pod.Pod) bool {
	return func(p *pod.Pod) bool {
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == name {
				return s.RestartCount == count && s.State.Running != nil
			}
		}
		return false
	}
}

// startLogPod runs the two-container pod with container a restarted once: instance 0 wrote
// "a0 1", "a0 2" (and to stderr), instance 1 writes "a1 1".
func startLogPod(t *testing.T) (*Manager, *fakeRuntime, *pod.Pod) {
	t.Helper()
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, m, "web", "running", restarted("a", 0))
	writeInstanceLog(t, m, p, "a", 0, logs.Stdout, "a0 1\n")
	writeInstanceLog(t, m, p, "a", 0, logs.Stderr, "a0 err\n")
	writeInstanceLog(t, m, p, "a", 0, logs.Stdout, "a0 2\n")
	rt.exitByName("a", 1)
	p = waitFor(t, m, "web", "a restarted", restarted("a", 1))
	writeInstanceLog(t, m, p, "a", 1, logs.Stdout, "a1 1\n")
	return m, rt, p
}

func readLogs(m *Manager, opts LogOptions) (string, error) {
	var b strings.Builder
	err := m.Logs(context.Background(), "default", "web", opts, &b)
	return b.String(), err
}

func TestLogs(t *testing.T) {
	m, _, _ := startLogPod(t)
	one, zero := int64(1), int64(0)
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name    string
		opts    LogOptions
		want    string // a regular expression of the whole output
		wantErr func(error) bool
	}{
		{"current instance, first container", LogOptions{}, "a1 1\n", nil},
		{"previous", LogOptions{Container: "a", Previous: true}, "a0 1\na0 err\na0 2\n", nil},
		{"previous, tail", LogOptions{Previous: true, TailLines: &one}, "a0 2\n", nil},
		{"tail 0", LogOptions{TailLines: &zero}, "", nil},
		{"since the future", LogOptions{Previous: true, SinceTime: &future}, "", nil},
		{"timestamps", LogOptions{Timestamps: true}, `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z a1 1\n`, nil},
		{"framed", LogOptions{Cursor: true, Previous: true, TailLines: &one},
			`0/\d{4}\S+Z\n0/\d{4}\S+Z F a0 2\n`, nil},
		{"container b has no previous instance", LogOptions{Container: "b", Previous: true}, "", errdefs.IsNotFound},
		{"no such container", LogOptions{Container: "c"}, "", errdefs.IsNotFound},
		{"a cursor ahead", LogOptions{After: "5/"}, "", errdefs.IsInvalidArgument},
		{"a bad cursor", LogOptions{After: "x"}, "", errdefs.IsInvalidArgument},
		{"an empty container: nothing yet", LogOptions{Container: "b"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := readLogs(m, tt.opts)
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Errorf("Logs = %q, %v; want an error of another class", out, err)
				}
				return
			}
			if err != nil || !regexp.MustCompile(`^`+tt.want+`$`).MatchString(out) {
				t.Errorf("Logs = %q, %v; want %q", out, err, tt.want)
			}
		})
	}
	_, err := readLogs(m, LogOptions{Container: "b", Previous: true})
	if want := `previous terminated container "b" in pod "web" not found`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Logs -p of b: %v, want %q, as kubectl says", err, want)
	}
}

// TestLogsFollow follows container a from its first instance: the follower moves on to the next
// instance when the worker starts it, and ends once the pod is stopped.
func TestLogsFollow(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, m, "web", "running", func(p *pod.Pod) bool { return restarted("a", 0)(p) && restarted("b", 0)(p) })
	writeInstanceLog(t, m, p, "a", 0, logs.Stdout, "a0 1\n")
	var out hosttest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- m.Logs(context.Background(), "default", "web", LogOptions{Container: "a", Follow: true, Cursor: true}, &out)
	}()
	writeInstanceLog(t, m, p, "a", 0, logs.Stdout, "a0 2\n")
	rt.exitByName("a", 0)
	p = waitFor(t, m, "web", "a restarted", restarted("a", 1))
	writeInstanceLog(t, m, p, "a", 1, logs.Stdout, "a1 1\n")
	writeInstanceLog(t, m, p, "a", 1, logs.Stdout, "a1 unfinished")
	select {
	case err := <-done:
		t.Fatalf("the follow ended while the container runs: %v\n%s", err, out.String())
	case <-time.After(2 * logSettle):
	}
	grace := 0 * time.Second
	if _, err := m.Stop(context.Background(), "default", "web", &grace); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the follow did not end after the pod stopped\n%s", out.String())
	}
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z`
	want := "^0/\n" +
		"0/" + ts + " F a0 1\n" +
		"0/" + ts + " F a0 2\n" +
		"1/\n" +
		"1/" + ts + " F a1 1\n" +
		"1/" + ts + " P a1 unfinished\n$"
	if !regexp.MustCompile(want).MatchString(out.String()) {
		t.Errorf("framed follow:\n%s\nwant\n%s", out.String(), want)
	}

	// Resuming from each cursor gives exactly what followed it.
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, l := range lines {
		cursor, _, _ := strings.Cut(l, " ")
		got, err := readLogs(m, LogOptions{Container: "a", Follow: true, Cursor: true, After: cursor})
		if err != nil {
			t.Fatalf("resume after %s: %v", cursor, err)
		}
		var rest []string
		for _, r := range lines[i+1:] {
			if strings.Contains(r, " ") {
				rest = append(rest, r)
			}
		}
		var gotLines []string
		for _, r := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			if strings.Contains(r, " ") {
				gotLines = append(gotLines, r)
			}
		}
		if !slices.Equal(gotLines, rest) {
			t.Errorf("resume after %s:\n%q\nwant\n%q", cursor, gotLines, rest)
		}
	}
}

func TestLogsFollowEndsWhenPodRemoved(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	// Both running: a stop must not meet a launch here (the worker's business, not the logs').
	waitFor(t, m, "web", "running", func(p *pod.Pod) bool { return restarted("a", 0)(p) && restarted("b", 0)(p) })
	done := make(chan error, 1)
	started := &signalWriter{c: make(chan struct{})}
	go func() {
		done <- m.Logs(context.Background(), "default", "web", LogOptions{Follow: true, Cursor: true}, started)
	}()
	<-started.c // the follower has caught up: "0/"
	grace := 0 * time.Second
	if err := m.Remove(context.Background(), "default", "web", &grace); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Logs = %v, want the end of the log", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follow did not end after the pod was removed")
	}
}

// signalWriter closes c at its first write.
type signalWriter struct {
	once sync.Once
	c    chan struct{}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.c) })
	return len(p), nil
}

func TestLogsFollowEndsWithCallersContext(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", restarted("a", 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Logs(ctx, "default", "web", LogOptions{Follow: true}, io.Discard) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Logs = %v, want the context's error (podd stopping: the client resumes)", err)
	}
}

func TestPruneLogs(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"0.log", "0.log.1", "1.log", "1.log.1", "1.log.2", "2.log", "2.log.1", "3.log", "10.log", "notes", "1.log.x"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := PruneLogs(filepath.Join(dir, "3.log"), 3); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	// The previous instance (2) stays for logs --previous; names that are not logs stay too.
	want := []string{"1.log.x", "10.log", "2.log", "2.log.1", "3.log", "notes"}
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	if err := PruneLogs(filepath.Join(t.TempDir(), "missing", "0.log"), 0); err != nil {
		t.Errorf("PruneLogs in a missing folder: %v", err)
	}
}
