package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// upstream is a fake resolver on 127.0.0.1 that the tests start: outside.test. and everything
// below it resolve to 192.0.2.1; it counts the queries it gets, and holds each one until release
// is closed when hold is set.
type upstream struct {
	addr    string
	queries atomic.Int32
	hold    chan struct{}
}

func startUpstream(t *testing.T, hold bool) *upstream {
	t.Helper()
	u := &upstream{}
	if hold {
		u.hold = make(chan struct{})
	}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		u.queries.Add(1)
		if u.hold != nil {
			<-u.hold
		}
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if mdns.IsSubDomain("outside.test.", strings.ToLower(q.Name)) && q.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("the UDP port's TCP twin is taken: %v", err)
	}
	u.addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() { defer wg.Done(); _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	t.Cleanup(func() {
		if u.hold != nil {
			select {
			case <-u.hold:
			default:
				close(u.hold)
			}
		}
	})
	return u
}

func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := s.Start(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); s.Shutdown() })
	return s, addr
}

func ask(t *testing.T, addr, network, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m, err := query(addr, network, name, qtype, 0)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, mdns.TypeToString[qtype], network, err)
	}
	return m
}

func query(addr, network, name string, qtype uint16, edns uint16) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network, Timeout: 10 * time.Second}
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	if edns > 0 {
		q.SetEdns0(edns, false)
	}
	m, _, err := c.Exchange(q, addr)
	return m, err
}

// addrs lists the A and AAAA answers, sorted.
func addrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	sort.Strings(out)
	return out
}

func eps(ips ...string) []Endpoint {
	var out []Endpoint
	for _, ip := range ips {
		out = append(out, Endpoint{IP: netip.MustParseAddr(ip)})
	}
	return out
}

