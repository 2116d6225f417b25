package scatter

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"
)

// TestMain removes the binary hosttest.PatternsBinary built.
func TestMain(m *testing.M) { os.Exit(hosttest.Run(m)) }

// TestRootProcessTree: `podd-patterns scatter-gather` as a process (no merge: it answers the
// merge input) is one leaf of an in-process root beside a plain leaf — a tree of two roots. The
// outer root's answer holds the inner root's answers, the inner root got the outer's remaining
// time, its trace is in its log, and SIGTERM ends it with status 0.
func TestRootProcessTree(t *testing.T) {
	hosttest.NeedBinaries(t, "golang", "go")
	inner := startLeaves(t, 3)
	port, mport := hosttest.FreePort(t), hosttest.FreePort(t)
	cmd := exec.Command(hosttest.PatternsBinary(t), "scatter-gather", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--metrics-address", "127.0.0.1:"+strconv.Itoa(mport), "--mode", "broadcast", "--merge", "",
		"--leaves", strings.Join(leavesOf(inner), ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	innerAddr := "127.0.0.1:" + strconv.Itoa(port)
	waitUntil(t, "the process serves /healthz", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(mport) + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	plain := newTestLeaf(t, "plain", 100)
	_, outer := newTestRoot(t, Config{Deadline: 5 * time.Second}, []string{innerAddr, plain.addr()})
	a := ask(t, outer.URL, nil)
	if a.status != 200 {
		t.Fatalf("outer root: %d %s", a.status, a.rawBody)
	}
	var in MergeInput
	if err := json.Unmarshal([]byte(a.rawBody), &in); err != nil || len(in.Answers) != 2 {
		t.Fatalf("outer root's answer %s: %v", a.rawBody, err)
	}
	var nested MergeInput
	for _, ans := range in.Answers {
		if ans.Shard == innerAddr {
			if err := json.Unmarshal(ans.JSON, &nested); err != nil {
				t.Fatal(err)
			}
		}
	}
	if nested.Shards != 3 || len(nested.Answers) != 3 || nested.Partial {
		t.Fatalf("the inner root's answer in the outer's: %+v", nested)
	}
	for _, l := range inner {
		l.mu.Lock()
		ms, _ := strconv.Atoi(l.timeouts[0])
		l.mu.Unlock()
		if ms < 1 || ms > 5000 {
			t.Errorf("leaf %s under the inner root got %s %d, want within the outer's 5 s", l.name, TimeoutHeader, ms)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for line := range lines {
		log.WriteString(line + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	if !strings.Contains(log.String(), `"msg":"fan-out"`) || !strings.Contains(log.String(), `"outcome":"complete"`) {
		t.Errorf("no trace line in the log:\n%s", log.String())
	}
}

// Bad flags are refused, naming the flag, before anything listens.
func TestRootProcessBadFlags(t *testing.T) {
	hosttest.NeedBinaries(t, "golang", "go")
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, `Required flag "leaves" not set`},
		{[]string{"--leaves", "leaf"}, `--leaves[0]: "leaf" is not host:port`},
		{[]string{"--leaves", "a:1", "--min-responses", "150%"}, "--min-responses"},
		{[]string{"--leaves", "a:1", "--mode", "tree"}, "--mode"},
		{[]string{"--leaves", "a:1", "--listen", "127.0.0.1:99999"}, "--listen"},
	} {
		out, err := exec.Command(hosttest.PatternsBinary(t), append([]string{"scatter-gather", "--metrics-address", "127.0.0.1:0"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.err) {
			t.Errorf("%v: %v, output %q; want an error with %q", tc.args, err, out, tc.err)
		}
	}
}
