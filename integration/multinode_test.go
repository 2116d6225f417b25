package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/vishvananda/netlink"

	"github.com/podd-dev/podd/pkg/pod"
)

// etcdMember is one member of a test's etcd cluster, run from Debian's etcd-server package.
type etcdMember struct {
	name      string
	clientURL string // the URL pods use: on the member's node's bridge gateway
	stop      func() // kill -9
}

// startEtcdCluster starts one etcd member per node: peers talk on loopback, and member i also
// serves clients on gateways[i] (its "node's" bridge gateway, which that node's pods reach; the
// host delivers to any of its own addresses, so every pod reaches every member).
func startEtcdCluster(t *testing.T, gateways []netip.Addr) []*etcdMember {
	t.Helper()
	needHostServers(t, "etcd")
	token := uniqueName(t, "etcd")
	members := make([]*etcdMember, len(gateways))
	var peers []string
	peerURLs := make([]string, len(gateways))
	clientPorts := make([]int, len(gateways))
	for i := range gateways {
		peerURLs[i] = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		clientPorts[i] = freePort(t)
		peers = append(peers, fmt.Sprintf("n%d=%s", i, peerURLs[i]))
	}
	for i, gw := range gateways {
		m := &etcdMember{name: fmt.Sprintf("n%d", i), clientURL: fmt.Sprintf("http://%s:%d", gw, clientPorts[i])}
		m.stop = hostServer(t, fmt.Sprintf("127.0.0.1:%d", clientPorts[i]), "etcd",
			"--name", m.name, "--data-dir", t.TempDir(),
			"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
			"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d,%s", clientPorts[i], m.clientURL),
			"--advertise-client-urls", m.clientURL,
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token)
		members[i] = m
	}
	return members
}

// waitGateway is a podd's bridge gateway (gatewayOf), once the host has the address.
func waitGateway(t *testing.T, p *Podd) netip.Addr {
	t.Helper()
	gw := netip.MustParseAddr(gatewayOf(p))
	waitFor(t, "the address "+gw.String()+" on "+p.Bridge, func() bool {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == gw {
				return true
			}
		}
		return false
	})
	return gw
}

// killContainers SIGKILLs every task of a podd's containerd namespace, as a dying node's
// containers die with it.
func killContainers(t *testing.T, p *Podd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Context(), time.Minute)
	defer cancel()
	ctrs, err := h.client.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		task, err := c.Task(ctx, nil)
		if err != nil {
			continue // no task: nothing runs
		}
		if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil {
			t.Logf("kill the task of %s: %v", c.ID(), err)
		}
	}
}

