package integration

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/podd-dev/podd/pkg/pod"
)

// fakeUpstream is a resolver on the host's loopback that a test starts for podd to forward to:
// every name under outside.test. has the address 192.0.2.1 (TEST-NET-1, never dialled); other
// names are NXDOMAIN. It records the names it was asked, so that a test sees what podd forwarded.
type fakeUpstream struct {
	addr  string
	count atomic.Int32
	mu    sync.Mutex
	names []string
}

func startFakeUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		q := r.Question[0]
		u.count.Add(1)
		u.mu.Lock()
		u.names = append(u.names, strings.ToLower(q.Name))
		u.mu.Unlock()
		m := new(mdns.Msg)
		m.SetReply(r)
		if mdns.IsSubDomain("outside.test.", strings.ToLower(q.Name)) {
			if q.Qtype == mdns.TypeA {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
			}
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
		t.Fatalf("listen on the fake upstream's TCP port: %v", err)
	}
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) asked() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.names...)
}

// gatewayOf is the first address of the podd's --pod-cidr: its bridge's, the pods' nameserver.
func gatewayOf(p *Podd) string {
	return netip.MustParsePrefix(p.PodCIDR).Addr().Next().String()
}

// dnsPod is a pod of one sleeping container, with extra lines of spec.
func dnsPod(name, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 0
%s  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
`, name, extra, busyboxImage)
}

// TestClusterDNSResolvConf: each dnsPolicy gives the pod the resolv.conf the kubelet would, and a
// pod with the default policy resolves an outside name through podd, which forwards it to the
// upstream given with --dns-upstream (here a fake on the host's loopback, which a pod could not
// reach itself), while names of the cluster domain are answered by podd and never forwarded.
func TestClusterDNSResolvConf(t *testing.T) {
	t.Parallel()
	up := startFakeUpstream(t)
	p := startPoddWith(t, "--dns-upstream", up.addr)
	first, def, none, hostFirst, hostWith := uniqueName(t, "first"), uniqueName(t, "default"), uniqueName(t, "none"), uniqueName(t, "host"), uniqueName(t, "hostwith")
	mustRun(t, p, strings.Join([]string{
		dnsPod(first, ""),
		dnsPod(def, "  dnsPolicy: Default\n"),
		dnsPod(none, "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [192.0.2.53]\n    searches: [corp.example]\n    options:\n    - {name: ndots, value: \"2\"}\n    - {name: edns0}\n"),
		dnsPod(hostFirst, "  hostNetwork: true\n"),
		dnsPod(hostWith, "  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n"),
	}, "---\n"))

	hostData, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	host := pod.ParseResolvConf(hostData)
	if strings.Contains(string(hostData), "nameserver 127.0.0.53") {
		if up, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			host = pod.ParseResolvConf(up)
		}
	}
	cluster := pod.ResolvConf{
		Nameservers: []string{gatewayOf(p)},
		Searches:    append([]string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}, host.Searches...),
		Options:     []string{"ndots:5"},
	}
	for _, tt := range []struct {
		pod  string
		want pod.ResolvConf
	}{
		{first, cluster},
		{def, host},
		{none, pod.ResolvConf{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"ndots:2", "edns0"}}},
		{hostFirst, host},
		{hostWith, cluster},
	} {
		got := mustPodctl(t, p, "exec", tt.pod, "--", "cat", "/etc/resolv.conf").Stdout
		if want := string(tt.want.Bytes()); got != want {
			t.Errorf("/etc/resolv.conf of %s:\n%s\nwant:\n%s", tt.pod, got, want)
		}
	}

	t.Run("forwarded", func(t *testing.T) {
		res := p.Podctl(t, "exec", first, "--", "nslookup", "www.outside.test")
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, "192.0.2.1") {
			t.Errorf("nslookup www.outside.test in pod %s: %s", first, res)
		}
		if !containsName(up.asked(), "www.outside.test.") {
			t.Errorf("the upstream was not asked www.outside.test.; it was asked %v", up.asked())
		}
	})
	t.Run("the cluster domain is answered, not forwarded", func(t *testing.T) {
		before := up.count.Load()
		res := p.Podctl(t, "exec", first, "--", "nslookup", "nothing.default.svc.cluster.local.")
		if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, "NXDOMAIN") {
			t.Errorf("nslookup of an unknown Service: %s, want NXDOMAIN", res)
		}
		for _, n := range up.asked()[before:] {
			if strings.HasSuffix(n, "cluster.local.") {
				t.Errorf("the upstream was asked %s of the cluster domain", n)
			}
		}
	})
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
