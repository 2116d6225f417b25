// Package dns is the cluster DNS that podd serves to its pods on the pod bridge's gateway: it
// answers the names of Services in the cluster domain (Kubernetes' DNS-based service discovery
// specification, shaped as CoreDNS' kubernetes plugin answers) from a table that podd replaces
// whole whenever Services or their endpoints change, and forwards every other name to the host's
// resolvers. It is built on github.com/miekg/dns.
//
// What a pod can make podd do is bounded: forwarded queries are capped (MaxForwards at once, and
// a share of them per asker; the next ones get SERVFAIL at once rather than a queue), each
// upstream exchange has a timeout, nothing of the cluster domain is ever forwarded and no upstream
// may be the server itself (no loops), UDP answers are cut to the asker's buffer (TC set), TCP
// connections are capped (all together and per asker) and time out, and only askers from Clients
// are answered at all.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/netutil"
	"golang.org/x/sys/unix"
)

// Defaults of Config.
const (
	DefaultDomain = "cluster.local"
	// DefaultTTL is short so that a readiness change is seen within seconds by resolvers that
	// cache (Kubernetes' CoreDNS uses 30 s; podd's answers change with readiness).
	DefaultTTL            = 5
	DefaultMaxForwards    = 128
	DefaultForwardTimeout = 2 * time.Second
	// DefaultMaxTCPConns caps the TCP connections open at once, all askers together.
	DefaultMaxTCPConns = 128
	// DefaultPerClientShare is the part of MaxForwards and of MaxTCPConns one asker may hold.
	DefaultPerClientShare = 4
	// SchemaVersion is the version of Kubernetes' DNS specification answered at
	// dns-version.<domain> TXT.
	SchemaVersion = "1.1.0"
)

// Config configures a Server.
type Config struct {
	// Domain is the cluster domain (cluster.local).
	Domain string
	// Upstreams are the resolvers other names are forwarded to, host:port, tried in order.
	Upstreams []string
	// TTL of the cluster domain's answers and of its negative answers, in seconds.
	TTL uint32
	// MaxForwards caps the forwarded queries in flight; ForwardTimeout bounds each exchange with
	// an upstream.
	MaxForwards    int
	ForwardTimeout time.Duration
	MaxTCPConns    int
	// MaxForwardsPerClient and MaxTCPConnsPerClient are one asker's share (default: a quarter).
	MaxForwardsPerClient int
	MaxTCPConnsPerClient int
	// Clients are the addresses answered; others get REFUSED. Empty: everyone.
	Clients []netip.Prefix
	Log     *slog.Logger
}

// Server answers DNS queries. It is safe for concurrent use.
type Server struct {
	cfg    Config
	domain string // fully qualified, lower case
	table  atomic.Pointer[table]
	serial atomic.Uint32
	// forwards holds a token per forwarded query in flight; clientForwards and clientConns count
	// each asker's forwards and TCP connections.
	forwards       chan struct{}
	clientForwards *perClient
	clientConns    *perClient
	log            *slog.Logger

	mu      sync.Mutex
	servers []*mdns.Server
	done    sync.WaitGroup
}

// New makes a server without a table: until the first SetRecords, questions of the cluster domain
// get SERVFAIL ("try again"), not NXDOMAIN, which resolvers would cache as a Service's absence
// while podd is still starting.
func New(cfg Config) (*Server, error) {
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	domain := strings.ToLower(mdns.Fqdn(cfg.Domain))
	if _, ok := mdns.IsDomainName(domain); !ok || domain == "." {
		return nil, fmt.Errorf("cluster domain %q is not a domain name", cfg.Domain)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxForwards <= 0 {
		cfg.MaxForwards = DefaultMaxForwards
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.MaxTCPConns <= 0 {
		cfg.MaxTCPConns = DefaultMaxTCPConns
	}
	if cfg.MaxForwardsPerClient <= 0 {
		cfg.MaxForwardsPerClient = max(1, cfg.MaxForwards/DefaultPerClientShare)
	}
	if cfg.MaxTCPConnsPerClient <= 0 {
		cfg.MaxTCPConnsPerClient = max(1, cfg.MaxTCPConns/DefaultPerClientShare)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	for _, u := range cfg.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("upstream %q: want host:port: %w", u, err)
		}
	}
	return &Server{
		cfg: cfg, domain: domain, log: cfg.Log,
		forwards:       make(chan struct{}, cfg.MaxForwards),
		clientForwards: newPerClient(cfg.MaxForwardsPerClient),
		clientConns:    newPerClient(cfg.MaxTCPConnsPerClient),
	}, nil
}

// HostUpstreams reads the resolvers of a resolv.conf file (the host's /etc/resolv.conf) as
// host:port. A loopback resolver (systemd-resolved's 127.0.0.53) is fine: podd runs in the host's
// network namespace.
func HostUpstreams(path string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the host's resolvers from %s: %w", path, err)
	}
	out := make([]string, 0, len(cc.Servers))
	for _, ns := range cc.Servers {
		out = append(out, net.JoinHostPort(ns, cc.Port))
	}
	return out, nil
}