// sampleElectors reads n electors one after the other. Two of them claiming the lead fail the test
// only when the claims overlap: the one read first, read again after the other, still claims with
// the same token (it claimed throughout). Otherwise the lead moved between the reads: ok is false
// and the caller samples again.
func sampleElectors(t *testing.T, n int, read func(i int) (electorStatus, bool)) (seen []electorStatus, ok bool) {
	t.Helper()
	first := -1
	for i := range n {
		st, answered := read(i)
		if !answered {
			return nil, false
		}
		seen = append(seen, st)
		if !st.IsLeader {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		if again, answered := read(first); answered && again.IsLeader && again.Token == seen[first].Token {
			t.Fatalf("two electors lead at once: %+v claimed before and after %+v", seen[first], st)
		}
		return nil, false
	}
	return seen, true
}

// electorManifest is one node's replica of the elector demo, on the etcd backend.
func electorManifest(endpoints []string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: across}
spec:
  replicas: 1
  selector: {matchLabels: {app: across}}
  template:
    metadata:
      labels: {app: across}
      annotations:
        podd.io/inject: elector
        elector.podd.io/election: across-nodes
        elector.podd.io/backend: etcd
        elector.podd.io/etcd-endpoints: "` + strings.Join(endpoints, ",") + `"
        elector.podd.io/ttl: 2s
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: ` + busyboxImage + `
        command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
`
}

// TestElectorAcrossNodes: three podds are three "nodes" (their own roots, sockets, containerd
// namespaces, cgroups, bridges and subnets) and three etcd members one per node; each node runs
// one replica with the elector injected on the etcd backend. Exactly one of the three leads and
// the others name it; when the leader's node dies — its podd, its containers and its etcd member
// killed with SIGKILL — one of the two others leads with a higher token, and the last one names it;
// when the node's podd comes back, its replica follows that leader.
func TestElectorAcrossNodes(t *testing.T) {
	t.Parallel()
	needHostServers(t, "etcd")
	// Each node: its own containerd namespace too (startPodd names it after the test).
	node := func(i int) *Podd {
		return startPoddConfigured(t, func(p *Podd) { p.Namespace = fmt.Sprintf("%s-n%d", p.Namespace, i) })
	}
	nodes := []*Podd{node(0), node(1), node(2)}
	gateways := make([]netip.Addr, len(nodes))
	for i, p := range nodes {
		// A node's bridge (and its gateway address) comes with its first pod.
		p.RunManifest(t, dnsPod("warm", ""))
		gateways[i] = waitGateway(t, p)
	}
	members := startEtcdCluster(t, gateways)
	var endpoints []string
	for _, m := range members {
		endpoints = append(endpoints, m.clientURL)
	}
	for _, p := range nodes {
		p.ApplyManifest(t, electorManifest(endpoints))
	}
	// One running replica per node.
	names := make([]string, len(nodes))
	for i, p := range nodes {
		waitFor(t, fmt.Sprintf("the replica on node %d running", i), func() bool {
			var list struct{ Items []*pod.Pod }
			res := mustPodctl(t, p, "get", "po", "-l", "app=across", "-o", "json")
			if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
				t.Fatalf("%v: %s", err, res)
			}
			for _, q := range list.Items {
				if q.Status.Phase == pod.PodRunning {
					names[i] = q.Metadata.Name
					return true
				}
			}
			return false
		})
	}
	t.Logf("replicas: %v", names)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, p := range nodes {
			if p.Running() {
				t.Logf("node %d, the elector of %s:\n%s", i, names[i], p.Podctl(t, "logs", names[i], "-c", "podd-elector", "--tail", "15"))
			}
		}
	})

	// oneLeader waits until exactly one of the live nodes' electors leads, every live one names it,
	// and ok holds of it. No sample may see two leaders.
	oneLeader := func(live []int, what string, ok func(electorStatus) bool) (electorStatus, int) {
		var leader electorStatus
		var at int
		waitFor(t, what, func() bool {
			seen, sampled := sampleElectors(t, len(live), func(j int) (electorStatus, bool) {
				return electorOf(t, nodes[live[j]], names[live[j]])
			})
			if !sampled {
				return false
			}
			leaders := 0
			for j, st := range seen {
				if st.IsLeader {
					leaders++
					leader, at = st, live[j]
				}
			}
			if leaders != 1 || !ok(leader) {
				return false
			}
			for _, st := range seen {
				if st.Leader != leader.Self || st.Token != leader.Token {
					return false
				}
			}
			return true
		})
		return leader, at
	}
	first, dead := oneLeader([]int{0, 1, 2}, "one leader across the three nodes", func(electorStatus) bool { return true })
	t.Logf("leader %s on node %d, token %d", first.Self, dead, first.Token)

	// The leader's node dies: podd, its containers and its etcd member.
	nodes[dead].Kill9(t)
	killContainers(t, nodes[dead])
	members[dead].stop()

	var live []int
	for i := range nodes {
		if i != dead {
			live = append(live, i)
		}
	}
	second, at := oneLeader(live, "another node's replica leads after the leader's node died", func(st electorStatus) bool {
		return st.Self != first.Self && st.Token > first.Token
	})
	t.Logf("after the node died: leader %s on node %d, token %d", second.Self, at, second.Token)

	// The node comes back (its podd; its etcd member stays dead, two of three keep the quorum):
	// its replica restarts, campaigns again and names the leader it finds.
	nodes[dead].Start(t)
	oneLeader([]int{0, 1, 2}, "the returning node's replica names the new leader", func(st electorStatus) bool {
		return st.Self == second.Self && st.Token == second.Token
	})
}

// TestEtcdElectorFollowsReadiness: on the etcd backend too, the elector campaigns only while its
// application is ready (it reads the pod through the pod's own API socket): two replicas, one
// etcd member; the leader's app turns unready (its readiness file goes) → the other replica leads
// with a higher token, the old leader's app gets the signal of elector.podd.io/signal, and the
// first one does not campaign again until its app is ready.
func TestEtcdElectorFollowsReadiness(t *testing.T) {
	t.Parallel()
	needHostServers(t, "etcd")
	p := startPodd(t)
	p.RunManifest(t, dnsPod("warm", ""))
	member := startEtcdCluster(t, []netip.Addr{waitGateway(t, p)})[0]
	p.ApplyManifest(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: gated}
spec:
  replicas: 2
  selector: {matchLabels: {app: gated}}
  template:
    metadata:
      labels: {app: gated}
      annotations:
        podd.io/inject: elector
        elector.podd.io/election: gated
        elector.podd.io/backend: etcd
        elector.podd.io/etcd-endpoints: "`+member.clientURL+`"
        elector.podd.io/ttl: 2s
        elector.podd.io/signal: USR1
        elector.podd.io/signal-process: sh
    spec:
      terminationGracePeriodSeconds: 1
      shareProcessNamespace: true
      containers:
      - name: app
        image: `+busyboxImage+`
        command: [sh, -c, "touch /tmp/ready; trap 'echo lost >> /tmp/lost' USR1; trap 'exit 0' TERM; while true; do sleep 1; done"]
        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
          periodSeconds: 1
          timeoutSeconds: 10 # unready when the file goes, not when the machine is slow
          failureThreshold: 1
`)
	var names []string
	waitFor(t, "two ready replicas", func() bool {
		var list struct{ Items []*pod.Pod }
		res := mustPodctl(t, p, "get", "po", "-l", "app=gated", "-o", "json")
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		names = names[:0]
		for _, q := range list.Items {
			ready := q.Status.Phase == pod.PodRunning
			for _, cs := range q.Status.ContainerStatuses {
				ready = ready && cs.Ready
			}
			if ready {
				names = append(names, q.Metadata.Name)
			}
		}
		return len(names) == 2
	})
	// leaderIs waits until name leads (one leader, both electors name it) and returns its status.
	leaderIs := func(what string, ok func(electorStatus) bool) electorStatus {
		var leader electorStatus
		waitFor(t, what, func() bool {
			seen, sampled := sampleElectors(t, len(names), func(i int) (electorStatus, bool) { return electorOf(t, p, names[i]) })
			if !sampled {
				return false
			}
			leaders, agree := 0, true
			for _, st := range seen {
				if st.IsLeader {
					leaders++
					leader = st
				}
			}
			for _, st := range seen {
				agree = agree && st.Leader == leader.Self && st.Token == leader.Token
			}
			return leaders == 1 && agree && ok(leader)
		})
		return leader
	}
	first := leaderIs("one leader", func(electorStatus) bool { return true })
	mustPodctl(t, p, "exec", first.Self, "-c", "app", "--", "rm", "/tmp/ready")
	second := leaderIs("the other replica leads once the leader's app is unready", func(st electorStatus) bool {
		return st.Self != first.Self && st.Token > first.Token
	})
	waitFor(t, "the old leader's app told by its signal", func() bool {
		return p.Podctl(t, "exec", first.Self, "-c", "app", "--", "cat", "/tmp/lost").Stdout == "lost\n"
	})
	if out := p.Podctl(t, "exec", second.Self, "-c", "app", "--", "cat", "/tmp/lost"); out.ExitCode == 0 {
		t.Fatalf("the new leader's app was signalled: %s", out)
	}
	// The unready replica does not campaign: its key is gone from etcd, so it is not next in line.
	// Make the leader unready too and the first one ready again: the first one leads again.
	mustPodctl(t, p, "exec", second.Self, "-c", "app", "--", "rm", "/tmp/ready")
	time.Sleep(3 * time.Second) // longer than the ttl: nobody ready, nobody may lead
	for _, n := range names {
		if st, ok := electorOf(t, p, n); ok && st.IsLeader {
			t.Fatalf("%s leads while its application is unready: %+v", n, st)
		}
	}
	mustPodctl(t, p, "exec", first.Self, "-c", "app", "--", "touch", "/tmp/ready")
	leaderIs("the first replica leads again once ready", func(st electorStatus) bool {
		return st.Self == first.Self && st.Token > second.Token
	})
}
