package pod

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DNSPolicy is a pod's spec.dnsPolicy. Empty means ClusterFirst (the API server's default): podd
// leaves it unset in the stored spec, so that pods stored by an earlier podd compare equal.
type DNSPolicy string

const (
	DNSClusterFirst            DNSPolicy = "ClusterFirst"
	DNSClusterFirstWithHostNet DNSPolicy = "ClusterFirstWithHostNet"
	DNSDefault                 DNSPolicy = "Default"
	DNSNone                    DNSPolicy = "None"
)

var dnsPolicies = []string{string(DNSClusterFirstWithHostNet), string(DNSClusterFirst), string(DNSDefault), string(DNSNone)}

// PodDNSConfig is spec.dnsConfig: added to what dnsPolicy gives (or all of it, with None).
type PodDNSConfig struct {
	Nameservers []string             `json:"nameservers,omitempty"`
	Searches    []string             `json:"searches,omitempty"`
	Options     []PodDNSConfigOption `json:"options,omitempty"`
}

// PodDNSConfigOption is one resolver option (ndots, timeout, edns0, ...).
type PodDNSConfigOption struct {
	Name  string  `json:"name,omitempty"`
	Value *string `json:"value,omitempty"`
}

// Kubernetes' limits on a pod's resolver configuration (k8s.io/kubernetes
// pkg/apis/core/validation), which the kubelet applies to the merged result too.
const (
	MaxDNSNameservers     = 3
	MaxDNSSearchPaths     = 32
	MaxDNSSearchListChars = 2048
)

// checkDNS validates dnsPolicy and dnsConfig as Kubernetes' validatePodDNSConfig does.
func checkDNS(p *Pod, errs *ErrorList) {
	policy := p.Spec.DNSPolicy
	if policy != "" && !slices.Contains(dnsPolicies, string(policy)) {
		errs.unsupported("spec.dnsPolicy", string(policy), dnsPolicies...)
	}
	c := p.Spec.DNSConfig
	if policy == DNSNone {
		if c == nil {
			errs.required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
			return
		}
		if len(c.Nameservers) == 0 {
			errs.required("spec.dnsConfig.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None")
			return
		}
	}
	if c == nil {
		return
	}
	if len(c.Nameservers) > MaxDNSNameservers {
		errs.invalid("spec.dnsConfig.nameservers", c.Nameservers, fmt.Sprintf("must not have more than %d nameservers", MaxDNSNameservers))
	}
	for i, ns := range c.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			errs.invalid(fmt.Sprintf("spec.dnsConfig.nameservers[%d]", i), ns, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
		}
	}
	if len(c.Searches) > MaxDNSSearchPaths {
		errs.invalid("spec.dnsConfig.searches", c.Searches, fmt.Sprintf("must not have more than %d search paths", MaxDNSSearchPaths))
	}
	if len(strings.Join(c.Searches, " ")) > MaxDNSSearchListChars {
		errs.invalid("spec.dnsConfig.searches", c.Searches, fmt.Sprintf("must not have more than %d characters (including spaces) in the search list", MaxDNSSearchListChars))
	}
	for i, s := range c.Searches {
		checkDNS1123Subdomain(errs, fmt.Sprintf("spec.dnsConfig.searches[%d]", i), strings.TrimSuffix(s, "."))
	}
	for i, o := range c.Options {
		field := fmt.Sprintf("spec.dnsConfig.options[%d]", i)
		if o.Name == "" {
			errs.required(field, "must not be empty")
		}
		// A line break or a space would add lines or options to resolv.conf that the pod's
		// spec does not show (Kubernetes leaves this to the container runtime).
		if strings.ContainsAny(o.Name, " \t\r\n:") {
			errs.invalid(field+".name", o.Name, "must not contain whitespace or ':'")
		}
		if o.Value != nil && strings.ContainsAny(*o.Value, " \t\r\n") {
			errs.invalid(field+".value", *o.Value, "must not contain whitespace")
		}
	}
}

// ResolvConf is a resolver configuration: what /etc/resolv.conf says.
type ResolvConf struct {
	Nameservers []string
	Searches    []string
	// Options are "name" or "name:value".
	Options []string
}

// ClusterDNS is podd's cluster DNS as pods see it.
type ClusterDNS struct {
	// Nameserver is the resolver's address (the pod bridge's gateway); empty: no cluster DNS, so
	// ClusterFirst falls back to the host's configuration, as the kubelet does without one.
	Nameserver string
	// Domain is the cluster domain (cluster.local).
	Domain string
}

