package pod

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestValidateDNS(t *testing.T) {
	long := make([]string, 33)
	for i := range long {
		long[i] = fmt.Sprintf("s%d.example", i)
	}
	tests := []struct {
		name   string
		policy DNSPolicy
		config *PodDNSConfig
		field  string
		detail string
	}{
		{"policy", "Cluster", nil, "spec.dnsPolicy", `Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`},
		{"None without dnsConfig", DNSNone, nil, "spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None"},
		{"None without nameservers", DNSNone, &PodDNSConfig{Searches: []string{"a.example"}}, "spec.dnsConfig.nameservers", "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"},
		{"too many nameservers", DNSNone, &PodDNSConfig{Nameservers: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}}, "spec.dnsConfig.nameservers", "must not have more than 3 nameservers"},
		{"nameserver not an IP", "", &PodDNSConfig{Nameservers: []string{"dns.example"}}, "spec.dnsConfig.nameservers[0]", `Invalid value: "dns.example": must be a valid IP address`},
		{"too many searches", "", &PodDNSConfig{Searches: long}, "spec.dnsConfig.searches", "must not have more than 32 search paths"},
		{"search list too long", "", &PodDNSConfig{Searches: []string{strings.Repeat("a", 63) + "." + strings.Repeat("b", 63), strings.Repeat("c.", 1000) + "d"}}, "spec.dnsConfig.searches", "must not have more than 2048 characters (including spaces) in the search list"},
		{"search not a domain", "", &PodDNSConfig{Searches: []string{"Bad_Domain"}}, "spec.dnsConfig.searches[0]", "a lowercase RFC 1123 subdomain"},
		{"option name empty", "", &PodDNSConfig{Options: []PodDNSConfigOption{{Value: new("2")}}}, "spec.dnsConfig.options[0]", "Required value: must not be empty"},
		{"option name with a line break", "", &PodDNSConfig{Options: []PodDNSConfigOption{{Name: "ndots\nnameserver"}}}, "spec.dnsConfig.options[0].name", "must not contain whitespace"},
		{"option value with a space", "", &PodDNSConfig{Options: []PodDNSConfigOption{{Name: "ndots", Value: new("1 rotate")}}}, "spec.dnsConfig.options[0].value", "must not contain whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.DNSPolicy, p.Spec.DNSConfig = tt.policy, tt.config
			errs := ValidateFields(p)
			if !slices.ContainsFunc(errs, func(e *FieldError) bool { return e.Field == tt.field && strings.Contains(e.Detail, tt.detail) }) {
				t.Errorf("want %s: %s; got %v", tt.field, tt.detail, errs)
			}
		})
	}
	for _, policy := range []DNSPolicy{"", DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault} {
		p := validPod()
		p.Spec.DNSPolicy = policy
		p.Spec.DNSConfig = &PodDNSConfig{Nameservers: []string{"fd00::53"}, Searches: []string{"corp.example."}, Options: []PodDNSConfigOption{{Name: "ndots", Value: new("2")}, {Name: "edns0"}}}
		if err := Validate(p); err != nil {
			t.Errorf("dnsPolicy %q with a dnsConfig: %v", policy, err)
		}
	}
}

