package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/logs"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// restartable serves a handler on a unix socket and can stop and restart, as podd does.
type restartable struct {
	t    *testing.T
	sock string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func newRestartable(t *testing.T, h http.Handler) *restartable {
	dir, err := os.MkdirTemp("", "podd-api")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &restartable{t: t, sock: filepath.Join(dir, "podd.sock"), h: h}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	os.Remove(r.sock)
	l, err := net.Listen("unix", r.sock)
	if err != nil {
		r.t.Error(err)
		return
	}
	r.srv = &http.Server{Handler: r.h}
	go r.srv.Serve(l)
}

// stop closes every connection at once, as a podd killed with SIGKILL does.
func (r *restartable) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// logTime is the timestamp of fake log line i.
func logTime(i int) string {
	return time.Date(2024, 5, 1, 10, 0, 0, i, time.UTC).Format("2006-01-02T15:04:05.000000000Z07:00")
}

// TestLogsResume follows a log whose stream breaks in every way it can — an error trailer (podd
// stopping), a connection cut in the middle of a line, podd gone for a while — and checks that
// the client writes every line once, asking each time for what follows its last line.
func TestLogsResume(t *testing.T) {
	const n = 60
	var (
		mu     sync.Mutex
		afters []string
		calls  int
	)
	pods := apitest.NewPods(testPod("default", "web"))
	var srv *restartable
	pods.LogsHook = func(ctx context.Context, ns, name string, opts supervisor.LogOptions, w io.Writer) error {
		if !opts.Cursor || !opts.Follow {
			return fmt.Errorf("want a framed follow, got %+v", opts)
		}
		mu.Lock()
		afters = append(afters, opts.After)
		calls++
		call := calls
		mu.Unlock()
		from := 0
		if opts.After != "" {
			cur, err := logs.ParseCursor(opts.After)
			if err != nil {
				return err
			}
			for from < n && logTime(from) != cur.Time {
				from++
			}
		}
		fmt.Fprintf(w, "0/%s\n", map[bool]string{true: logTime(from), false: ""}[from > 0])
		for i := from + 1; i <= n; i++ {
			fmt.Fprintf(w, "0/%s F line %d\n", logTime(i), i)
			if i%10 != 0 || i == n {
				continue
			}
			switch call % 3 {
			case 1: // podd stops: the stream ends with an error of class unavailable
				return fmt.Errorf("podd is stopping: %w", context.Canceled)
			case 2: // the connection is cut in the middle of a line
				fmt.Fprintf(w, "0/%s F line %d", logTime(i+1), i+1)
				panic(http.ErrAbortHandler)
			case 0: // podd is gone for a while
				srv.stop()
				time.AfterFunc(300*time.Millisecond, srv.start)
				<-ctx.Done()
				return ctx.Err()
			}
		}
		return nil
	}
	srv = newRestartable(t, api.NewServer(pods, apitest.NewImages(), "test", nil))
	c := api.NewClient(srv.sock)
	var out strings.Builder
	var notes []string
	err := c.Logs(t.Context(), "default", "web", api.LogsOptions{
		Follow: true, Resume: 10 * time.Second,
		Notify: func(msg string) { notes = append(notes, msg) },
	}, &out)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if out.String() != want.String() {
		t.Errorf("output:\n%s\nwant lines 1 to %d once each", out.String(), n)
	}
	wantAfters := []string{""}
	for i := 10; i < n; i += 10 {
		wantAfters = append(wantAfters, "0/"+logTime(i))
	}
	if strings.Join(afters, " ") != strings.Join(wantAfters, " ") {
		t.Errorf("requests after\n%q\nwant\n%q", afters, wantAfters)
	}
	if len(notes) != 2*(len(wantAfters)-1) || !strings.HasPrefix(notes[0], "lost the connection to podd") || !strings.HasPrefix(notes[1], "reconnected") {
		t.Errorf("notes %q: want a lost and a reconnected for each break", notes)
	}
}

func TestLogsResumeGivesUp(t *testing.T) {
	pods := apitest.NewPods(testPod("default", "web"))
	var srv *restartable
	pods.LogsHook = func(ctx context.Context, ns, name string, opts supervisor.LogOptions, w io.Writer) error {
		fmt.Fprintf(w, "0/%s F line 1\n", logTime(1))
		srv.stop() // and never back
		<-ctx.Done()
		return ctx.Err()
	}
	srv = newRestartable(t, api.NewServer(pods, apitest.NewImages(), "test", nil))
	var out strings.Builder
	err := api.NewClient(srv.sock).Logs(t.Context(), "default", "web", api.LogsOptions{Follow: true, Resume: 300 * time.Millisecond}, &out)
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "could not resume the log within 300ms") || out.String() != "line 1\n" {
		t.Errorf("Logs = %q, %v; want line 1, then an unavailable error", out.String(), err)
	}
}

func TestLogsResumeStopsOnOtherErrors(t *testing.T) {
	pods := apitest.NewPods(testPod("default", "web"))
	calls := 0
	pods.LogsHook = func(ctx context.Context, ns, name string, opts supervisor.LogOptions, w io.Writer) error {
		calls++
		if calls > 1 {
			return fmt.Errorf("pod %q not found: %w", name, errdefs.ErrNotFound)
		}
		fmt.Fprintf(w, "0/%s P no newline\n", logTime(1))
		return fmt.Errorf("podd is stopping: %w", errdefs.ErrUnavailable)
	}
	c := apitest.NewClient(t, pods, apitest.NewImages())
	var out strings.Builder
	err := c.Logs(t.Context(), "default", "web", api.LogsOptions{Follow: true, Resume: time.Minute}, &out)
	if !errdefs.IsNotFound(err) || out.String() != "no newline" {
		t.Errorf("Logs = %q, %v; want the partial line, then not found", out.String(), err)
	}
}

func TestLogsQuery(t *testing.T) {
	pods := apitest.NewPods(testPod("default", "web"))
	pods.LogsHook = func(ctx context.Context, ns, name string, opts supervisor.LogOptions, w io.Writer) error { return nil }
	c := apitest.NewClient(t, pods, apitest.NewImages())
	tail, since := int64(5), int64(60)
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, o := range []api.LogsOptions{
		{Container: "app", Previous: true, Timestamps: true, TailLines: &tail},
		{SinceSeconds: &since},
		{SinceTime: &at, Follow: true},
		{Follow: true, Resume: time.Second},
	} {
		if err := c.Logs(t.Context(), "default", "web", o, io.Discard); err != nil {
			t.Errorf("Logs(%+v): %v", o, err)
		}
	}
	calls := pods.CallLog()
	sinceCall := calls[1]
	calls[1] = "(since)"
	want := []string{
		"Logs default/web container=app previous timestamps tail=5",
		"(since)",
		"Logs default/web container= follow since=2024-05-01T10:00:00Z",
		"Logs default/web container= follow cursor",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(sinceCall, "since=") {
		t.Errorf("sinceSeconds call %q: no since", sinceCall)
	}
}
