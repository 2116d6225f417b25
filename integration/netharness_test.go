package integration

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/vishvananda/netlink"
)

// cniPluginDir is where Debian's containernetworking-plugins puts the plugins podd uses.
const cniPluginDir = "/usr/lib/cni"

var podNetworkSeq atomic.Int32

func missingNetworkPrerequisites() []string {
	var missing []string
	for _, plugin := range []string{"bridge", "host-local", "portmap", "firewall"} {
		if _, err := os.Stat(filepath.Join(cniPluginDir, plugin)); err != nil {
			missing = append(missing, "the CNI plugin "+plugin+" in "+cniPluginDir+" (apt-get install containernetworking-plugins)")
		}
	}
	for _, bin := range []string{"iptables", "iptables-save", "iptables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" in PATH (apt-get install iptables)")
		}
	}
	return missing
}

// newPodNetwork names a bridge and a /24 for one podd. Several podds run in one test binary and
// other test binaries run at the same time on this machine: the pid and a counter keep the names
// apart, and a subnet that some interface of the host already uses is skipped.
func newPodNetwork() (bridge, cidr string) {
	pid := os.Getpid()
	for {
		n := int(podNetworkSeq.Add(1))
		idx := (pid*8 + n) % (64 * 256)
		prefix := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 128+idx/256, idx%256))
		if subnetInUse(prefix) && n < 1000 {
			continue
		}
		return fmt.Sprintf("pdt%d-%d", pid, n), prefix.String()
	}
}

func subnetInUse(prefix netip.Prefix) bool {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// subnetText is the part of an address that marks the podd's subnet in iptables rules ("10.130.5.").
func subnetText(cidr string) string {
	return strings.TrimSuffix(strings.TrimSuffix(cidr, "/24"), "0")
}

// podNetworkRules lists, per table, the iptables rules that belong to the podd's network: those
// that name it (the bridge's masquerade and portmap's comments) or an address of its subnet (the
// firewall plugin's), and every rule of a per-pod chain (CNI-..., CNI-DN-...) such a rule is in or
// jumps to. chains are those per-pod chains.
func podNetworkRules(p *Podd) (rules map[string][]string, chains map[string][]string, err error) {
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("iptables-save: %w", err)
	}
	named := regexp.MustCompile(regexp.QuoteMeta(p.Bridge) + `\b|` + regexp.QuoteMeta(subnetText(p.PodCIDR)))
	type rule struct{ table, chain, target, line string }
	var all []rule
	ours := map[string]bool{} // table/chain
	table := ""
	for _, line := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(line, "*"); ok {
			table = t
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		r := rule{table: table, chain: f[1], line: line}
		for i := range f {
			if (f[i] == "-j" || f[i] == "-g") && i+1 < len(f) {
				r.target = f[i+1]
			}
		}
		all = append(all, r)
		if named.MatchString(line) {
			for _, c := range []string{r.chain, r.target} {
				if c != "" && !isSharedChain(c) {
					ours[table+"/"+c] = true
				}
			}
		}
	}
	rules, chains = map[string][]string{}, map[string][]string{}
	for c := range ours {
		t, name, _ := strings.Cut(c, "/")
		chains[t] = append(chains[t], name)
	}
	for _, r := range all {
		if ours[r.table+"/"+r.chain] || named.MatchString(r.line) {
			rules[r.table] = append(rules[r.table], r.line)
		}
	}
	return rules, chains, nil
}

func countRules(rules map[string][]string) int {
	n := 0
	for _, rs := range rules {
		n += len(rs)
	}
	return n
}

// isSharedChain: the CNI plugins' chains that every CNI network on the host uses, and the
// built-in ones.
func isSharedChain(chain string) bool {
	return chain == "CNI-FORWARD" || chain == "CNI-ADMIN" || strings.HasPrefix(chain, "CNI-HOSTPORT-") ||
		!strings.HasPrefix(chain, "CNI-")
}

// cleanPodNetwork removes what the podd's network left on the host after its pods were killed
// behind its back: iptables rules and the per-pod chains they lived in, and the bridge.
func cleanPodNetwork(p *Podd) error {
	if p.Bridge == "" {
		return nil
	}
	var errs []error
	rules, chains, err := podNetworkRules(p)
	if err != nil {
		errs = append(errs, err)
	}
	var in bytes.Buffer
	for table, rs := range rules {
		fmt.Fprintf(&in, "*%s\n", table)
		own := map[string]bool{}
		for _, c := range chains[table] {
			own[c] = true
		}
		for _, r := range rs {
			if f := strings.Fields(r); !own[f[1]] {
				in.WriteString("-D" + strings.TrimPrefix(r, "-A") + "\n")
			}
		}
		for c := range own {
			in.WriteString("-F " + c + "\n")
		}
		for c := range own {
			in.WriteString("-X " + c + "\n")
		}
		in.WriteString("COMMIT\n")
	}
	if in.Len() > 0 {
		cmd := exec.Command("iptables-restore", "--noflush", "--wait")
		cmd.Stdin = &in
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("remove iptables rules of %s: %v: %s\n%s", p.Bridge, err, out, in.String()))
		}
	}
	if link, err := netlink.LinkByName(p.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", p.Bridge, err))
		}
	}
	return errors.Join(errs...)
}