// ParseResolvConf reads a resolv.conf as the kubelet does: nameserver, search and options lines;
// comments (# or ;) and other lines are left out; search domains lose a trailing dot, and "."
// goes.
func ParseResolvConf(data []byte) ResolvConf {
	var rc ResolvConf
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				rc.Nameservers = append(rc.Nameservers, f[1])
			}
		case "search":
			rc.Searches = rc.Searches[:0]
			for _, s := range f[1:] {
				if s != "." {
					rc.Searches = append(rc.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			rc.Options = mergeOptions(rc.Options, f[1:])
		}
	}
	return rc
}

// PodResolvConf is the pod's resolver configuration, by the kubelet's rules (pkg/kubelet/network/dns):
//
//   - ClusterFirst (the default) and ClusterFirstWithHostNet: the cluster DNS, the search path
//     <ns>.svc.<domain> svc.<domain> <domain> followed by the host's, and ndots:5; a hostNetwork
//     pod with ClusterFirst gets the host's configuration instead (only ClusterFirstWithHostNet
//     gives it the cluster DNS);
//   - Default: the host's configuration;
//   - None: nothing but dnsConfig.
//
// dnsConfig is then added: nameservers and searches appended without duplicates, options merged
// by name (the pod's win). The result is cut to the limits: 3 nameservers, 32 search paths of
// 2048 characters in all; omitted says what was cut, for a warning (the kubelet's
// DNSConfigForming event).
func PodResolvConf(p *Pod, host ResolvConf, cluster ClusterDNS) (rc ResolvConf, omitted []string) {
	policy := p.Spec.DNSPolicy
	if policy == "" {
		policy = DNSClusterFirst
	}
	if policy == DNSClusterFirst && p.Spec.HostNetwork {
		policy = DNSDefault
	}
	if (policy == DNSClusterFirst || policy == DNSClusterFirstWithHostNet) && cluster.Nameserver == "" {
		policy = DNSDefault
	}
	switch policy {
	case DNSNone:
	case DNSDefault:
		rc = ResolvConf{Nameservers: slices.Clone(host.Nameservers), Searches: slices.Clone(host.Searches), Options: slices.Clone(host.Options)}
	default:
		domain := strings.TrimSuffix(cluster.Domain, ".")
		rc.Nameservers = []string{cluster.Nameserver}
		rc.Searches = omitDuplicates(append([]string{p.Metadata.Namespace + ".svc." + domain, "svc." + domain, domain}, host.Searches...))
		rc.Options = []string{"ndots:5"}
	}
	if c := p.Spec.DNSConfig; c != nil {
		rc.Nameservers = omitDuplicates(append(rc.Nameservers, c.Nameservers...))
		rc.Searches = omitDuplicates(append(rc.Searches, c.Searches...))
		var opts []string
		for _, o := range c.Options {
			if o.Value != nil && *o.Value != "" {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
		rc.Options = mergeOptions(rc.Options, opts)
	}
	if len(rc.Nameservers) > MaxDNSNameservers {
		omitted = append(omitted, "nameservers "+strings.Join(rc.Nameservers[MaxDNSNameservers:], " "))
		rc.Nameservers = rc.Nameservers[:MaxDNSNameservers]
	}
	cut := len(rc.Searches)
	if cut > MaxDNSSearchPaths {
		cut = MaxDNSSearchPaths
	}
	for cut > 0 && len(strings.Join(rc.Searches[:cut], " ")) > MaxDNSSearchListChars {
		cut--
	}
	if cut < len(rc.Searches) {
		omitted = append(omitted, "search paths "+strings.Join(rc.Searches[cut:], " "))
		rc.Searches = rc.Searches[:cut]
	}
	return rc, omitted
}

// Bytes is the resolv.conf file, as containerd's CRI writes it.
func (rc ResolvConf) Bytes() []byte {
	var b bytes.Buffer
	if len(rc.Searches) > 0 {
		b.WriteString("search " + strings.Join(rc.Searches, " ") + "\n")
	}
	for _, ns := range rc.Nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(rc.Options) > 0 {
		b.WriteString("options " + strings.Join(rc.Options, " ") + "\n")
	}
	return b.Bytes()
}

func omitDuplicates(list []string) []string {
	seen := map[string]bool{}
	out := list[:0:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeOptions adds opts to base: an option already there by name takes the new value in its
// place, others come after, in order.
func mergeOptions(base, opts []string) []string {
	out := slices.Clone(base)
	name := func(o string) string { n, _, _ := strings.Cut(o, ":"); return n }
	for _, o := range opts {
		if i := slices.IndexFunc(out, func(e string) bool { return name(e) == name(o) }); i >= 0 {
			out[i] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}