func TestServiceNames(t *testing.T) {
	up := startUpstream(t, false)
	s, addr := startServer(t, Config{Upstreams: []string{up.addr}})
	s.SetRecords(Records{Services: []Service{
		{Namespace: "default", Name: "web", Ports: []Port{{Name: "http", Protocol: "TCP", Port: 80}, {Port: 81}}, Endpoints: eps("10.1.0.2", "10.1.0.3")},
		{Namespace: "other", Name: "web", Endpoints: eps("10.1.0.9")},
		{Namespace: "default", Name: "empty", Ports: []Port{{Name: "http", Port: 80}}},
		{Namespace: "default", Name: "six", Endpoints: eps("fd00::5")},
	}})
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			tests := []struct {
				name  string
				qtype uint16
				rcode int
				want  []string
			}{
				{"web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"10.1.0.2", "10.1.0.3"}},
				{"WEB.Default.svc.Cluster.Local.", mdns.TypeA, mdns.RcodeSuccess, []string{"10.1.0.2", "10.1.0.3"}},
				{"web.other.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"10.1.0.9"}},
				// The name exists, without IPv6 addresses: NODATA.
				{"web.default.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, nil},
				{"six.default.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"fd00::5"}},
				// No ready endpoint: NXDOMAIN, as the specification says of headless Services.
				{"empty.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
				{"_http._tcp.empty.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, nil},
				{"nope.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
				{"web.nope.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
				// A search path expansion of an outside name: answered here, never forwarded.
				{"outside.test.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
				// Names above the Services exist (empty non-terminals).
				{"default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil},
				{"svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil},
				// The deprecated pod records.
				{"10-1-0-7.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"10.1.0.7"}},
				{"10-1-0-x.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			}
			for _, tt := range tests {
				m := ask(t, addr, network, tt.name, tt.qtype)
				if m.Rcode != tt.rcode || !slices.Equal(addrs(m), tt.want) {
					t.Errorf("%s %s: rcode %s, answers %v; want %s, %v", tt.name, mdns.TypeToString[tt.qtype],
						mdns.RcodeToString[m.Rcode], addrs(m), mdns.RcodeToString[tt.rcode], tt.want)
				}
				if !m.Authoritative {
					t.Errorf("%s: not authoritative", tt.name)
				}
				if len(m.Answer) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != mdns.TypeSOA) {
					t.Errorf("%s: a negative answer without the zone's SOA (for its TTL): %v", tt.name, m.Ns)
				}
				for _, rr := range m.Answer {
					if rr.Header().Name != tt.name || rr.Header().Ttl != DefaultTTL {
						t.Errorf("%s: answer %v, want the question's name and TTL %d", tt.name, rr, DefaultTTL)
					}
				}
			}
			m := ask(t, addr, network, "_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV)
			if len(m.Answer) != 1 {
				t.Fatalf("SRV of a named port: %v", m.Answer)
			}
			if srv := m.Answer[0].(*mdns.SRV); srv.Port != 80 || srv.Target != "web.default.svc.cluster.local." {
				t.Errorf("SRV of a named port: %v, want port 80 and the Service's name", srv)
			}
			if got := addrs(&mdns.Msg{Answer: m.Extra}); !slices.Equal(got, []string{"10.1.0.2", "10.1.0.3"}) {
				t.Errorf("SRV additional addresses %v", got)
			}
			m = ask(t, addr, network, "dns-version.cluster.local.", mdns.TypeTXT)
			if len(m.Answer) != 1 || m.Answer[0].(*mdns.TXT).Txt[0] != SchemaVersion {
				t.Errorf("dns-version TXT: %v", m.Answer)
			}
		})
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("the upstream got %d queries of the cluster domain, want none", n)
	}
}

func TestHeadlessService(t *testing.T) {
	srv, addr2 := startServer(t, Config{Domain: "Example.Internal."})
	srv.SetRecords(Records{Services: []Service{{
		Namespace: "db", Name: "pg", Headless: true,
		Ports:     []Port{{Name: "sql", Protocol: "TCP", Port: 5432}},
		Endpoints: []Endpoint{{IP: netip.MustParseAddr("10.1.0.4"), Hostname: "pg-0"}, {IP: netip.MustParseAddr("10.1.0.5")}},
	}}})
	m := ask(t, addr2, "udp", "pg.db.svc.example.internal.", mdns.TypeA)
	if got := addrs(m); !slices.Equal(got, []string{"10.1.0.4", "10.1.0.5"}) {
		t.Errorf("headless A: %v", got)
	}
	for name, want := range map[string]string{"pg-0.pg.db.svc.example.internal.": "10.1.0.4", "10-1-0-5.pg.db.svc.example.internal.": "10.1.0.5"} {
		if got := addrs(ask(t, addr2, "udp", name, mdns.TypeA)); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
	m = ask(t, addr2, "tcp", "_sql._tcp.pg.db.svc.example.internal.", mdns.TypeSRV)
	var targets []string
	for _, rr := range m.Answer {
		srv := rr.(*mdns.SRV)
		if srv.Port != 5432 {
			t.Errorf("SRV port %d, want 5432", srv.Port)
		}
		targets = append(targets, srv.Target)
	}
	sort.Strings(targets)
	if want := []string{"10-1-0-5.pg.db.svc.example.internal.", "pg-0.pg.db.svc.example.internal."}; !slices.Equal(targets, want) {
		t.Errorf("headless SRV targets %v, want %v", targets, want)
	}
	m = ask(t, addr2, "udp", "4.0.1.10.in-addr.arpa.", mdns.TypePTR)
	if len(m.Answer) != 1 || m.Answer[0].(*mdns.PTR).Ptr != "pg-0.pg.db.svc.example.internal." {
		t.Errorf("PTR of an endpoint with a hostname: %v", m.Answer)
	}
	if m := ask(t, addr2, "udp", "pg.db.svc.cluster.local.", mdns.TypeA); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("cluster.local under another cluster domain: %s, want it forwarded (no upstream: SERVFAIL)", mdns.RcodeToString[m.Rcode])
	}
}

// TestSetRecordsFollows: the answers are the table last set, at once; before the first, the
// cluster domain is SERVFAIL (try again), not NXDOMAIN (which resolvers cache).
func TestSetRecordsFollows(t *testing.T) {
	s, addr := startServer(t, Config{})
	if m := ask(t, addr, "udp", "web.default.svc.cluster.local.", mdns.TypeA); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("before the first table: %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
	}
	sets := [][]string{{"10.1.0.2"}, {"10.1.0.2", "10.1.0.3"}, {"10.1.0.3"}, nil, {"10.1.0.4"}}
	for _, set := range sets {
		s.SetRecords(Records{Services: []Service{{Namespace: "default", Name: "web", Endpoints: eps(set...)}}})
		m := ask(t, addr, "udp", "web.default.svc.cluster.local.", mdns.TypeA)
		if got := addrs(m); !slices.Equal(got, set) {
			t.Errorf("after SetRecords(%v): %v (%s)", set, got, mdns.RcodeToString[m.Rcode])
		}
		if len(set) == 0 && m.Rcode != mdns.RcodeNameError {
			t.Errorf("no endpoints: %s, want NXDOMAIN", mdns.RcodeToString[m.Rcode])
		}
	}
}

func TestForward(t *testing.T) {
	up := startUpstream(t, false)
	// The first upstream does not answer at all: the next one is asked.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	_, addr := startServer(t, Config{Upstreams: []string{dead.LocalAddr().String(), up.addr}, ForwardTimeout: 500 * time.Millisecond})
	for _, network := range []string{"udp", "tcp"} {
		m := ask(t, addr, network, "www.outside.test.", mdns.TypeA)
		if got := addrs(m); !slices.Equal(got, []string{"192.0.2.1"}) || m.Rcode != mdns.RcodeSuccess {
			t.Errorf("forwarded over %s: %s %v", network, mdns.RcodeToString[m.Rcode], got)
		}
		if m := ask(t, addr, network, "nothing.test.", mdns.TypeA); m.Rcode != mdns.RcodeNameError {
			t.Errorf("forwarded NXDOMAIN over %s: %s", network, mdns.RcodeToString[m.Rcode])
		}
	}
	if up.queries.Load() != 4 {
		t.Errorf("the upstream got %d queries, want 4", up.queries.Load())
	}
}

func TestForwardNoUpstreamAnswers(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	_, addr := startServer(t, Config{Upstreams: []string{dead.LocalAddr().String()}, ForwardTimeout: 200 * time.Millisecond})
	if m := ask(t, addr, "udp", "www.outside.test.", mdns.TypeA); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("no upstream answers: %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
	}
}

// TestForwardCap: with MaxForwards in flight, the next forwarded query fails at once instead of
// waiting; the cluster domain is still answered.
func TestForwardCap(t *testing.T) {
	up := startUpstream(t, true)
	s, addr := startServer(t, Config{Upstreams: []string{up.addr}, MaxForwards: 2, MaxForwardsPerClient: 2, ForwardTimeout: time.Minute})
	s.SetRecords(Records{Services: []Service{{Namespace: "default", Name: "web", Endpoints: eps("10.1.0.2")}}})
	var held sync.WaitGroup
	for i := range 2 {
		held.Add(1)
		go func() {
			defer held.Done()
			_, _ = query(addr, "udp", fmt.Sprintf("h%d.outside.test.", i), mdns.TypeA, 0)
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for up.queries.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if up.queries.Load() != 2 {
		t.Fatalf("the upstream got %d queries, want 2 held", up.queries.Load())
	}
	if m := ask(t, addr, "udp", "third.outside.test.", mdns.TypeA); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("a forward beyond the cap: %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
	}
	if up.queries.Load() != 2 {
		t.Errorf("the upstream got %d queries, want the third never sent", up.queries.Load())
	}
	if got := addrs(ask(t, addr, "udp", "web.default.svc.cluster.local.", mdns.TypeA)); !slices.Equal(got, []string{"10.1.0.2"}) {
		t.Errorf("the cluster domain while forwards are capped: %v", got)
	}
	close(up.hold)
	held.Wait()
	if m := ask(t, addr, "udp", "fourth.outside.test.", mdns.TypeA); m.Rcode != mdns.RcodeSuccess {
		t.Errorf("a forward once the held ones ended: %s", mdns.RcodeToString[m.Rcode])
	}
}

// queryFrom asks from a loopback address of the test's choice.
func queryFrom(from, addr, network, name string) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network, Timeout: 10 * time.Second}
	if network == "tcp" {
		c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	} else {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	}
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeA)
	m, _, err := c.Exchange(q, addr)
	return m, err
}

// TestPerClientCaps: one asker cannot take all the forwards in flight, nor all the TCP
// connections: another asker still gets its share.
func TestPerClientCaps(t *testing.T) {
	up := startUpstream(t, true)
	s, addr := startServer(t, Config{Upstreams: []string{up.addr}, MaxForwards: 8, MaxForwardsPerClient: 2, MaxTCPConns: 8, MaxTCPConnsPerClient: 2, ForwardTimeout: time.Minute})
	s.SetRecords(Records{Services: []Service{{Namespace: "default", Name: "web", Endpoints: eps("10.1.0.2")}}})
	var held sync.WaitGroup
	for i := range 2 {
		held.Add(1)
		go func() {
			defer held.Done()
			_, _ = queryFrom("127.0.0.1", addr, "udp", fmt.Sprintf("h%d.outside.test.", i))
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for up.queries.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if m, err := queryFrom("127.0.0.1", addr, "udp", "third.outside.test."); err != nil || m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("a third forward of the same asker: %v %v, want SERVFAIL", m, err)
	}
	if up.queries.Load() != 2 {
		t.Errorf("the upstream got %d queries, want the same asker's third never sent", up.queries.Load())
	}
	// Another asker's forward goes out (and is held too, so it is counted, then released).
	other := make(chan *mdns.Msg, 1)
	go func() {
		m, _ := queryFrom("127.0.0.2", addr, "udp", "other.outside.test.")
		other <- m
	}()
	for up.queries.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if up.queries.Load() != 3 {
		t.Errorf("another asker's forward was not sent: the upstream got %d queries", up.queries.Load())
	}
	close(up.hold)
	held.Wait()
	if m := <-other; m == nil || m.Rcode != mdns.RcodeSuccess {
		t.Errorf("another asker's forward: %v", m)
	}

	// TCP: two connections of 127.0.0.1 held open; its third is closed at once, 127.0.0.2's served.
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// The server has accepted both once it answers on them.
	for _, c := range conns {
		dc := &mdns.Conn{Conn: c}
		q := new(mdns.Msg)
		q.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
		if err := dc.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		if _, err := dc.ReadMsg(); err != nil {
			t.Fatalf("a held connection: %v", err)
		}
	}
	if _, err := queryFrom("127.0.0.1", addr, "tcp", "web.default.svc.cluster.local."); err == nil {
		t.Errorf("a third TCP connection of the same asker was served")
	}
	if m, err := queryFrom("127.0.0.2", addr, "tcp", "web.default.svc.cluster.local."); err != nil || len(m.Answer) != 1 {
		t.Errorf("another asker over TCP: %v %v", m, err)
	}
}

// TestTruncate: a UDP answer fits the asker's buffer, with TC set when records were left out;
// over TCP it is whole.
func TestTruncate(t *testing.T) {
	s, addr := startServer(t, Config{})
	var many []string
	for i := range 200 {
		many = append(many, fmt.Sprintf("10.1.%d.%d", i/250, 1+i%250))
	}
	s.SetRecords(Records{Services: []Service{{Namespace: "default", Name: "big", Headless: true, Endpoints: eps(many...)}}})
	for _, tt := range []struct {
		network string
		edns    uint16
		max     int
		whole   bool
	}{{"udp", 0, 512, false}, {"udp", 1232, 1232, false}, {"tcp", 0, mdns.MaxMsgSize, true}} {
		m, err := query(addr, tt.network, "big.default.svc.cluster.local.", mdns.TypeA, tt.edns)
		if err != nil {
			t.Fatalf("%s edns %d: %v", tt.network, tt.edns, err)
		}
		m.Compress = true // the size on the wire: the answer came compressed
		size := m.Len()
		if size > tt.max {
			t.Errorf("%s edns %d: %d bytes, want at most %d", tt.network, tt.edns, size, tt.max)
		}
		if whole := len(m.Answer) == 200 && !m.Truncated; whole != tt.whole {
			t.Errorf("%s edns %d: %d answers, truncated %v", tt.network, tt.edns, len(m.Answer), m.Truncated)
		}
		if !tt.whole && !m.Truncated {
			t.Errorf("%s edns %d: records left out without TC", tt.network, tt.edns)
		}
	}
}

// TestClients: an asker outside Clients is refused, and nothing is forwarded for it.
func TestClients(t *testing.T) {
	up := startUpstream(t, false)
	s, addr := startServer(t, Config{Upstreams: []string{up.addr}, Clients: []netip.Prefix{netip.MustParsePrefix("10.123.0.0/16")}})
	s.SetRecords(Records{Services: []Service{{Namespace: "default", Name: "web", Endpoints: eps("10.1.0.2")}}})
	for _, name := range []string{"web.default.svc.cluster.local.", "www.outside.test."} {
		if m := ask(t, addr, "udp", name, mdns.TypeA); m.Rcode != mdns.RcodeRefused || len(m.Answer) != 0 {
			t.Errorf("%s from 127.0.0.1: %s %v, want REFUSED", name, mdns.RcodeToString[m.Rcode], m.Answer)
		}
	}
	if up.queries.Load() != 0 {
		t.Errorf("forwarded %d queries of a refused asker", up.queries.Load())
	}
	_, addr = startServer(t, Config{Upstreams: []string{up.addr}, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if m := ask(t, addr, "tcp", "www.outside.test.", mdns.TypeA); m.Rcode != mdns.RcodeSuccess {
		t.Errorf("an allowed asker: %s", mdns.RcodeToString[m.Rcode])
	}
}

// TestNoLoop: the server refuses to forward to itself.
func TestNoLoop(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := l.LocalAddr().String()
	l.Close()
	s, err := New(Config{Upstreams: []string{self}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Start(context.Background(), self)
	if err == nil || !strings.Contains(err.Error(), "loop") {
		s.Shutdown()
		t.Fatalf("Start with itself as upstream: %v, want a loop refused", err)
	}
}

func TestHostUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("# comment\nnameserver 127.0.0.53\nnameserver fd00::53\nsearch example.test\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := HostUpstreams(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.53:53", "[fd00::53]:53"}; !slices.Equal(got, want) {
		t.Errorf("HostUpstreams: %v, want %v", got, want)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{{Domain: "bad..domain"}, {Upstreams: []string{"127.0.0.1"}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}