// Domain is the cluster domain, fully qualified (cluster.local.).
func (s *Server) Domain() string { return s.domain }

// SetRecords replaces the table the cluster domain is answered from. Queries being answered see
// the old table or the new one, never a mix.
func (s *Server) SetRecords(r Records) {
	s.table.Store(build(r, s.domain, s.serial.Add(1)))
}

// Start listens on addr (ip:port; port 0 picks one) over UDP and TCP and serves until ctx ends or
// Shutdown; it returns the address it listens on. The address need not be the host's yet (the
// pod bridge's gateway appears with the first pod): the sockets are bound with IP_FREEBIND and
// receive once it is. An upstream equal to that address is refused: it would be a loop.
func (s *Server) Start(ctx context.Context, addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	lc := net.ListenConfig{Control: freebind}
	var pc net.PacketConn
	var ln net.Listener
	// With port 0 the UDP port may be taken over TCP: try a few.
	for try := 0; ; try++ {
		pc, err = lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return "", fmt.Errorf("listen on %s/udp: %w", addr, err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err = lc.Listen(ctx, "tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err == nil {
			break
		}
		pc.Close()
		if !errors.Is(err, syscall.EADDRINUSE) || try >= 10 || !strings.HasSuffix(addr, ":0") {
			return "", fmt.Errorf("listen on %s/tcp: %w", addr, err)
		}
	}
	bound := pc.LocalAddr().String()
	for _, u := range s.cfg.Upstreams {
		if sameAddr(u, bound) {
			pc.Close()
			ln.Close()
			return "", fmt.Errorf("upstream %s is this server's own address: queries would loop", u)
		}
	}
	udp := &mdns.Server{PacketConn: pc, Handler: s, UDPSize: mdns.MaxMsgSize}
	tcp := &mdns.Server{
		Listener: &clientLimitListener{Listener: netutil.LimitListener(ln, s.cfg.MaxTCPConns), clients: s.clientConns}, Handler: s,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		IdleTimeout:   func() time.Duration { return 8 * time.Second },
		MaxTCPQueries: 128,
	}
	s.mu.Lock()
	s.servers = append(s.servers, udp, tcp)
	s.mu.Unlock()
	for _, srv := range []*mdns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Warn("cluster DNS stopped serving", "address", bound, "err", err)
			}
		}()
		<-started
	}
	go func() {
		<-ctx.Done()
		s.Shutdown()
	}()
	return bound, nil
}

// Shutdown stops serving and waits until the servers have stopped.
func (s *Server) Shutdown() {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.ShutdownContext(ctx)
		cancel()
	}
	s.done.Wait()
}

func freebind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		level, opt := unix.SOL_IP, unix.IP_FREEBIND
		if strings.HasSuffix(network, "6") {
			level, opt = unix.SOL_IPV6, unix.IPV6_FREEBIND
		}
		serr = unix.SetsockoptInt(int(fd), level, opt, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func sameAddr(a, b string) bool {
	pa, err1 := netip.ParseAddrPort(a)
	pb, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port()
}

// ServeDNS answers one query: from the table for the cluster domain (and the reverse names of
// its endpoints), from the upstreams for everything else.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if !s.allowed(w.RemoteAddr()) {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeRefused)
		s.write(w, r, m)
		return
	}
	if len(r.Question) != 1 || r.Opcode != mdns.OpcodeQuery {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeFormatError)
		if r.Opcode != mdns.OpcodeQuery {
			m.SetRcode(r, mdns.RcodeNotImplemented)
		}
		s.write(w, r, m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	t := s.table.Load()
	switch {
	case mdns.IsSubDomain(s.domain, name) && t == nil:
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeServerFailure)
		m.RecursionAvailable = true
		s.write(w, r, m)
	case mdns.IsSubDomain(s.domain, name):
		s.write(w, r, s.answer(t, r, name))
	case t != nil && q.Qtype == mdns.TypePTR && len(t.ptr[name]) > 0:
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Authoritative, m.RecursionAvailable = true, true
		for _, target := range t.ptr[name] {
			m.Answer = append(m.Answer, &mdns.PTR{Hdr: s.hdr(q.Name, mdns.TypePTR), Ptr: target})
		}
		s.write(w, r, m)
	default:
		s.forward(w, r)
	}
}

func (s *Server) allowed(addr net.Addr) bool {
	if len(s.cfg.Clients) == 0 {
		return true
	}
	ip := addrOf(addr)
	for _, p := range s.cfg.Clients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) hdr(name string, rrtype uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: s.cfg.TTL}
}

