package sandbox

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

func TestValidateNetworkConfig(t *testing.T) {
	for _, tc := range []struct {
		cidr, bridge, want string
	}{
		{"10.123.0.0/16", "podd0", ""},
		{"10.123.0.0/24", "podd-test-12345", ""},
		{"10.123.0.1/16", "podd0", "host bits are set"},
		{"fd00::/64", "podd0", "IPv4"},
		{"10.0.0.0/30", "podd0", "between 8 and 28"},
		{"nonsense", "podd0", "--pod-cidr"},
		{"10.123.0.0/16", "a-much-too-long-name", "--bridge"},
		{"10.123.0.0/16", "a/b", "--bridge"},
	} {
		_, err := validateNetworkConfig(&NetworkConfig{PodCIDR: tc.cidr, Bridge: tc.bridge})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v", tc.cidr, tc.bridge, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %s: err = %v, want one containing %q", tc.cidr, tc.bridge, err, tc.want)
		}
	}
}

func TestConflist(t *testing.T) {
	for _, nat := range []bool{true, false} {
		dir := t.TempDir()
		n, err := newCNINetwork(NetworkConfig{PodCIDR: "10.130.7.0/24", Bridge: "pdtest0", EgressNAT: nat}, dir)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "cni", "podd.conflist"))
		if err != nil {
			t.Fatal(err)
		}
		list, err := libcni.ConfListFromBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		if list.Name != "pdtest0" || len(list.Plugins) != 3 {
			t.Fatalf("conflist %s", data)
		}
		var types []string
		for _, p := range list.Plugins {
			types = append(types, p.Network.Type)
		}
		if strings.Join(types, ",") != "bridge,portmap,firewall" {
			t.Errorf("plugins %v", types)
		}
		var bridge struct {
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				DataDir string `json:"dataDir"`
				Ranges  [][]struct {
					Subnet  string `json:"subnet"`
					Gateway string `json:"gateway"`
				} `json:"ranges"`
			} `json:"ipam"`
		}
		if err := json.Unmarshal(list.Plugins[0].Bytes, &bridge); err != nil {
			t.Fatal(err)
		}
		if bridge.Bridge != "pdtest0" || bridge.IPMasq != nat || bridge.IPAM.DataDir != filepath.Join(dir, "cni", "ipam") ||
			bridge.IPAM.Ranges[0][0].Subnet != "10.130.7.0/24" || bridge.IPAM.Ranges[0][0].Gateway != "10.130.7.1" {
			t.Errorf("bridge plugin config %+v", bridge)
		}
		if _, err := netip.ParseAddr(n.nodeIP); err != nil {
			t.Errorf("node IP %q: %v", n.nodeIP, err)
		}
	}
}

func TestPodHosts(t *testing.T) {
	a := &netState{UID: "1", Name: "a", Namespace: "default", Hostname: "a", IPs: []string{"10.123.0.2"}}
	b := &netState{UID: "2", Name: "b", Namespace: "default", Hostname: "bee", IPs: []string{"10.123.0.3"}, FQDN: "bee.db.default.svc.cluster.local"}
	c := &netState{UID: "3", Name: "c", Namespace: "other", Hostname: "c", IPs: []string{"10.123.0.4"}}
	got := string(podHosts(b, []*netState{a, b, c}))
	for _, want := range []string{
		"127.0.0.1\tlocalhost\n",
		"10.123.0.3\tbee.db.default.svc.cluster.local bee b b.default\n",
		"10.123.0.2\ta.default a\n",
		"10.123.0.4\tc.other\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "10.123.0.3") != 1 {
		t.Errorf("the pod's own address is listed twice:\n%s", got)
	}
}

// TestDelWithoutCache: the DEL of an ADD that libcni did not cache gets the addresses host-local
// holds for the pod (and only those) as every plugin's prevResult, so that the firewall plugin
// finds its rules.
func TestDelWithoutCache(t *testing.T) {
	dir := t.TempDir()
	n, err := newCNINetwork(NetworkConfig{PodCIDR: "10.130.7.0/24", Bridge: "pdtest0"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	ipam := filepath.Join(dir, "cni", "ipam", "pdtest0")
	if err := os.MkdirAll(ipam, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"10.130.7.2":         "pod-a\r\neth0",
		"10.130.7.3":         "pod-b\r\neth0",
		"last_reserved_ip.0": "10.130.7.3",
		"lock":               "",
	} {
		if err := os.WriteFile(filepath.Join(ipam, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addrs := n.reservedAddresses(n.list, "pod-b")
	if len(addrs) != 1 || addrs[0].String() != "10.130.7.3/24" {
		t.Fatalf("reserved for pod-b: %v, want [10.130.7.3/24]", addrs)
	}
	if got := n.reservedAddresses(n.list, "pod-c"); len(got) != 0 {
		t.Errorf("reserved for pod-c: %v, want none", got)
	}
	list, err := withPrevResult(n.list, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Plugins) != 3 || list.Name != "pdtest0" {
		t.Fatalf("list %s", list.Bytes)
	}
	for _, p := range list.Plugins {
		var conf struct {
			Type       string `json:"type"`
			PrevResult struct {
				IPs []struct {
					Address string `json:"address"`
				} `json:"ips"`
			} `json:"prevResult"`
		}
		if err := json.Unmarshal(p.Bytes, &conf); err != nil {
			t.Fatal(err)
		}
		if len(conf.PrevResult.IPs) != 1 || conf.PrevResult.IPs[0].Address != "10.130.7.3/24" {
			t.Errorf("plugin %s: prevResult %+v, want 10.130.7.3/24", conf.Type, conf.PrevResult)
		}
	}
	if same, err := withPrevResult(n.list, nil); err != nil || same != n.list {
		t.Errorf("without addresses: %v, %v; want the list as it is", same, err)
	}
	if uids := n.attachedUIDs(); !slices.Contains(uids, "pod-a") || !slices.Contains(uids, "pod-b") || len(uids) != 2 {
		t.Errorf("attached: %v, want pod-a and pod-b", uids)
	}
}

// TestReadyWarmSandboxes: only a state with no pod name and an address is a ready warm sandbox.
func TestReadyWarmSandboxes(t *testing.T) {
	state := t.TempDir()
	n := &cniNetwork{dir: filepath.Join(state, "cni")}
	if err := os.MkdirAll(n.stateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*netState{
		{UID: "warm-ready", IPs: []string{"10.88.0.5"}},
		{UID: "warm-no-address"},
		{UID: "taken", Name: "web", Namespace: "default", IPs: []string{"10.88.0.6"}},
	} {
		if err := n.writeState(st); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(n.stateDir(), "stray.tmp"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := ReadyWarmSandboxes(state)
	if len(got) != 1 || !got["warm-ready"] {
		t.Errorf("ReadyWarmSandboxes = %v, want only warm-ready", got)
	}
	if got := ReadyWarmSandboxes(filepath.Join(state, "missing")); len(got) != 0 {
		t.Errorf("ReadyWarmSandboxes of a missing folder = %v, want none", got)
	}
}
