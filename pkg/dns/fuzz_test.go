package dns

import (
	"net"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// recorder is a ResponseWriter that keeps the answer; the asker is on UDP unless tcp is set.
type recorder struct {
	tcp bool
	msg *mdns.Msg
}

func (r *recorder) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(10, 123, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(10, 123, 0, 7), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(10, 123, 0, 7), Port: 40000}
}
func (r *recorder) WriteMsg(m *mdns.Msg) error  { r.msg = m; return nil }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

// FuzzServeDNS: whatever a pod sends that parses as a DNS message, the server answers without
// panicking, with an answer that packs and, over UDP, fits the asker's buffer. Nothing is
// forwarded (no upstream: SERVFAIL).
func FuzzServeDNS(f *testing.F) {
	s, err := New(Config{Clients: []netip.Prefix{netip.MustParsePrefix("10.123.0.0/16")}})
	if err != nil {
		f.Fatal(err)
	}
	s.SetRecords(Records{Services: []Service{
		{Namespace: "default", Name: "web", Ports: []Port{{Name: "http", Protocol: "TCP", Port: 80}}, Endpoints: eps("10.123.0.2", "10.123.0.3", "fd00::4")},
		{Namespace: "db", Name: "pg", Headless: true, Ports: []Port{{Name: "sql", Port: 5432}}, Endpoints: []Endpoint{{IP: netip.MustParseAddr("10.123.0.9"), Hostname: "pg-0"}}},
	}})
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.default.svc.cluster.local.", mdns.TypeA},
		{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV},
		{"pg-0.pg.db.svc.cluster.local.", mdns.TypeANY},
		{"10-123-0-5.default.pod.cluster.local.", mdns.TypeAAAA},
		{"9.0.123.10.in-addr.arpa.", mdns.TypePTR},
		{"cluster.local.", mdns.TypeSOA},
		{"example.test.", mdns.TypeA},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(1232, false)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		r := new(mdns.Msg)
		if err := r.Unpack(data); err != nil {
			return
		}
		w := &recorder{tcp: tcp}
		s.ServeDNS(w, r)
		if w.msg == nil {
			t.Fatal("no answer")
		}
		b, err := w.msg.Pack()
		if err != nil {
			t.Fatalf("the answer does not pack: %v", err)
		}
		limit := mdns.MaxMsgSize
		if !tcp {
			limit = mdns.MinMsgSize
			if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > limit {
				limit = int(opt.UDPSize())
			}
		}
		if len(b) > limit {
			t.Fatalf("a %d-byte answer for a buffer of %d", len(b), limit)
		}
	})
}
