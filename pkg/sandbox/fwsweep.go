package sandbox

import (
	"bytes"
	"context"
	"crypto/sha512"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The sweep of the iptables rules that the pod network's CNI plugins made for pods that are gone.
//
// A CNI DEL removes a pod's rules only when the plugins find them again: the firewall plugin by
// the addresses of the ADD's result, portmap by its per-pod chain, the bridge plugin (whose
// masquerade rules podd's --pod-egress-nat asks for) only through the addresses of the pod's
// interface in its netns. A DEL that runs without one of these (a netns that is gone, a podd
// killed in the middle of a DEL, an ADD that failed halfway) leaves rules that nothing removes.
// The sweep finds them in iptables-save's output and deletes them with iptables-restore
// --noflush. It touches only what this podd's network made: rules in the plugins' chains that
// name an address of --pod-cidr or carry the plugins' comment naming the network (--bridge), and
// the plugins' per-pod chains; and of those only the ones of no pod podd still holds an
// attachment or address for. Another podd's network (another bridge and subnet) and every other
// rule on the host are left alone.

// savedRule is one rule of iptables-save's output.
type savedRule struct {
	Table, Chain string
	Line         string   // "-A CHAIN ..." as iptables-save prints it
	Args         []string // Line split into words, quotes removed
}

// savedTables is what iptables-save printed: the rules in order, and the chains of each table.
type savedTables struct {
	Rules  []savedRule
	Chains map[string]map[string]bool // table → chain → declared
}

func parseIPTablesSave(out string) savedTables {
	t := savedTables{Chains: map[string]map[string]bool{}}
	table := ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			if t.Chains[table] == nil {
				t.Chains[table] = map[string]bool{}
			}
		case strings.HasPrefix(line, ":") && table != "":
			if name, _, ok := strings.Cut(line[1:], " "); ok {
				t.Chains[table][name] = true
			}
		case strings.HasPrefix(line, "-A ") && table != "":
			args, ok := splitRule(line)
			if !ok || len(args) < 2 {
				continue
			}
			t.Rules = append(t.Rules, savedRule{Table: table, Chain: args[1], Line: line, Args: args})
		}
	}
	return t
}