func TestPodResolvConf(t *testing.T) {
	host := ParseResolvConf([]byte("# the host's\nnameserver 192.0.2.53\nnameserver 192.0.2.54 ; second\nsearch corp.example. lab.example .\noptions timeout:2 edns0\noptions timeout:3\ndomain ignored.example\n"))
	if want := (ResolvConf{Nameservers: []string{"192.0.2.53", "192.0.2.54"}, Searches: []string{"corp.example", "lab.example"}, Options: []string{"timeout:3", "edns0"}}); !equalRC(host, want) {
		t.Fatalf("ParseResolvConf: %+v, want %+v", host, want)
	}
	cluster := ClusterDNS{Nameserver: "10.123.0.1", Domain: "cluster.local"}
	clusterSearch := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"}
	tests := []struct {
		name    string
		policy  DNSPolicy
		hostNet bool
		config  *PodDNSConfig
		cluster ClusterDNS
		want    ResolvConf
	}{
		{"default is ClusterFirst", "", false, nil, cluster, ResolvConf{[]string{"10.123.0.1"}, clusterSearch, []string{"ndots:5"}}},
		{"ClusterFirst", DNSClusterFirst, false, nil, cluster, ResolvConf{[]string{"10.123.0.1"}, clusterSearch, []string{"ndots:5"}}},
		{"ClusterFirst on the host's network is Default", DNSClusterFirst, true, nil, cluster, host},
		{"ClusterFirstWithHostNet on the host's network", DNSClusterFirstWithHostNet, true, nil, cluster, ResolvConf{[]string{"10.123.0.1"}, clusterSearch, []string{"ndots:5"}}},
		{"ClusterFirstWithHostNet off it", DNSClusterFirstWithHostNet, false, nil, cluster, ResolvConf{[]string{"10.123.0.1"}, clusterSearch, []string{"ndots:5"}}},
		{"ClusterFirst without cluster DNS is Default", DNSClusterFirst, false, nil, ClusterDNS{}, host},
		{"Default", DNSDefault, false, nil, cluster, host},
		{"None", DNSNone, false, &PodDNSConfig{Nameservers: []string{"192.0.2.1"}}, cluster, ResolvConf{Nameservers: []string{"192.0.2.1"}}},
		{"dnsConfig added", "", false, &PodDNSConfig{
			Nameservers: []string{"10.123.0.1", "192.0.2.9"},
			Searches:    []string{"cluster.local", "extra.example"},
			Options:     []PodDNSConfigOption{{Name: "ndots", Value: new("2")}, {Name: "edns0"}, {Name: "single-request", Value: new("")}},
		}, cluster, ResolvConf{
			[]string{"10.123.0.1", "192.0.2.9"},
			append(slices.Clone(clusterSearch), "extra.example"),
			[]string{"ndots:2", "edns0", "single-request"},
		}},
		{"Default with dnsConfig", DNSDefault, false, &PodDNSConfig{Nameservers: []string{"192.0.2.9", "192.0.2.10"}, Options: []PodDNSConfigOption{{Name: "timeout", Value: new("1")}}}, cluster, ResolvConf{
			// Cut to 3 nameservers, as the kubelet does.
			[]string{"192.0.2.53", "192.0.2.54", "192.0.2.9"}, host.Searches, []string{"timeout:1", "edns0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Metadata.Namespace = "shop"
			p.Spec.DNSPolicy, p.Spec.HostNetwork, p.Spec.DNSConfig = tt.policy, tt.hostNet, tt.config
			got, omitted := PodResolvConf(p, host, tt.cluster)
			if !equalRC(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.name == "Default with dnsConfig" {
				if len(omitted) != 1 || omitted[0] != "nameservers 192.0.2.10" {
					t.Errorf("omitted %q, want the fourth nameserver", omitted)
				}
			} else if len(omitted) != 0 {
				t.Errorf("omitted %q, want nothing", omitted)
			}
		})
	}
	t.Run("search list cut to the limits", func(t *testing.T) {
		var many []string
		for i := range 40 {
			many = append(many, fmt.Sprintf("%s%d.example", strings.Repeat("x", 60), i))
		}
		p := validPod()
		p.Spec.DNSConfig = &PodDNSConfig{Searches: many}
		got, omitted := PodResolvConf(p, host, cluster)
		if len(omitted) != 1 || !strings.HasPrefix(omitted[0], "search paths ") {
			t.Errorf("omitted %q, want the search paths past the limits", omitted)
		}
		if len(got.Searches) > MaxDNSSearchPaths || len(strings.Join(got.Searches, " ")) > MaxDNSSearchListChars {
			t.Errorf("%d search paths of %d characters", len(got.Searches), len(strings.Join(got.Searches, " ")))
		}
		if got.Searches[0] != "default.svc.cluster.local" {
			t.Errorf("the cluster's search paths come first: %v", got.Searches[:3])
		}
	})
	got := string(ResolvConf{[]string{"10.123.0.1"}, []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}, []string{"ndots:5"}}.Bytes())
	if want := "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.123.0.1\noptions ndots:5\n"; got != want {
		t.Errorf("Bytes: %q, want %q", got, want)
	}
}

func equalRC(a, b ResolvConf) bool {
	return slices.Equal(a.Nameservers, b.Nameservers) && slices.Equal(a.Searches, b.Searches) && slices.Equal(a.Options, b.Options)
}
