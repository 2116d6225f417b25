package runtime

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// The first create of a pod goes alone; the others go once its shim answers, before it ends.
func TestShimGate(t *testing.T) {
	var g shimGate
	socket := filepath.Join(t.TempDir(), "shim.sock")
	firstDone, err := g.enter(t.Context(), socket)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan func())
	go func() {
		done, err := g.enter(t.Context(), socket)
		if err != nil {
			t.Error(err)
		}
		entered <- done
	}()
	select {
	case <-entered:
		t.Fatal("a second create went ahead while the first was starting the shim")
	case <-time.After(50 * time.Millisecond):
	}
	ln, err := net.Listen("unix", socket) // the shim answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	select {
	case done := <-entered:
		done()
	case <-time.After(2 * time.Second):
		t.Fatal("the second create still waits after the shim answered")
	}
	firstDone()
	// With the shim up, a create goes at once.
	done, err := g.enter(t.Context(), socket)
	if err != nil {
		t.Fatal(err)
	}
	done()
}

// A first create that ends without a shim (it failed) lets the next one try.
func TestShimGateFirstFails(t *testing.T) {
	var g shimGate
	socket := filepath.Join(t.TempDir(), "shim.sock")
	firstDone, _ := g.enter(t.Context(), socket)
	entered := make(chan struct{})
	go func() {
		done, err := g.enter(t.Context(), socket)
		if err == nil {
			done()
		}
		close(entered)
	}()
	time.Sleep(20 * time.Millisecond)
	firstDone()
	select {
	case <-entered:
	case <-time.After(2 * time.Second):
		t.Fatal("the second create waits forever after the first failed")
	}
}

func TestShimSocket(t *testing.T) {
	// As containerd's shim.SocketAddress computes it (checked against a running shim).
	// sha256("/run/containerd/containerd.sock/podd/u"), as `sha256sum` prints it.
	want := "/run/containerd/s/d3135e5710d67dbaafeddf10deab9244f097bae9b6832ddec5b9da6f6f90fe7c"
	if got := shimSocket("/run/containerd/containerd.sock", "podd", "u"); got != want {
		t.Errorf("shimSocket = %s, want %s", got, want)
	}
}
