package api_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
)

type changedPods struct{ *apitest.Pods }

func (changedPods) Changed() <-chan struct{} { return make(chan struct{}) }

// podSocket serves one pod's socket with limits l and peer check peer, and returns its path.
func servePodSocket(t *testing.T, l api.Limits, peer api.PeerCheck) string {
	t.Helper()
	root, err := os.MkdirTemp("", "lim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	p := &pod.Pod{Metadata: pod.ObjectMeta{Name: "web", Namespace: "default", UID: "u1",
		Annotations: map[string]string{pod.AnnotationAPISocket: "true"}}}
	s := api.NewPodSockets(changedPods{apitest.NewPods(p)}, func(uid string) string { return filepath.Join(root, uid) }, peer, "v", nil)
	api.SetPodSocketLimits(s, l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sock := filepath.Join(root, "u1", api.PodSocketName)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatal("no pod socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func selfOnly(_ string, pid int32) error {
	if int(pid) != os.Getpid() {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrPermissionDenied)
	}
	return nil
}

// Finding 6: a process that is not the pod's gets a 403 that says why, and reads nothing.
func TestPodSocketRefusesOtherProcesses(t *testing.T) {
	nobody := func(_ string, pid int32) error {
		return fmt.Errorf("process %d is not in the pod's cgroup: %w", pid, errdefs.ErrPermissionDenied)
	}
	sock := servePodSocket(t, api.PodLimits, nobody)
	_, err := api.NewClient(sock).GetPod(context.Background(), "default", "web")
	if !errdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "serves only the processes of pod default/web") {
		t.Fatalf("GetPod from a process that is not the pod's: %v, want permission denied", err)
	}
	if p, err := api.NewClient(servePodSocket(t, api.PodLimits, selfOnly)).GetPod(context.Background(), "default", "web"); err != nil || p.Metadata.UID != "u1" {
		t.Fatalf("GetPod from the pod's own process: %v, %v", p, err)
	}
}

func TestInCgroup(t *testing.T) {
	v1 := "12:pids:/podd/podu1/abc\n11:memory:/podd/podu1/abc\n1:name=systemd:/podd/podu1/abc\n0::/\n"
	for _, tt := range []struct {
		file, cg string
		want     bool
	}{
		{v1, "/podd/podu1", true},
		{v1, "podd/podu1", true},
		{"0::/podd/podu1\n", "/podd/podu1", true},
		{"0::/podd/podu1/c/d\n", "/podd/podu1/", true},
		{"0::/podd/podu12/c\n", "/podd/podu1", false}, // a prefix of another pod's UID
		{"0::/user.slice/session-1.scope\n", "/podd/podu1", false},
		{"0::/\n", "/", false},
		{"", "/podd/podu1", false},
		{"garbage", "/podd/podu1", false},
		{"0::/podd/podu1/../../x\n", "/podd/podu1", true}, // the kernel never writes .., the path is taken as is
	} {
		if got := api.InCgroup([]byte(tt.file), tt.cg); got != tt.want {
			t.Errorf("inCgroup(%q, %q) = %t, want %t", tt.file, tt.cg, got, tt.want)
		}
	}
}

// Finding 2: a POST to a pod's socket is refused by its method before its body is read: the
// answer comes while the client has sent only the headers of a 15 MiB body.
func TestPodSocketRefusesBodyUnread(t *testing.T) {
	sock := servePodSocket(t, api.PodLimits, selfOnly)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/pods HTTP/1.1\r\nHost: pod\r\nContent-Length: %d\r\n\r\n", 15<<20)
	// Generous: a server that waits for the body never answers.
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPreconditionFailed || !strings.Contains(string(body), "POST /v1/pods is not allowed through the pod's own API socket") {
		t.Errorf("POST: %s %s", resp.Status, body)
	}
	if !resp.Close {
		t.Errorf("the connection stays open for the body: %v", resp.Header)
	}
}

// Findings 2 and 9: an idle keep-alive connection, and one that sends half its headers, are
// closed by the server.
func TestPodSocketClosesIdleConnections(t *testing.T) {
	l := api.PodLimits
	l.IdleTimeout, l.ReadHeaderTimeout, l.BodyTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	sock := servePodSocket(t, l, selfOnly)
	for _, send := range []string{
		"GET /v1/version HTTP/1.1\r\nHost: pod\r\n\r\n",                          // answered, then idle
		"GET /v1/version HTTP/1.1\r\nHost: p",                                    // half a header
		"GET /v1/version HTTP/1.1\r\nHost: pod\r\nContent-Length: 100\r\n\r\nab", // a slow body
	} {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, send)
		// Generous: the server must close well before this; a test deadline, not a measurement.
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%q: the connection is still open after a minute", send)
		}
	}
}

// Finding 2: past MaxConns, connections wait in the kernel's queue: a request on one more is
// answered only once one of the held connections closes.
func TestPodSocketConnectionCap(t *testing.T) {
	l := api.PodLimits
	l.MaxConns = 4
	sock := servePodSocket(t, l, selfOnly)
	var held []net.Conn
	for range l.MaxConns {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Each held connection is served: it answers a request, then idles.
		io.WriteString(c, "GET /v1/version HTTP/1.1\r\nHost: pod\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	io.WriteString(extra, "GET /v1/version HTTP/1.1\r\nHost: pod\r\n\r\n")
	answered := make(chan error, 1)
	go func() {
		_, err := http.ReadResponse(bufio.NewReader(extra), nil)
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a connection past the cap of %d was served (%v)", l.MaxConns, err)
	case <-time.After(500 * time.Millisecond):
	}
	held[0].Close()
	if err := <-answered; err != nil {
		t.Fatalf("after a held connection closed: %v", err)
	}
}
