package runtime

import (
	"context"
	"fmt"
	"net"
	goruntime "runtime"

	"github.com/vishvananda/netns"

	"github.com/podd-dev/podd/pkg/pod"
)

// Dial connects from inside the pod's network namespace (probes and hooks reach the pod's
// loopback there). A socket belongs to the namespace it was created in, so only the connect
// happens on a thread switched into the pod; the connection then works from any goroutine.
func (r *Runtime) Dial(ctx context.Context, sb *pod.Sandbox, network, address string) (net.Conn, error) {
	var d net.Dialer
	if sb == nil {
		// Never fall back to the host's namespace: a probe would reach the host's loopback.
		return nil, fmt.Errorf("dial %s: the pod's sandbox is not set up", address)
	}
	if sb.NetNSPath == "" { // hostNetwork
		return d.DialContext(ctx, network, address)
	}
	type result struct {
		conn net.Conn
		err  error
	}
	res := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			res <- result{err: fmt.Errorf("current netns: %w", err)}
			return
		}
		defer origin.Close()
		target, err := netns.GetFromPath(sb.NetNSPath)
		if err != nil {
			res <- result{err: fmt.Errorf("pod netns %s: %w", sb.NetNSPath, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			res <- result{err: fmt.Errorf("enter pod netns: %w", err)}
			return
		}
		conn, err := d.DialContext(ctx, network, address)
		// Only a thread that made it back to its namespace is given back to Go's scheduler.
		if netns.Set(origin) == nil {
			goruntime.UnlockOSThread()
		}
		res <- result{conn, err}
	}()
	r0 := <-res
	return r0.conn, r0.err
}
