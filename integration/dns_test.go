package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// readyPod is a pod labelled app=<label> that serves nothing and is ready while /tmp/ready
// exists (probed every second); ready says whether the file is there from the start.
func readyPod(name, label string, ready bool, extra string) string {
	touch := ""
	if ready {
		touch = "touch /tmp/ready && "
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {app: %s}
spec:
  terminationGracePeriodSeconds: 0
%s  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "%sexec sleep 3600"]
    ports:
    - {name: http, containerPort: 80}
    readinessProbe:
      exec: {command: ["test", "-e", "/tmp/ready"]}
      periodSeconds: 1
`, name, label, extra, busyboxImage, touch)
}

func serviceManifest(name, label, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
%s  selector: {app: %s}
  ports:
  - {name: http, port: 80}
`, name, extra, label)
}

// applyManifest applies a manifest with `podctl apply -f`; cleanup deletes what it made.
func applyManifest(t testing.TB, p *Podd, manifest string) {
	t.Helper()
	path := writeManifest(t, manifest)
	t.Cleanup(func() {
		if p.Running() {
			p.Podctl(t, "delete", "--grace-period", "0", "--ignore-not-found", "-f", path)
		}
	})
	mustPodctl(t, p, "apply", "-f", path)
}

// nslookup runs busybox nslookup of name in pod from and returns the addresses of its answer,
// sorted, and its output; no address for NXDOMAIN.
func nslookup(t testing.TB, p *Podd, from, name string) ([]string, Result) {
	t.Helper()
	res := p.Podctl(t, "exec", from, "--", "nslookup", "-type=a", name)
	var out []string
	named := false
	for line := range strings.Lines(res.Stdout) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "Name:":
			named = true
		case named && len(f) >= 2 && f[0] == "Address:":
			out = append(out, strings.TrimSuffix(f[len(f)-1], ":53"))
		}
	}
	slices.Sort(out)
	return out, res
}

