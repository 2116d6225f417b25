package contentsync

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"
)

// The test binary doubles as podd-patterns: with CONTENTSYNC_MAIN=1 it runs the command as
// cmd/podd-patterns does, so that signals and exit codes are tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("CONTENTSYNC_MAIN") == "1" {
		app := &cli.App{Name: "podd-patterns", Flags: []cli.Flag{&cli.BoolFlag{Name: "debug"}}, Commands: []*cli.Command{Command()}}
		if err := app.Run(os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "podd-patterns:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is a content-sync process whose stdout lines are kept.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []map[string]any
	stderr bytes.Buffer
	done   chan struct{}
}

func startHelper(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"content-sync"}, args...)...)
	p.cmd.Env = append(os.Environ(), "CONTENTSYNC_MAIN=1")
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.mu.Lock()
				p.lines = append(p.lines, m)
				p.mu.Unlock()
			}
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) logged(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// TestProcessSIGTERMMidFetch: SIGTERM while a fetch is under way ends the process with 0, and
// the fetch's staged folder is gone: the link shows the version before, whole. /metrics and
// /healthz answer while it runs.
func TestProcessSIGTERMMidFetch(t *testing.T) {
	v1 := mkTar(t, true, file("index.html", "v1"))
	big := mkTar(t, false, file("a", strings.Repeat("2", 1<<20)))
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Write(v1)
			return
		}
		w.Write(big[:64<<10+4096])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer ts.Close()
	root := t.TempDir()
	p := startHelper(t, "--source", ts.URL+"/site.tgz", "--root", root, "--period", "200ms", "--listen", "127.0.0.1:0")
	waitFor(t, "the syncing line", func() bool { return p.logged("syncing") != nil })
	addr := p.logged("syncing")["listen"].(string)
	waitFor(t, "v1 published", func() bool { return p.logged("published") != nil })
	v1id := p.logged("published")["version"].(string)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"podd_contentsync_syncs_total 1", `podd_contentsync_version_info{version="` + v1id + `"} 1`, "podd_contentsync_last_success_timestamp_seconds "} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), v1id) {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}

	waitFor(t, "the second fetch's staged folder", func() bool {
		es, _ := os.ReadDir(filepath.Join(root, ".versions"))
		return len(es) == 2
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0; stderr %s", code, p.stderr.String())
	}
	if p.logged("stopping") == nil {
		t.Error("no 'stopping' line")
	}
	if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 || got[0] != v1id {
		t.Errorf(".versions = %v after SIGTERM mid-fetch, want only %s", got, v1id)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "current", "index.html")); string(data) != "v1" {
		t.Errorf("current/index.html = %q, want v1", data)
	}
}

// TestProcessOneTime: --one-time exits 0 once the content is there, 1 with the reason when the
// source fails (an init container then keeps the pod from starting without content).
func TestProcessOneTime(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := int(status.Load()); s != 200 {
			http.Error(w, "no", s)
			return
		}
		w.Write([]byte("hello"))
	}))
	defer ts.Close()
	root := t.TempDir()
	p := startHelper(t, "--source", ts.URL+"/greeting.txt", "--root", root, "--one-time")
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, p.stderr.String())
	}
	if data, _ := os.ReadFile(filepath.Join(root, "current", "greeting.txt")); string(data) != "hello" {
		t.Errorf("current/greeting.txt = %q", data)
	}
	status.Store(500)
	p = startHelper(t, "--source", ts.URL+"/greeting.txt", "--root", t.TempDir(), "--one-time")
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.stderr.String(), "500 Internal Server Error") {
		t.Errorf("exit %d, stderr %q; want 1 naming the status", code, p.stderr.String())
	}
}
