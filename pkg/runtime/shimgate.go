package runtime

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"
)

// shimGate keeps a pod's containers from starting its shim twice. They are created at once, and
// each task create runs `containerd-shim-runc-v2 start` for the pod's group; containerd 1.6's
// start, finding a socket that is bound but not yet listening, takes it for stale, removes it and
// starts a second shim: the first fails ("chmod ...: no such file"), or both run and one serves
// no task, leaked (seen about once in 250 pod starts). So the first task create of a pod goes
// alone until the pod's shim answers on its socket; the others follow at once then, in parallel.
type shimGate struct {
	mu      sync.Mutex
	pending map[string]chan struct{} // shim socket → closed once the shim answers
}

// shimSocket is where the runc v2 shim of a group listens: containerd's shim.SocketAddress
// (a hash of containerd's address, the namespace and the group, under /run/containerd/s).
func shimSocket(address, namespace, group string) string {
	d := sha256.Sum256([]byte(filepath.Join(address, namespace, group)))
	return filepath.Join("/run/containerd/s", fmt.Sprintf("%x", d))
}

// enter waits while another task create of the group is starting its shim, and then returns
// done, to be called once this create has ended. A create that finds no shim answering becomes the
// one that starts it: the others wait until its shim answers (or it ended, whichever is first).
func (g *shimGate) enter(ctx context.Context, socket string) (done func(), err error) {
	for {
		g.mu.Lock()
		if g.pending == nil {
			g.pending = map[string]chan struct{}{}
		}
		wait, busy := g.pending[socket]
		if !busy {
			if answers(socket) {
				g.mu.Unlock()
				return func() {}, nil
			}
			ready := make(chan struct{})
			g.pending[socket] = ready
			g.mu.Unlock()
			var once sync.Once
			release := func() {
				once.Do(func() {
					g.mu.Lock()
					delete(g.pending, socket)
					g.mu.Unlock()
					close(ready)
				})
			}
			stop := make(chan struct{})
			go func() {
				// Bounded: it ends when this create ends, at the latest.
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if answers(socket) {
							release()
							return
						}
					}
				}
			}()
			return func() { close(stop); release() }, nil
		}
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// answers says whether a shim listens on the socket.
func answers(socket string) bool {
	conn, err := net.DialTimeout("unix", socket, 100*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