// soa is the cluster domain's SOA record; its minimum is the TTL of negative answers.
func (s *Server) soa(t *table) *mdns.SOA {
	return &mdns.SOA{
		Hdr: s.hdr(s.domain, mdns.TypeSOA),
		Ns:  "ns.dns." + s.domain, Mbox: "hostmaster." + s.domain,
		Serial: t.serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.cfg.TTL,
	}
}

// answer answers a question of the cluster domain, authoritatively: records, NODATA or NXDOMAIN.
func (s *Server) answer(t *table, r *mdns.Msg, name string) *mdns.Msg {
	q := r.Question[0]
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	n, ok := t.names[name]
	if !ok {
		if ip, isPod := s.podRecord(name); isPod {
			// <a-b-c-d>.<ns>.pod.<domain>: the specification's deprecated pod records, which
			// CoreDNS answers for any address ("pods insecure", kubeadm's default).
			n, ok = &node{addrs: []netip.Addr{ip}}, true
		}
	}
	if !ok || q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{s.soa(t)}
		return m
	}
	want := func(rrtype uint16) bool { return q.Qtype == rrtype || q.Qtype == mdns.TypeANY }
	for _, ip := range n.addrs {
		switch {
		case ip.Is4() && want(mdns.TypeA):
			m.Answer = append(m.Answer, &mdns.A{Hdr: s.hdr(q.Name, mdns.TypeA), A: ip.AsSlice()})
		case ip.Is6() && want(mdns.TypeAAAA):
			m.Answer = append(m.Answer, &mdns.AAAA{Hdr: s.hdr(q.Name, mdns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	if want(mdns.TypeSRV) {
		for _, srv := range n.srv {
			m.Answer = append(m.Answer, &mdns.SRV{Hdr: s.hdr(q.Name, mdns.TypeSRV), Priority: 0, Weight: uint16(max(1, 100/len(n.srv))), Port: srv.port, Target: srv.target})
			if tn, ok := t.names[srv.target]; ok {
				for _, ip := range tn.addrs {
					if ip.Is4() {
						m.Extra = append(m.Extra, &mdns.A{Hdr: s.hdr(srv.target, mdns.TypeA), A: ip.AsSlice()})
					} else {
						m.Extra = append(m.Extra, &mdns.AAAA{Hdr: s.hdr(srv.target, mdns.TypeAAAA), AAAA: ip.AsSlice()})
					}
				}
			}
		}
	}
	if name == "dns-version."+s.domain && want(mdns.TypeTXT) {
		m.Answer = append(m.Answer, &mdns.TXT{Hdr: s.hdr(q.Name, mdns.TypeTXT), Txt: []string{SchemaVersion}})
	}
	if name == s.domain && want(mdns.TypeSOA) {
		soa := s.soa(t)
		soa.Hdr.Name = q.Name
		m.Answer = append(m.Answer, soa)
	}
	if len(m.Answer) == 0 {
		m.Ns = []mdns.RR{s.soa(t)} // NODATA: the name exists without records of this type
	}
	return m
}

// podRecord reads <a-b-c-d>.<ns>.pod.<domain>.
func (s *Server) podRecord(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".pod."+s.domain)
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 2 || labels[1] == "" {
		return netip.Addr{}, false
	}
	return undashed(labels[0])
}

// forward asks the upstreams, in order, over the transport the question came by, and passes
// their answer on; SERVFAIL when none answers or too many forwards are in flight.
func (s *Server) forward(w mdns.ResponseWriter, r *mdns.Msg) {
	fail := func() {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeServerFailure)
		m.RecursionAvailable = true
		s.write(w, r, m)
	}
	if len(s.cfg.Upstreams) == 0 {
		fail()
		return
	}
	asker := addrOf(w.RemoteAddr())
	if !s.clientForwards.take(asker) {
		fail()
		return
	}
	defer s.clientForwards.release(asker)
	select {
	case s.forwards <- struct{}{}:
		defer func() { <-s.forwards }()
	default:
		fail()
		return
	}
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &mdns.Client{Net: network, Timeout: s.cfg.ForwardTimeout, UDPSize: mdns.MaxMsgSize}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ForwardTimeout*time.Duration(len(s.cfg.Upstreams)))
	defer cancel()
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.ExchangeContext(ctx, r, up)
		if err != nil {
			s.log.Debug("cluster DNS: upstream did not answer", "upstream", up, "name", r.Question[0].Name, "err", err)
			continue
		}
		resp.Id = r.Id
		s.write(w, r, resp)
		return
	}
	fail()
}

// write sends m, cut to what the asker can take over UDP (its EDNS0 buffer, else 512 bytes).
func (s *Server) write(w mdns.ResponseWriter, r, m *mdns.Msg) {
	size := mdns.MaxMsgSize
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		size = mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("cluster DNS: write answer", "to", w.RemoteAddr(), "err", err)
	}
}
