package contentsync

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAbortMidFetch: a fetch cancelled (SIGTERM) while the body is coming publishes nothing
// and leaves no staged folder.
func TestAbortMidFetch(t *testing.T) {
	v1 := mkTar(t, false, file("a", "1"))
	big := mkTar(t, false, file("a", strings.Repeat("2", 1<<20)))
	var second atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !second.Load() {
			w.Write(v1)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big[:64<<10+4096])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	}))
	defer ts.Close()
	s, root := newHTTPSyncer(t, ts.URL+"/site.tar", KindAuto, Limits{MaxBytes: 4 << 20, MaxEntries: 10})
	if out, err := s.SyncOnce(context.Background()); out != Published {
		t.Fatalf("%s %v", out, err)
	}
	v1id := s.Current()
	second.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.SyncOnce(ctx); done <- err }()
	waitFor(t, "a staged folder", func() bool {
		es, _ := os.ReadDir(filepath.Join(root, ".versions"))
		return len(es) == 2
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("SyncOnce after cancel = %v, want context.Canceled", err)
	}
	if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 || got[0] != v1id {
		t.Errorf(".versions = %v after an aborted fetch, want only %s", got, v1id)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "current", "a")); string(data) != "1" {
		t.Errorf("current/a = %q after an aborted fetch, want 1", data)
	}
}

// configMapVolume lays out dir as the kubelet (and podd) publish a ConfigMap volume: the files
// in a ..<timestamp> folder, ..data pointing to it (swapped by rename), and a link per key.
func configMapVolume(t testing.TB, dir, version string, files map[string]string) {
	t.Helper()
	ts := filepath.Join(dir, ".."+version)
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(ts, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Symlink(filepath.Join(dataLink, k), filepath.Join(dir, k))
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(".."+version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		os.RemoveAll(filepath.Join(dir, old))
	}
}

func newDirSyncer(t testing.TB, src string, period time.Duration) (*Syncer, string) {
	t.Helper()
	root := t.TempDir()
	source, err := ParseSource("dir://"+src, KindAuto, "", defaultLimits, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wake, stop := Watch(source, quietLog())
	t.Cleanup(stop)
	s, err := New(Options{Publisher: &Publisher{Root: root, Link: "config"}, Source: source, Limits: defaultLimits,
		Period: period, HealthPeriods: 3, Logger: quietLog(), Wake: wake})
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// TestDirSource: a ConfigMap volume's content (what ..data shows, not its bookkeeping) is
// copied; an unchanged volume rewrites nothing; after the ..data swap the new content is
// published; a plain folder is copied as it is, its ".." names skipped.
func TestDirSource(t *testing.T) {
	cases := []struct {
		name   string
		layout func(t *testing.T, dir string)
		change func(t *testing.T, dir string)
		before map[string]string
		after  map[string]string
	}{
		{"ConfigMap volume",
			func(t *testing.T, dir string) {
				configMapVolume(t, dir, "2026_01_01", map[string]string{"color": "blue", "size": "L"})
			},
			func(t *testing.T, dir string) {
				configMapVolume(t, dir, "2026_01_02", map[string]string{"color": "green", "size": "L"})
			},
			map[string]string{"color": "f:blue", "size": "f:L"},
			map[string]string{"color": "f:green", "size": "f:L"}},
		{"plain folder",
			func(t *testing.T, dir string) {
				os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
				os.WriteFile(filepath.Join(dir, "sub", "a"), []byte("1"), 0o644)
				os.WriteFile(filepath.Join(dir, "..skipped"), []byte("x"), 0o644)
			},
			func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "sub", "a"), []byte("2"), 0o644)
			},
			map[string]string{"sub": "d", "sub/a": "f:1"},
			map[string]string{"sub": "d", "sub/a": "f:2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			tc.layout(t, src)
			s, root := newDirSyncer(t, src, time.Hour)
			if out, err := s.SyncOnce(context.Background()); out != Published {
				t.Fatalf("%s %v", out, err)
			}
			if got := tree(t, filepath.Join(root, "config")); !equalMaps(got, tc.before) {
				t.Errorf("published %v, want %v", got, tc.before)
			}
			v1 := s.Current()
			if out, err := s.SyncOnce(context.Background()); out != Unchanged {
				t.Errorf("again: %s %v, want unchanged", out, err)
			}
			if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 || got[0] != v1 {
				t.Errorf(".versions = %v after an unchanged look, want [%s]", got, v1)
			}
			tc.change(t, src)
			if out, err := s.SyncOnce(context.Background()); out != Published {
				t.Fatalf("after the change: %s %v", out, err)
			}
			if got := tree(t, filepath.Join(root, "config")); !equalMaps(got, tc.after) {
				t.Errorf("published %v, want %v", got, tc.after)
			}
		})
	}
}

