package integration

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
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/store"
)

// TestCrashAfterCNIAdd (security audit, finding 9): podd is killed after the CNI plugins' ADD
// installed a pod's address and iptables rules (bridge masquerade, portmap's DNAT chain and rule,
// the firewall's CNI-FORWARD accepts) but before libcni cached the result. Once the restarted podd
// has removed the pod — a pod it kept (adopted, attached again, then `podctl rm`) and a pod that
// left the store meanwhile (an orphan that the start-up reconciliation removes) — no iptables rule
// or chain names the pod's first address or its container ID, host-local holds nothing for it,
// and nothing that TestPodNetworkNoLeaks counts is left.
func TestCrashAfterCNIAdd(t *testing.T) {
	t.Parallel()
	crashAfterCNIAdd(t, false)
}

// TestCrashAfterCNIAddNetnsLost is finding 9 where the CNI DEL cannot undo everything: podd is
// killed at the same instant and the pod's network namespace is gone when podd comes back (its
// bind mount undone, as a podd restarted in another mount namespace finds it). The bridge plugin
// finds its masquerade rules only through the pod's interface in that netns, so its DEL leaves
// them; podd's sweep of its network's orphan rules removes them.
func TestCrashAfterCNIAddNetnsLost(t *testing.T) {
	t.Parallel()
	crashAfterCNIAdd(t, true)
}

