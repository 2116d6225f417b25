package dns

import (
	"net"
	"net/netip"
	"sync"
)

// perClient counts what each asker (by address) holds, so that one pod cannot take all of a
// shared cap: all the forwards in flight or all the TCP connections.
type perClient struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newPerClient(max int) *perClient { return &perClient{max: max, n: map[netip.Addr]int{}} }

// take counts one more for ip, unless it holds max already.
func (p *perClient) take(ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] >= p.max {
		return false
	}
	p.n[ip]++
	return true
}

func (p *perClient) release(ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip]--; p.n[ip] <= 0 {
		delete(p.n, ip)
	}
}

// addrOf is the IP of a UDP or TCP address.
func addrOf(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	return ip.Unmap()
}

// clientLimitListener closes a connection at once when its asker holds its share already.
type clientLimitListener struct {
	net.Listener
	clients *perClient
}

func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrOf(c.RemoteAddr())
		if !l.clients.take(ip) {
			c.Close()
			continue
		}
		return &clientConn{Conn: c, release: func() { l.clients.release(ip) }}, nil
	}
}

type clientConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
