package sandbox

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
//
// A host name is resolved first, from podd's namespace (as the kubelet resolves a probe's host
// from the node's), and the addresses are dialled one after the other on that one thread: Go's
// dialer would otherwise resolve, and race a second address family ("happy eyeballs"), on other
// goroutines — other threads, outside the pod's namespace.
func (r *Host) Dial(ctx context.Context, sb *pod.Sandbox, network, address string) (net.Conn, error) {
	d := net.Dialer{FallbackDelay: -1}
	if sb == nil {
		// Never fall back to the host's namespace: a probe would reach the host's loopback.
		return nil, fmt.Errorf("dial %s: the pod's sandbox is not set up", address)
	}
	if sb.NetNSPath == "" { // hostNetwork
		return d.DialContext(ctx, network, address)
	}
	addrs, err := resolve(ctx, address)
	if err != nil {
		return nil, err
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
		var conn net.Conn
		for _, a := range addrs {
			if conn, err = d.DialContext(ctx, network, a); err == nil || ctx.Err() != nil {
				break
			}
		}
		// Only a thread that made it back to its namespace is given back to Go's scheduler.
		if netns.Set(origin) == nil {
			goruntime.UnlockOSThread()
		}
		res <- result{conn, err}
	}()
	r0 := <-res
	return r0.conn, r0.err
}

// resolve turns host:port into ip:port addresses; an address with an IP is returned as it is.
func resolve(ctx context.Context, address string) ([]string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	if net.ParseIP(host) != nil {
		return []string{address}, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("dial %s: %s has no address", address, host)
	}
	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = net.JoinHostPort(ip.String(), port)
	}
	return addrs, nil
}