// What the host had before the tests: the CNI plugins create their shared chains (and the bridge
// plugin turns on IPv4 forwarding) on the first pod, and the tear down takes back what they made.
var (
	hadSharedChains bool
	hadForwarding   []byte
)

const forwardingSysctl = "/proc/sys/net/ipv4/ip_forward"

func recordHostNetwork() {
	out, _ := exec.Command("iptables-save").Output()
	hadSharedChains = bytes.Contains(out, []byte(":CNI-FORWARD")) || bytes.Contains(out, []byte(":CNI-HOSTPORT-DNAT"))
	hadForwarding, _ = os.ReadFile(forwardingSysctl)
}

// sharedChainRules are the rules the firewall and portmap plugins put in their shared chains.
var sharedChainRules = map[string][]string{
	"filter": {
		`-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD`,
		`-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN`,
	},
	"nat": {
		`-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
		`-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
		`-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
		`-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE`,
		`-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
	},
}

var sharedChainNames = map[string][]string{
	"filter": {"CNI-ADMIN", "CNI-FORWARD"},
	"nat":    {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"},
}

// restoreHostNetwork removes the shared chains when the tests made them and nothing but their
// standard rules is in them; a table that holds anything more (another test binary's pods, another
// tool's) is left alone: iptables-restore applies a table all or nothing, and -X fails on a chain
// that is still used.
func restoreHostNetwork() {
	if len(hadForwarding) > 0 {
		cur, _ := os.ReadFile(forwardingSysctl)
		if !bytes.Equal(cur, hadForwarding) && !othersUseBridges() {
			os.WriteFile(forwardingSysctl, hadForwarding, 0o644)
		}
	}
	if hadSharedChains {
		return
	}
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		return
	}
	for table, rules := range sharedChainRules {
		var in bytes.Buffer
		fmt.Fprintf(&in, "*%s\n", table)
		for _, r := range rules {
			if !bytes.Contains(out, []byte(r+"\n")) {
				continue
			}
			in.WriteString("-D" + strings.TrimPrefix(r, "-A") + "\n")
		}
		for _, c := range sharedChainNames[table] {
			if bytes.Contains(out, []byte(":"+c+" ")) {
				in.WriteString("-X " + c + "\n")
			}
		}
		in.WriteString("COMMIT\n")
		cmd := exec.Command("iptables-restore", "--noflush", "--wait")
		cmd.Stdin = &in
		cmd.Run() // in use by others: left
	}
}

// othersUseBridges: a bridge of another podd or tool exists, which may need forwarding.
func othersUseBridges() bool {
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Type() == "bridge" {
			return true
		}
	}
	return false
}

func cleanAllPodNetworks() error {
	poddsMu.Lock()
	podds := append([]*Podd(nil), allPodds...)
	poddsMu.Unlock()
	var errs []error
	for _, p := range podds {
		errs = append(errs, cleanPodNetwork(p))
	}
	restoreHostNetwork()
	return errors.Join(errs...)
}

// netResources counts what pods of the podd hold on the host's network.
type netResources struct {
	Addresses int // host-local's allocations
	Veths     int // devices on the podd's bridge
	Rules     int // iptables rules naming the network or its subnet
	Netns     int // namespace files
	CNICache  int // libcni's cached results
}

func countNetResources(p *Podd) (netResources, error) {
	var r netResources
	ipam, _ := os.ReadDir(filepath.Join(p.State, "cni", "ipam", p.Bridge))
	for _, e := range ipam {
		if net.ParseIP(e.Name()) != nil {
			r.Addresses++
		}
	}
	if br, err := netlink.LinkByName(p.Bridge); err == nil {
		links, err := netlink.LinkList()
		if err != nil {
			return r, err
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				r.Veths++
			}
		}
	}
	rules, _, err := podNetworkRules(p)
	if err != nil {
		return r, err
	}
	r.Rules = countRules(rules)
	netns, _ := os.ReadDir(filepath.Join(p.State, "netns"))
	r.Netns = len(netns)
	cache, _ := os.ReadDir(filepath.Join(p.State, "cni", "cache", "results"))
	r.CNICache = len(cache)
	return r, nil
}
