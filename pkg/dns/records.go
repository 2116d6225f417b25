package dns

import (
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// Records is everything the server answers for the cluster domain: the Services with their ready
// endpoints. The rest of podd builds a new one whenever a Service or a pod's readiness changes and
// hands it to SetRecords whole.
type Records struct {
	Services []Service
}

// Service is one Service as DNS sees it. podd gives Services no virtual IP, so the name of every
// Service resolves to its ready endpoints' addresses, as a headless Service's does in Kubernetes.
// Headless only changes the SRV records' targets and adds the endpoints' own names.
type Service struct {
	Namespace, Name string
	// Headless is spec.clusterIP None.
	Headless bool
	Ports    []Port
	// Endpoints are the ready ones (all, with publishNotReadyAddresses).
	Endpoints []Endpoint
}

// Port is one of the Service's ports; only named ones get SRV records.
type Port struct {
	Name     string
	Protocol string // TCP, UDP or SCTP
	Port     uint16
}

// Endpoint is one address behind a Service.
type Endpoint struct {
	IP netip.Addr
	// Hostname is the pod's spec.hostname when its spec.subdomain names the Service: the
	// endpoint's own name <hostname>.<svc>.<ns>.svc.<domain>. Empty: the address with dashes
	// (10-123-0-5), as CoreDNS names such endpoints.
	Hostname string
}

// table is Records indexed for lookups; it is never changed once built.
type table struct {
	domain string
	serial uint32
	// names holds every name of the cluster domain that exists (lower case, fully qualified),
	// with its records; a name without records exists only because names below it do.
	names map[string]*node
	// ptr maps a reverse name (4.3.2.1.in-addr.arpa.) to the endpoint names of that address.
	ptr map[string][]string
}

type node struct {
	addrs []netip.Addr // A and AAAA
	srv   []srvTarget
}

type srvTarget struct {
	port   uint16
	target string
}

// build indexes r under domain (fully qualified, lower case).
func build(r Records, domain string, serial uint32) *table {
	t := &table{domain: domain, serial: serial, names: map[string]*node{}, ptr: map[string][]string{}}
	t.ensure(domain)
	t.ensure("dns-version." + domain)
	for _, s := range r.Services {
		if len(s.Endpoints) == 0 {
			// Kubernetes' DNS specification: a Service without ready endpoints is NXDOMAIN.
			continue
		}
		svc := strings.ToLower(s.Name + "." + s.Namespace + ".svc." + domain)
		n := t.ensure(svc)
		seen := map[netip.Addr]bool{}
		var targets []string
		for _, e := range s.Endpoints {
			if !e.IP.IsValid() {
				continue
			}
			ip := e.IP.Unmap()
			if !seen[ip] {
				seen[ip] = true
				n.addrs = append(n.addrs, ip)
			}
			if !s.Headless {
				continue
			}
			host := strings.ToLower(e.Hostname)
			if host == "" {
				host = dashed(ip)
			}
			name := host + "." + svc
			hn := t.ensure(name)
			if !slices.Contains(hn.addrs, ip) {
				hn.addrs = append(hn.addrs, ip)
			}
			if !slices.Contains(targets, name) {
				targets = append(targets, name)
			}
			if e.Hostname != "" {
				rev, err := mdns.ReverseAddr(ip.String())
				if err == nil && !slices.Contains(t.ptr[rev], name) {
					t.ptr[rev] = append(t.ptr[rev], name)
				}
			}
		}
		if len(n.addrs) == 0 {
			delete(t.names, svc)
			continue
		}
		if !s.Headless {
			targets = []string{svc}
		}
		for _, p := range s.Ports {
			if p.Name == "" {
				continue // Kubernetes gives unnamed ports no SRV record
			}
			proto := strings.ToLower(p.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			pn := t.ensure("_" + strings.ToLower(p.Name) + "._" + proto + "." + svc)
			for _, target := range targets {
				pn.srv = append(pn.srv, srvTarget{port: p.Port, target: target})
			}
		}
	}
	return t
}

// ensure returns the node of name, creating it and every name between it and the domain's apex,
// which exist without records of their own (empty non-terminals: NODATA, not NXDOMAIN).
func (t *table) ensure(name string) *node {
	if n, ok := t.names[name]; ok {
		return n
	}
	n := &node{}
	t.names[name] = n
	for p := name; ; {
		_, parent, _ := strings.Cut(p, ".")
		if !strings.HasSuffix(parent, t.domain) {
			break
		}
		if _, ok := t.names[parent]; ok {
			break
		}
		t.names[parent] = &node{}
		p = parent
	}
	return n
}

// dashed is an address as a DNS label: 10.123.0.5 → 10-123-0-5, fd00::1 → fd00--1.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// undashed reads a label written by dashed (a pod's A record name); ok is false for any other.
func undashed(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
			return ip, true
		}
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() && ip.Zone() == "" && !ip.Is4In6() {
		return ip, true
	}
	return netip.Addr{}, false
}
