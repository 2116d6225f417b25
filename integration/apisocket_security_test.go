package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPodAPISocketSecurity: a pod's own API socket answers only the pod's processes; a host
// process (root here, so that file modes are no part of it) gets a 403 before any request is
// read, and thousands of such connections, idle or with large held-open bodies, leave podd's file
// descriptors, its memory and its main API alone.
func TestPodAPISocketSecurity(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := uniqueName(t, "sock")
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  annotations: {podd.io/api-socket: "true"}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: %[2]s, command: ["sh", "-c", %[3]q], securityContext: {runAsUser: 1000}, env: [{name: PASSWORD, value: s3cret}]}
`, name, busyboxImage, untilTerm))
	uid := getPod(t, p, name).Metadata.UID
	sock := filepath.Join(p.State, "pods", uid, "api", "podd.sock")

	get := func(t *testing.T, c net.Conn, req string) (*http.Response, string) {
		t.Helper()
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	t.Run("host process refused", func(t *testing.T) {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, body := get(t, c, "GET /pod HTTP/1.1\r\nHost: pod\r\n\r\n")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "forbidden") || strings.Contains(body, "s3cret") {
			t.Fatalf("a host process reads the pod's socket: %s %s", resp.Status, body)
		}
	})

	t.Run("many connections", func(t *testing.T) {
		pid := poddPID(t, p)
		const n = 3000
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		big := fmt.Sprintf("POST /v1/pods HTTP/1.1\r\nHost: pod\r\nContent-Length: %d\r\n\r\n", 15<<20)
		for i := range n {
			c, err := net.Dial("unix", sock)
			if err != nil {
				break // the kernel's queue is full: that is podd holding none of them
			}
			conns = append(conns, c)
			if i%50 == 0 { // some hold a 15 MiB body open, with its first MiB sent
				io.WriteString(c, big)
				c.Write(make([]byte, 1<<20))
			}
		}
		if res := p.Podctl(t, "get", name); res.ExitCode != 0 || !strings.Contains(res.Stdout, name) {
			t.Fatalf("the main API with %d connections on the pod's socket: %s", len(conns), res)
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		if len(fds) > 1000 {
			t.Errorf("podd holds %d file descriptors with %d connections on a pod's socket", len(fds), len(conns))
		}
		if rss := rssKiB(t, pid); rss > 500<<10 {
			t.Errorf("podd's RSS is %d KiB with %d connections on a pod's socket", rss, len(conns))
		}
		t.Logf("%d connections: podd holds %d file descriptors, RSS %d KiB", len(conns), len(fds), rssKiB(t, pid))
	})
}

func poddPID(t *testing.T, p *Podd) int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d == nil {
		t.Fatal("podd is not running")
	}
	return p.d.cmd.Process.Pid
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