// TestDirSourceInotify: with a period of an hour, only the inotify watch explains that the
// ..data swap of a ConfigMap volume gets published.
func TestDirSourceInotify(t *testing.T) {
	src := t.TempDir()
	configMapVolume(t, src, "2026_01_01", map[string]string{"color": "blue"})
	s, root := newDirSyncer(t, src, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}()
	read := func() string { b, _ := os.ReadFile(filepath.Join(root, "config", "color")); return string(b) }
	waitFor(t, "blue published", func() bool { return read() == "blue" })
	configMapVolume(t, src, "2026_01_02", map[string]string{"color": "green"})
	waitFor(t, "green published after the ..data swap", func() bool { return read() == "green" })
}

// TestSignalAfterChange: a real process named as --signal-process says gets the signal after
// each published change, and none after an unchanged look.
func TestSignalAfterChange(t *testing.T) {
	dir := t.TempDir()
	name := fmt.Sprintf("cs-web-%d", os.Getpid()%100000)
	script := filepath.Join(dir, name)
	hups := filepath.Join(dir, "hups")
	os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\ntrap 'echo hup >> %s' HUP\necho ready > %s.ready\nwhile :; do sleep 0.05; done\n", hups, hups)), 0o755)
	cmd := exec.Command(script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, "the script's trap", func() bool { _, err := os.Stat(hups + ".ready"); return err == nil })
	count := func() int { b, _ := os.ReadFile(hups); return strings.Count(string(b), "hup") }

	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, _ := newHTTPSyncer(t, ts.URL+"/f", KindFile, defaultLimits)
	s.o.SignalProcess, s.o.Signal = name, syscall.SIGHUP
	for i, body := range []string{"1", "1", "2"} {
		srv.set([]byte(body), "", time.Time{})
		if _, err := s.SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []int{1, 1, 2}[i]
		waitFor(t, fmt.Sprintf("%d HUPs", want), func() bool { return count() >= want })
	}
	// The unchanged look sent none: two changes, two signals.
	if got := count(); got != 2 {
		t.Errorf("%d HUPs, want 2 (one per change)", got)
	}
}

// TestWebhook: retries until a 2xx, with the version in the body and a header; a status that
// stays bad fails after 1+retries attempts; a hung endpoint is cut by the timeout.
func TestWebhook(t *testing.T) {
	cases := []struct {
		name     string
		statuses []int
		retries  int
		hang     bool
		attempts int
		err      string
	}{
		{"ok at once", []int{200}, 3, false, 1, ""},
		{"204 is success", []int{204}, 3, false, 1, ""},
		{"ok at the third", []int{500, 502, 200}, 3, false, 3, ""},
		{"always failing", []int{500, 500, 500}, 2, false, 3, "3 attempts: status 500 Internal Server Error"},
		{"404, no retries", []int{404}, 0, false, 1, "1 attempts: status 404 Not Found"},
		{"hung", nil, 1, true, 2, "Client.Timeout exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var gotBody, gotHeader atomic.Value
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				b := make([]byte, 100)
				k, _ := r.Body.Read(b)
				gotBody.Store(string(b[:k]))
				gotHeader.Store(r.Header.Get("Content-Sync-Version"))
				if tc.hang {
					<-r.Context().Done()
					return
				}
				w.WriteHeader(tc.statuses[min(i, len(tc.statuses)-1)])
			}))
			defer ts.Close()
			w := &Webhook{URL: ts.URL, Client: &http.Client{Timeout: 200 * time.Millisecond}, Retries: tc.retries, Backoff: time.Millisecond}
			attempts, err := w.Post(context.Background(), "abc123")
			if attempts != tc.attempts {
				t.Errorf("attempts %d, want %d", attempts, tc.attempts)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
			if gotBody.Load() != `{"version":"abc123"}` || gotHeader.Load() != "abc123" {
				t.Errorf("body %v header %v", gotBody.Load(), gotHeader.Load())
			}
		})
	}
}