func crashAfterCNIAdd(t *testing.T, loseNetns bool) {
	p := startPodd(t)
	for _, orphan := range []bool{false, true} {
		name := uniqueName(t, fmt.Sprint(orphan))
		p.Kill9(t)
		p.Env = []string{fault.Env + "=" + fault.NetworkAfterAdd}
		p.Start(t)
		p.Podctl(t, "run", "-d", writeManifest(t, hostPortPod(name, 80, freePort(t)))) // podd dies meanwhile
		if !p.waitExit(podWaitTimeout) {
			t.Fatalf("podd did not crash at %s", fault.NetworkAfterAdd)
		}
		p.Env = nil
		addr, uid := onlyReservation(t, p)
		left := netLeftovers(t, p, addr, uid)
		if len(left) < 3 {
			// The window is real: the plugins' rules are there, uncached.
			t.Fatalf("after the crash, want the plugins' rules for %s (uid %s), found only:\n%s", addr, uid, strings.Join(left, "\n"))
		}
		t.Logf("left by the crash (orphan=%v):\n%s", orphan, strings.Join(left, "\n"))
		if loseNetns {
			netns := filepath.Join(p.State, "netns", uid)
			if err := unix.Unmount(netns, unix.MNT_DETACH); err != nil {
				t.Fatalf("unmount %s: %v", netns, err)
			}
			if err := os.Remove(netns); err != nil {
				t.Fatal(err)
			}
		}
		if orphan {
			st, err := store.Open(filepath.Join(p.Root, "podd.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(context.Background(), uid); err != nil {
				t.Fatal(err)
			}
			st.Close()
			p.Start(t)
		} else {
			p.Start(t)
			if got := waitPhase(t, p, name, pod.PodRunning); got.Status.PodIP == addr.String() {
				t.Fatalf("the pod kept %s: want a new attachment after the crash", addr)
			}
			mustPodctl(t, p, "rm", "--force", name)
		}
		begin := time.Now()
		deadline := begin.Add(podWaitTimeout)
		var res netResources
		for {
			left = netLeftovers(t, p, addr, uid)
			var err error
			if res, err = countNetResources(p); err != nil {
				t.Fatal(err)
			}
			if len(left) == 0 && res == (netResources{}) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("orphan=%v: waited %s for the removal to finish: %+v", orphan, time.Since(begin).Round(time.Millisecond), res)
		if len(left) > 0 {
			t.Errorf("orphan=%v: after the pod's removal, left of %s (uid %s):\n%s", orphan, addr, uid, strings.Join(left, "\n"))
		}
		if res != (netResources{}) {
			rules, _, _ := podNetworkRules(p)
			t.Errorf("orphan=%v: after the pod's removal, the podd's network holds %+v, want nothing; rules:\n%s", orphan, res, strings.Join(slices.Concat(rules["filter"], rules["nat"]), "\n"))
		}
	}
}

// onlyReservation is the one address host-local has handed out on the podd's network, and the
// container ID (the pod's UID) it holds it for.
func onlyReservation(t *testing.T, p *Podd) (netip.Addr, string) {
	t.Helper()
	dir := filepath.Join(p.State, "cni", "ipam", p.Bridge)
	var found []string
	var addr netip.Addr
	var uid string
	for _, name := range listDir(t, dir) {
		a, err := netip.ParseAddr(name)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		addr, uid = a, strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
		found = append(found, name+"="+uid)
	}
	if len(found) != 1 {
		t.Fatalf("host-local reservations in %s: %v, want one", dir, found)
	}
	return addr, uid
}

// netLeftovers lists what of an attachment (address addr, container ID uid) is on the host: the
// iptables rules that name the address or the ID, the per-pod chains the plugins name from a hash
// of network and ID (the bridge's masquerade chain, portmap's DNAT chain), and host-local's
// reservation of the address or for the ID.
func netLeftovers(t *testing.T, p *Podd, addr netip.Addr, uid string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	sum := fmt.Sprintf("%x", sha512.Sum512([]byte(p.Bridge+uid)))
	masq, dnat := ("CNI-" + sum)[:28], ("CNI-DN-" + sum)[:28]
	named := regexp.MustCompile(regexp.QuoteMeta(addr.String()) + `([/:\s]|$)|` + regexp.QuoteMeta(uid) + `|` + masq + `|` + dnat)
	var left []string
	for _, line := range strings.Split(string(out), "\n") {
		if named.MatchString(line) {
			left = append(left, "iptables: "+line)
		}
	}
	dir := filepath.Join(p.State, "cni", "ipam", p.Bridge)
	for _, name := range listDir(t, dir) {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		if name == addr.String() || strings.Contains(string(data), uid) {
			left = append(left, fmt.Sprintf("host-local: %s holds %q", name, data))
		}
	}
	return left
}

// TestNetworkSweepAtStart: a podd that starts removes the iptables rules its network's plugins
// left for pods that are gone (here made by hand, as a DEL cut short leaves them: the firewall's
// CNI-FORWARD accepts and the bridge's masquerade chain of an address host-local no longer hands
// out, under an ID no pod has), and nothing else: its running pod's rules stay, and the same
// leftovers of a second podd's network (another bridge and subnet) stay, untouched.
func TestNetworkSweepAtStart(t *testing.T) {
	t.Parallel()
	p1, p2 := startPodd(t), startPodd(t)
	for _, p := range []*Podd{p1, p2} {
		mustRun(t, p, hostPortPod(uniqueName(t, p.Bridge), 80, freePort(t)))
	}
	live1, _, err := podNetworkRules(p1)
	if err != nil {
		t.Fatal(err)
	}
	live2, _, err := podNetworkRules(p2)
	if err != nil {
		t.Fatal(err)
	}
	if countRules(live1) == 0 || countRules(live2) == 0 {
		t.Fatalf("want the running pods' rules: %v, %v", live1, live2)
	}
	left1, left2 := leftRules(t, p1), leftRules(t, p2)
	defer restoreRules(t, "-D", left2)
	restoreRules(t, "-A", left1)
	restoreRules(t, "-A", left2)

	p1.Kill9(t)
	p1.Start(t)
	deadline := time.Now().Add(podWaitTimeout)
	var now1 map[string][]string
	for {
		if now1, _, err = podNetworkRules(p1); err != nil {
			t.Fatal(err)
		}
		if countRules(now1) == countRules(live1) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !sameRules(now1, live1) {
		t.Errorf("the restarted podd's network holds:\n%s\nwant its running pod's rules only:\n%s", dumpRules(now1), dumpRules(live1))
	}
	now2, _, err := podNetworkRules(p2)
	if err != nil {
		t.Fatal(err)
	}
	want2 := map[string][]string{}
	for table, rs := range live2 {
		want2[table] = append(want2[table], rs...)
	}
	for _, r := range left2 {
		if strings.HasPrefix(r.line, "-A") {
			want2[r.table] = append(want2[r.table], r.line)
		}
	}
	if !sameRules(now2, want2) {
		t.Errorf("the other podd's network holds:\n%s\nwant it untouched:\n%s", dumpRules(now2), dumpRules(want2))
	}
}

type tableLine struct{ table, line string }

// leftRules are what a DEL cut short leaves of a pod with address .200 of the podd's subnet and
// an ID no pod has: the firewall's accepts, the bridge's masquerade chain and its jump.
func leftRules(t *testing.T, p *Podd) []tableLine {
	prefix := netip.MustParsePrefix(p.PodCIDR)
	addr := prefix.Addr()
	for range 200 {
		addr = addr.Next()
	}
	id := uniqueName(t, "gone")
	chain := ("CNI-" + fmt.Sprintf("%x", sha512.Sum512([]byte(p.Bridge+id))))[:28]
	comment := fmt.Sprintf(`"name: \"%s\" id: \"%s\""`, p.Bridge, id)
	return []tableLine{
		{"filter", fmt.Sprintf("-A CNI-FORWARD -d %s/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", addr)},
		{"filter", fmt.Sprintf("-A CNI-FORWARD -s %s/32 -j ACCEPT", addr)},
		{"nat", "-N " + chain},
		{"nat", fmt.Sprintf("-A %s -d %s -m comment --comment %s -j ACCEPT", chain, prefix, comment)},
		{"nat", fmt.Sprintf("-A %s ! -d 224.0.0.0/4 -m comment --comment %s -j MASQUERADE", chain, comment)},
		{"nat", fmt.Sprintf("-A POSTROUTING -s %s/32 -m comment --comment %s -j %s", addr, comment, chain)},
	}
}

// restoreRules adds (op -A) or removes (-D) the rules and chains with iptables-restore --noflush;
// removing, it deletes the rules first and then the chains.
func restoreRules(t *testing.T, op string, rules []tableLine) {
	t.Helper()
	var in bytes.Buffer
	for _, table := range []string{"filter", "nat"} {
		fmt.Fprintf(&in, "*%s\n", table)
		var chains []string
		for _, r := range rules {
			if r.table != table {
				continue
			}
			if c, ok := strings.CutPrefix(r.line, "-N "); ok {
				if op == "-A" {
					in.WriteString(r.line + "\n")
				}
				chains = append(chains, c)
				continue
			}
			if op == "-D" && slices.ContainsFunc(chains, func(c string) bool { return strings.HasPrefix(r.line, "-A "+c+" ") }) {
				continue
			}
			in.WriteString(op + strings.TrimPrefix(r.line, "-A") + "\n")
		}
		if op == "-D" {
			for _, c := range chains {
				fmt.Fprintf(&in, "-F %s\n-X %s\n", c, c)
			}
		}
		in.WriteString("COMMIT\n")
	}
	cmd := exec.Command("iptables-restore", "--noflush", "--wait")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore: %v: %s\n%s", err, out, in.String())
	}
}

// sameRules: a and b hold the same rules in each table, in whatever order.
func sameRules(a, b map[string][]string) bool {
	return dumpRules(a) == dumpRules(b)
}

func dumpRules(rules map[string][]string) string {
	var out []string
	for table, rs := range rules {
		for _, r := range rs {
			out = append(out, table+": "+r)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