// splitRule splits a rule as iptables-save quotes it: words between spaces, "..." holding
// spaces, with \" and \\ inside.
func splitRule(line string) ([]string, bool) {
	var words []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, c := range line {
		switch {
		case escaped:
			w.WriteRune(c)
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted, inWord = !quoted, true
		case c == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quoted || escaped {
		return nil, false
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, true
}

// pluginComment is the comment the bridge plugin (masquerade) and portmap ("dnat ...") put on
// their rules.
var pluginComment = regexp.MustCompile(`^(?:dnat )?name: "([^"]*)" id: "([^"]*)"$`)

// perPodChain is the name the CNI plugins give a pod's own chain: CNI-<prefix><sha512 of network
// name and container ID>, cut to iptables' 28 characters (containernetworking/plugins
// utils.MustFormatChainNameWithPrefix). The bridge's masquerade chain has no prefix, portmap's
// DNAT chain "DN-".
func perPodChain(network, id, prefix string) string {
	return fmt.Sprintf("CNI-%s%x", prefix, sha512.Sum512([]byte(network+id)))[:28]
}

// isPluginSharedChain: a chain every CNI network on the host shares (the firewall's, portmap's),
// never deleted; CNI-ADMIN is the administrator's and never read.
func isPluginSharedChain(chain string) bool {
	return chain == "CNI-FORWARD" || chain == "CNI-ADMIN" || strings.HasPrefix(chain, "CNI-HOSTPORT-")
}

// isPerPodChain: a chain the plugins make for one pod.
func isPerPodChain(chain string) bool {
	return strings.HasPrefix(chain, "CNI-") && !isPluginSharedChain(chain)
}

// tableChain names a chain of a table.
type tableChain struct{ Table, Chain string }

// sweepPlan is what the sweep removes: rules one by one, then per-pod chains with their rules.
type sweepPlan struct {
	Rules  []savedRule
	Chains []tableChain
}

func (p sweepPlan) empty() bool { return len(p.Rules) == 0 && len(p.Chains) == 0 }

// ruleInfo is what the plan reads of a rule.
type ruleInfo struct {
	id, network string       // from the plugins' comment
	addrs       []netip.Addr // single addresses it names: -s, -d, --to-destination
	dnatTo      []netip.Addr // of those, --to-destination's
	target      string       // -j or -g
}

func readRule(args []string) ruleInfo {
	var ri ruleInfo
	for i := 0; i+1 < len(args); i++ {
		v := args[i+1]
		switch args[i] {
		case "--comment":
			if m := pluginComment.FindStringSubmatch(v); m != nil {
				ri.network, ri.id = m[1], m[2]
			}
		case "-j", "-g":
			ri.target = v
		case "-s", "-d", "--to-destination":
			a, ok := singleAddr(v, args[i] == "--to-destination")
			if !ok {
				continue
			}
			ri.addrs = append(ri.addrs, a)
			if args[i] == "--to-destination" {
				ri.dnatTo = append(ri.dnatTo, a)
			}
		}
	}
	return ri
}

// singleAddr reads "10.1.2.3", "10.1.2.3/32" or, for a DNAT target, "10.1.2.3:80"; a subnet or
// a range is no single address.
func singleAddr(v string, dnat bool) (netip.Addr, bool) {
	if dnat {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			return ap.Addr(), true
		}
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Addr(), p.IsSingleIP()
	}
	a, err := netip.ParseAddr(v)
	return a, err == nil
}

// planSweep chooses, in iptables-save's tables t, the rules and chains that network's plugins
// made for pods that are gone: network is the CNI network's name (podd's --bridge), cidr its
// subnet, ids the container IDs (pod UIDs) that still hold an attachment, inUse the addresses
// still handed out (and the gateway). A rule is an orphan when it carries the plugins' comment
// for network with an ID not in ids, or names an address of cidr not in inUse and is in the
// firewall's CNI-FORWARD, in a per-pod chain, or carries the plugins' comment for network. A
// per-pod chain is an orphan when it is the chain of such an ID, holds a rule with such a
// comment, or DNATs to such an address; it goes whole, with every rule that jumps to it.
func planSweep(t savedTables, network string, cidr netip.Prefix, ids map[string]bool, inUse map[netip.Addr]bool) sweepPlan {
	unused := func(as []netip.Addr) bool {
		for _, a := range as {
			if cidr.Contains(a) && !inUse[a] {
				return true
			}
		}
		return false
	}
	infos := make([]ruleInfo, len(t.Rules))
	orphanChains := map[tableChain]bool{}
	orphanRule := make([]bool, len(t.Rules))
	for i, r := range t.Rules {
		ri := readRule(r.Args)
		infos[i] = ri
		ours := ri.network == network && ri.id != ""
		goneID := ours && !ids[ri.id]
		if goneID {
			for _, prefix := range []string{"", "DN-"} {
				if c := perPodChain(network, ri.id, prefix); t.Chains[r.Table][c] {
					orphanChains[tableChain{r.Table, c}] = true
				}
			}
		}
		if isPerPodChain(r.Chain) && (goneID || unused(ri.dnatTo)) {
			orphanChains[tableChain{r.Table, r.Chain}] = true
		}
		inPluginChain := r.Chain == "CNI-FORWARD" || isPerPodChain(r.Chain) || ours
		orphanRule[i] = goneID || inPluginChain && unused(ri.addrs)
	}
	var plan sweepPlan
	for i, r := range t.Rules {
		if orphanChains[tableChain{r.Table, r.Chain}] {
			continue // goes with its chain
		}
		if orphanRule[i] || orphanChains[tableChain{r.Table, infos[i].target}] {
			plan.Rules = append(plan.Rules, r)
		}
	}
	for c := range orphanChains {
		plan.Chains = append(plan.Chains, c)
	}
	slices.SortFunc(plan.Chains, func(a, b tableChain) int {
		return strings.Compare(a.Table+" "+a.Chain, b.Table+" "+b.Chain)
	})
	return plan
}

// restoreInput is plan as iptables-restore --noflush input: per table, the rules deleted, then
// the chains flushed, then deleted (once nothing jumps to them).
func (p sweepPlan) restoreInput() []byte {
	var tables []string
	for _, r := range p.Rules {
		if !slices.Contains(tables, r.Table) {
			tables = append(tables, r.Table)
		}
	}
	for _, c := range p.Chains {
		if !slices.Contains(tables, c.Table) {
			tables = append(tables, c.Table)
		}
	}
	var b bytes.Buffer
	for _, table := range tables {
		fmt.Fprintf(&b, "*%s\n", table)
		for _, r := range p.Rules {
			if r.Table == table {
				b.WriteString("-D" + strings.TrimPrefix(r.Line, "-A") + "\n")
			}
		}
		for _, c := range p.Chains {
			if c.Table == table {
				fmt.Fprintf(&b, "-F %s\n", c.Chain)
			}
		}
		for _, c := range p.Chains {
			if c.Table == table {
				fmt.Fprintf(&b, "-X %s\n", c.Chain)
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.Bytes()
}

// sweep removes the iptables rules and chains the network's plugins left for pods that hold
// nothing of the network any more (see planSweep), and returns what it removed. The caller holds
// the network's lock, so no ADD or DEL runs meanwhile.
func (n *cniNetwork) sweep(ctx context.Context) ([]string, error) {
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil, nil // without iptables the plugins made no rules
	}
	cidr, err := netip.ParsePrefix(n.cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, id := range n.attachedUIDs() {
		ids[id] = true
	}
	inUse := map[netip.Addr]bool{n.gateway: true}
	nets, _ := os.ReadDir(filepath.Join(n.dir, "ipam"))
	for _, nd := range nets {
		for a := range hostLocalReservations(filepath.Join(n.dir, "ipam", nd.Name())) {
			inUse[a] = true
		}
	}
	for _, st := range n.allStates() {
		for _, ip := range st.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				inUse[a] = true
			}
		}
	}
	out, err := exec.CommandContext(ctx, "iptables-save").Output()
	if err != nil {
		return nil, fmt.Errorf("iptables-save: %w", err)
	}
	plan := planSweep(parseIPTablesSave(string(out)), n.cfg.Bridge, cidr, ids, inUse)
	if plan.empty() {
		return nil, nil
	}
	cmd := exec.CommandContext(ctx, "iptables-restore", "--noflush", "--wait")
	cmd.Stdin = bytes.NewReader(plan.restoreInput())
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("remove orphan iptables rules of network %s: iptables-restore: %w: %s", n.cfg.Bridge, err, bytes.TrimSpace(msg))
	}
	var removed []string
	for _, r := range plan.Rules {
		removed = append(removed, r.Table+": "+r.Line)
	}
	for _, c := range plan.Chains {
		removed = append(removed, c.Table+": chain "+c.Chain)
	}
	return removed, nil
}