// TestHealthy: /healthz's rule, against given times.
func TestHealthy(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		last time.Time
		now  time.Time
		err  string
	}{
		{"just started", time.Time{}, start.Add(time.Second), ""},
		{"never succeeded for long", time.Time{}, start.Add(31 * time.Second), "no successful sync yet"},
		{"recent success", start.Add(time.Minute), start.Add(time.Minute + 29*time.Second), ""},
		{"stale success", start.Add(time.Minute), start.Add(time.Minute + 31*time.Second), "more than 3 periods (30s)"},
	}
	for _, tc := range cases {
		s := &Syncer{o: Options{Period: 10 * time.Second, HealthPeriods: 3}, started: start, metrics: newMetrics()}
		s.metrics.last = tc.last
		err := s.Healthy(tc.now)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

// TestFlags: each bad flag is refused with its name, before anything is created.
func TestFlags(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	base := []string{"--root", root, "--listen", ""}
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{}, "--source: required"},
		{[]string{"--source", "ftp://x/y"}, `--source: "ftp://x/y": the scheme must be http, https or dir`},
		{[]string{"--source", "dir://relative/x"}, "--source: \"dir://relative/x\": a folder is dir:///absolute/path"},
		{[]string{"--source", "http:///x"}, "--source: \"http:///x\" has no host"},
		{[]string{"--source", "http://h/x", "--source-kind", "zip"}, `--source-kind: "zip" must be auto, tar or file`},
		{[]string{"--source", "dir:///tmp", "--source-kind", "tar"}, `--source-kind: "tar" is for http sources only`},
		{[]string{"--source", "http://h/x", "--max-bytes", "12X"}, `--max-bytes: "12X" is not a positive size`},
		{[]string{"--source", "http://h/x", "--max-bytes", "0"}, `--max-bytes: "0" is not a positive size`},
		{[]string{"--source", "http://h/x", "--max-entries", "0"}, "--max-entries: 0 must be positive"},
		{[]string{"--source", "http://h/x", "--period", "0s"}, "--period: 0s must be positive"},
		{[]string{"--source", "http://h/x", "--signal-process", "web", "--signal", "NOPE"}, `--signal: "NOPE" is not a signal`},
		{[]string{"--source", "http://h/x", "--webhook", "localhost:1"}, `--webhook: "localhost:1" must be an http:// or https:// URL`},
		{[]string{"--source", "http://h/x", "--health-periods", "0"}, "--health-periods: 0 must be positive"},
		{[]string{"--source", "http://h/x", "--link", "a/b"}, `--link: "a/b" must be a plain name`},
		{[]string{"--source", "http://h/x", "--file-name", "../x"}, `--file-name: "../x" must be a plain file name`},
	}
	for _, tc := range cases {
		app := &cli.App{Flags: []cli.Flag{&cli.BoolFlag{Name: "debug"}}, Commands: []*cli.Command{Command()}}
		app.Writer, app.ErrWriter = os.Stderr, os.Stderr
		err := app.Run(append(append([]string{"podd-patterns", "content-sync"}, base...), tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.err)
		}
		if _, serr := os.Stat(root); serr == nil {
			t.Errorf("%v: the root was created", tc.args)
		}
		os.RemoveAll(root)
	}
	for _, s := range []struct {
		in   string
		want int64
	}{{"256Mi", 256 << 20}, {"1000", 1000}, {"2K", 2000}, {"1Gi", 1 << 30}} {
		if got, err := ParseBytes(s.in); err != nil || got != s.want {
			t.Errorf("ParseBytes(%q) = %d, %v", s.in, got, err)
		}
	}
}