// waitLookup waits until nslookup of name in pod from answers exactly want (nil: NXDOMAIN).
func waitLookup(t testing.TB, p *Podd, from, name string, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(podWaitTimeout)
	for {
		got, res := nslookup(t, p, from, name)
		if slices.Equal(got, want) && (len(want) > 0 || strings.Contains(res.Stdout+res.Stderr, "NXDOMAIN")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nslookup %s in pod %s: %v after %v, want %v; last:\n%s", name, from, got, podWaitTimeout, want, res)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitResolved waits until the pod's libc resolver (busybox ping, which follows resolv.conf's
// search path) resolves name to one of want's addresses.
func waitResolved(t testing.TB, p *Podd, from, name string, want []string) {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for {
		// One packet to a pod of this podd's own bridge (or none, when the name does not resolve).
		res := p.Podctl(t, "exec", from, "--", "ping", "-c", "1", "-W", "1", name)
		got := ""
		if _, rest, ok := strings.Cut(res.Stdout, "PING "+name+" ("); ok {
			got, _, _ = strings.Cut(rest, ")")
		}
		if slices.Contains(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in pod %s resolved to %q after %v, want one of %v; last:\n%s", name, from, got, podWaitTimeout, want, res)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestServiceDNSFollowsReadiness: a Service's name resolves in every pod, under each of its three
// spellings, to exactly its ready pods' addresses, as readiness flips both ways; a headless
// Service's member with hostname and subdomain has a name of its own; SRV follows named ports.
// With PODD_DNS_FOLLOW_ROUNDS=N it also measures, N times each way, the time from a readiness
// flip (the probe's file made or removed, `podctl exec` returned) to podd's DNS answering the new
// set, asked directly from the host every 5 ms, and logs the medians (a figure for the notes,
// asserted nowhere).
func TestServiceDNSFollowsReadiness(t *testing.T) {
	t.Parallel()
	// A podd of its own, forwarding to a fake upstream: busybox nslookup sends a dotted name
	// (svc.default) as it is, which podd forwards, and a test never asks outside resolvers.
	up := startFakeUpstream(t)
	p := startPoddWith(t, "--dns-upstream", up.addr)
	svc, headless := uniqueName(t, "svc"), uniqueName(t, "hl")
	a, b, member, client := uniqueName(t, "a"), uniqueName(t, "b"), uniqueName(t, "member"), uniqueName(t, "client")
	applyManifest(t, p, strings.Join([]string{
		serviceManifest(svc, svc, ""),
		serviceManifest(headless, headless, "  clusterIP: None\n"),
		readyPod(a, svc, false, ""),
		readyPod(b, svc, true, ""),
		readyPod(member, headless, true, fmt.Sprintf("  hostname: m0\n  subdomain: %s\n", headless)),
		dnsPod(client, ""),
	}, "---\n"))
	ips := map[string]string{}
	for _, name := range []string{a, b, member} {
		ips[name] = waitPod(t, p, name, "an address", func(got *pod.Pod) bool { return got.Status.PodIP != "" }).Status.PodIP
	}
	waitPod(t, p, client, "running", func(got *pod.Pod) bool { return got.Status.Phase == pod.PodRunning })

	fqdn := svc + ".default.svc.cluster.local"
	waitLookup(t, p, client, svc, []string{ips[b]})
	waitLookup(t, p, client, fqdn, []string{ips[b]})
	// <svc>.<ns> through the libc resolver's search path (busybox nslookup has none for a name
	// with a dot): ping prints the address it resolved.
	waitResolved(t, p, client, svc+".default", []string{ips[b]})
	mustPodctl(t, p, "exec", a, "--", "touch", "/tmp/ready")
	waitLookup(t, p, client, svc, []string{ips[a], ips[b]})
	waitLookup(t, p, client, fqdn, []string{ips[a], ips[b]})
	mustPodctl(t, p, "exec", b, "--", "rm", "/tmp/ready")
	waitLookup(t, p, client, fqdn, []string{ips[a]})
	waitResolved(t, p, client, svc+".default", []string{ips[a]})
	mustPodctl(t, p, "exec", a, "--", "rm", "/tmp/ready")
	waitLookup(t, p, client, svc, nil)
	waitLookup(t, p, client, fqdn, nil)
	mustPodctl(t, p, "exec", b, "--", "touch", "/tmp/ready")
	waitLookup(t, p, client, svc, []string{ips[b]})

	waitLookup(t, p, client, headless, []string{ips[member]})
	waitLookup(t, p, client, "m0."+headless+".default.svc.cluster.local", []string{ips[member]})
	waitResolved(t, p, client, "m0."+headless, []string{ips[member]})
	for _, n := range up.asked() {
		if strings.HasSuffix(n, ".cluster.local.") {
			t.Errorf("podd forwarded %s of the cluster domain", n)
		}
	}
	if hosts := mustPodctl(t, p, "exec", member, "--", "cat", "/etc/hosts").Stdout; !strings.Contains(hosts, ips[member]+"\tm0."+headless+".default.svc.cluster.local m0 ") {
		t.Errorf("/etc/hosts of a pod with a subdomain lacks its FQDN:\n%s", hosts)
	}

	server := net.JoinHostPort(gatewayOf(p), "53")
	srv := askHost(t, server, "_http._tcp."+svc+".default.svc.cluster.local.", mdns.TypeSRV)
	if len(srv.Answer) != 1 || srv.Answer[0].(*mdns.SRV).Port != 80 || srv.Answer[0].(*mdns.SRV).Target != svc+".default.svc.cluster.local." {
		t.Errorf("SRV of the Service's named port: %v", srv.Answer)
	}

	rounds, _ := strconv.Atoi(os.Getenv("PODD_DNS_FOLLOW_ROUNDS"))
	if rounds <= 0 {
		return
	}
	api := unixHTTPClient(p.Socket)
	podReady := func() (bool, error) {
		resp, err := api.Get("http://podd/v1/namespaces/default/pods/" + a)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var got pod.Pod
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == "Ready" {
				return c.Status == "True", nil
			}
		}
		return false, nil
	}
	// follow flips a's readiness and returns the time until the DNS answers want, and how much
	// later than the API's Ready condition it did (both polled every 5 ms, in turn).
	follow := func(cmd string, want []string) (flipToDNS, apiToDNS time.Duration) {
		mustPodctl(t, p, "exec", a, "--", cmd, "/tmp/ready")
		start := time.Now()
		deadline := start.Add(podWaitTimeout)
		var apiSeen time.Duration = -1
		for {
			if apiSeen < 0 {
				if ready, err := podReady(); err != nil {
					t.Fatalf("read pod %s: %v", a, err)
				} else if ready == (cmd == "touch") {
					apiSeen = time.Since(start)
				}
			}
			if got := hostAddrs(askHost(t, server, fqdn+".", mdns.TypeA)); slices.Equal(got, want) {
				d := time.Since(start)
				if apiSeen < 0 {
					apiSeen = d
				}
				return d, d - apiSeen
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s /tmp/ready in %s: the DNS did not answer %v within %v", cmd, a, want, podWaitTimeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	both := slices.Sorted(slices.Values([]string{ips[a], ips[b]}))
	var toReady, toUnready, lag []time.Duration
	for range rounds {
		d, l := follow("touch", both)
		toReady, lag = append(toReady, d), append(lag, l)
		d, l = follow("rm", []string{ips[b]})
		toUnready, lag = append(toUnready, d), append(lag, l)
	}
	t.Logf("readiness flip to DNS answer, %d rounds each way (exec probe, periodSeconds 1, failureThreshold 3): to ready median %v %v; to unready median %v %v; DNS after the API's Ready condition: median %v %v",
		rounds, median(toReady), toReady, median(toUnready), toUnready, median(lag), lag)
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2]
}

// askHost asks podd's DNS from the host (whose address on the bridge is the gateway's, inside
// --pod-cidr, so podd answers it).
func askHost(t testing.TB, server, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	m, _, err := (&mdns.Client{Timeout: 10 * time.Second}).Exchange(q, server)
	if err != nil {
		t.Fatalf("ask %s %s of %s: %v", name, mdns.TypeToString[qtype], server, err)
	}
	return m
}

func hostAddrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestDNSExample runs specs/examples/dns.yaml as specs/dns.md shows it.
func TestDNSExample(t *testing.T) {
	t.Parallel()
	up := startFakeUpstream(t)
	p := startPoddWith(t, "--dns-upstream", up.addr)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "specs", "examples", "dns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	applyManifest(t, p, strings.ReplaceAll(string(data), "localhost/podd/busybox:1.35", busyboxImage))
	ips := map[string]string{}
	for _, name := range []string{"web-1", "web-2", "client"} {
		ips[name] = waitPod(t, p, name, "running with an address", func(got *pod.Pod) bool {
			return got.Status.Phase == pod.PodRunning && got.Status.PodIP != ""
		}).Status.PodIP
	}
	want := fmt.Sprintf("search default.svc.cluster.local svc.cluster.local cluster.local%s\nnameserver %s\noptions ndots:5\n",
		strings.TrimRight(" "+strings.Join(hostSearches(t), " "), " "), gatewayOf(p))
	if got := mustPodctl(t, p, "exec", "client", "--", "cat", "/etc/resolv.conf").Stdout; got != want {
		t.Errorf("client's /etc/resolv.conf:\n%s\nwant:\n%s", got, want)
	}
	waitLookup(t, p, "client", "web", []string{ips["web-2"]})
	mustPodctl(t, p, "exec", "web-1", "--", "touch", "/tmp/ready")
	waitLookup(t, p, "client", "web", []string{ips["web-1"], ips["web-2"]})
	srv := mustPodctl(t, p, "exec", "client", "--", "nslookup", "-type=srv", "_http._tcp.web.default.svc.cluster.local").Stdout
	if !strings.Contains(srv, "80 web.default.svc.cluster.local") {
		t.Errorf("nslookup -type=srv _http._tcp.web.default.svc.cluster.local:\n%s", srv)
	}
	mustPodctl(t, p, "exec", "web-2", "--", "rm", "/tmp/ready")
	waitLookup(t, p, "client", "web", []string{ips["web-1"]})
	waitResolved(t, p, "client", "web.default", []string{ips["web-1"]})
}

// hostSearches is the host's search path, which ClusterFirst pods get after the cluster's.
func hostSearches(t testing.TB) []string {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "nameserver 127.0.0.53") {
		if up, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			data = up
		}
	}
	return pod.ParseResolvConf(data).Searches
}