// TestModTimes: files and folders keep the archive's modification times (a web server's
// Last-Modified and ETag of an unchanged file stay), and times alone are no change.
func TestModTimes(t *testing.T) {
	t1 := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	mk := func(mtime time.Time) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
		tw.WriteHeader(&tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime})
		tw.Write([]byte("x"))
		tw.Close()
		return buf.Bytes()
	}
	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, root := newHTTPSyncer(t, ts.URL+"/site.tar", KindAuto, defaultLimits)
	srv.set(mk(t1), "", time.Time{})
	if out, err := s.SyncOnce(context.Background()); out != Published {
		t.Fatalf("%s %v", out, err)
	}
	for _, p := range []string{"d", "d/f"} {
		fi, err := os.Stat(filepath.Join(root, "current", p))
		if err != nil || !fi.ModTime().Equal(t1) {
			t.Errorf("%s: mtime %v (%v), want %v", p, fi.ModTime(), err, t1)
		}
	}
	srv.set(mk(t2), "", time.Time{})
	if out, err := s.SyncOnce(context.Background()); out != Unchanged {
		t.Errorf("the same content with other times: %s %v, want unchanged", out, err)
	}
}

// TestHealthAfterRefusal: a source that keeps serving a refused archive (304s after it) is not a
// success: the last-success time stays where it was, so /healthz fails after a while; a good
// archive makes it a success again.
func TestHealthAfterRefusal(t *testing.T) {
	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, _ := newHTTPSyncer(t, ts.URL+"/site.tar", KindAuto, defaultLimits)
	last := func() time.Time { s.metrics.mu.Lock(); defer s.metrics.mu.Unlock(); return s.metrics.last }
	srv.set(mkTar(t, false, file("a", "1")), `"1"`, time.Time{})
	if out, _ := s.SyncOnce(context.Background()); out != Published {
		t.Fatal(out)
	}
	good := last()
	srv.set(mkTar(t, false, file("/abs", "1")), `"bad"`, time.Time{})
	for i, want := range []string{Refused, Unchanged, Unchanged} {
		if out, _ := s.SyncOnce(context.Background()); out != want {
			t.Fatalf("look %d: %s, want %s", i, out, want)
		}
	}
	if got := last(); !got.Equal(good) {
		t.Errorf("the last success moved to %v while the source serves a refused archive (was %v)", got, good)
	}
	if err := s.Healthy(good.Add(4 * time.Second)); err == nil {
		t.Error("healthy 4s after the last success, more than 3 periods of 1s")
	}
	srv.set(mkTar(t, false, file("a", "2")), `"2"`, time.Time{})
	if out, _ := s.SyncOnce(context.Background()); out != Published {
		t.Fatal(out)
	}
	if out, _ := s.SyncOnce(context.Background()); out != Unchanged || !last().After(good) {
		t.Errorf("%s, last success %v: want a success again", out, last())
	}
}

// TestVersionFolderMode: an archive's "./" entry of mode 0700 (a tar made from a private
// temporary folder) does not hide the version from an application running as another user;
// the modes of the entries below are kept.
func TestVersionFolderMode(t *testing.T) {
	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, root := newHTTPSyncer(t, ts.URL+"/site.tar", KindAuto, defaultLimits)
	srv.set(mkTar(t, false, entry{name: "./", typ: tar.TypeDir, mode: 0o700}, entry{name: "./private/", typ: tar.TypeDir, mode: 0o700}, file("./a", "1")), "", time.Time{})
	if out, err := s.SyncOnce(context.Background()); out != Published {
		t.Fatalf("%s %v", out, err)
	}
	for p, want := range map[string]os.FileMode{".": 0o755, "private": 0o700, "a": 0o644} {
		fi, err := os.Stat(filepath.Join(root, "current", p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

// TestGNUSparse: an old-style GNU sparse file (type 'S', as `tar --sparse --format=gnu` writes
// it; testdata/gnu-sparse.tar: 64 KiB of hole then "hi\n") is published whole.
func TestGNUSparse(t *testing.T) {
	body, err := os.ReadFile("testdata/gnu-sparse.tar")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, root := newHTTPSyncer(t, ts.URL+"/site.tar", KindTar, defaultLimits)
	srv.set(body, "", time.Time{})
	if out, err := s.SyncOnce(context.Background()); out != Published {
		t.Fatalf("%s %v", out, err)
	}
	got, err := os.ReadFile(filepath.Join(root, "current", "sparse"))
	if want := string(make([]byte, 64<<10)) + "hi\n"; err != nil || string(got) != want {
		t.Errorf("sparse: %d bytes (%v), want 64 KiB of zeros and hi", len(got), err)
	}
}
