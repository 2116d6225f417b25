package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/podd-dev/podd/pkg/pod"
)

// The etcd election part: three "nodes" on this machine — three podds of the bench's containerd,
// each with its own folder, socket, containerd namespace, cgroup parent, bridge and subnet — and a
// 3-member etcd cluster (Debian's etcd-server), member i serving clients on loopback and on node
// i's bridge gateway. Each node runs one replica of the bench's app with the elector injected on
// the etcd backend (ttl etcdElectionTTL); the fenced store runs on the host, on node 0's gateway.
//
// Forced failovers rotate over three faults of the leader: kill -9 of its app container; SIGSTOP
// of its app for longer than the ttl (SIGCONT after another leads); and kill -9 of its whole node:
// the node's podd, every task of its containerd namespace and its etcd member, all SIGKILL (then
// the member and the podd are started again and the node's replica comes back before the next
// fault). The failover and dual-leader method is the local part's (electorWatch, storeWatch).
const (
	etcdElectionTTL  = 2 * time.Second
	etcdElectionName = "eletcd"
)

type etcdNode struct {
	i      int
	p      *poddInstance
	bridge string
	gw     string
	member *proc
	args   []string // the member's command line, to start it again

	mu      sync.Mutex
	podName string
	podIP   string
}

func (n *etcdNode) target() (string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.podName, n.podIP
}

func (n *etcdNode) startMember() error {
	pr, err := startProc(exec.Command("etcd", n.args...), filepath.Join(n.p.dir, "etcd.log"))
	if err != nil {
		return err
	}
	n.member = pr
	return nil
}

// waitAddress waits until the host has addr (a node's gateway comes with its bridge).
func waitAddress(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == addr {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the address %s did not appear within %v", addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nodePod is the node's replica when it runs with every container ready.
func (n *etcdNode) nodePod(ctx context.Context) (*pod.Pod, bool, error) {
	list, err := n.p.client.ListPods(ctx, "default")
	if err != nil {
		return nil, false, err
	}
	for _, p := range list {
		if p.Metadata.Labels["app"] != etcdElectionName || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		ready := p.Status.Phase == pod.PodRunning && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) > 0
		for _, cs := range append(p.Status.ContainerStatuses, p.Status.InitContainerStatuses...) {
			ready = ready && cs.Ready && cs.State.Running != nil
		}
		if ready {
			n.mu.Lock()
			n.podName, n.podIP = p.Metadata.Name, p.Status.PodIP
			n.mu.Unlock()
		}
		return p, ready, nil
	}
	return nil, false, nil
}

// killNode kills the node as a power cut would: its podd, its containers, its etcd member.
func (b *bench) killNode(ctx context.Context, n *etcdNode) error {
	n.p.proc.kill()
	nctx := namespaces.WithNamespace(ctx, n.p.namespace())
	ctrs, err := b.client.Containers(nctx)
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		task, err := c.Task(nctx, nil)
		if err != nil {
			continue // no task: nothing runs
		}
		if err := task.Kill(nctx, syscall.SIGKILL, containerd.WithKillAll); err != nil {
			fmt.Fprintf(os.Stderr, "podbench: kill the task of %s: %v\n", c.ID(), err)
		}
	}
	n.member.kill()
	return nil
}

// namespace is podd's --namespace.
func (p *poddInstance) namespace() string {
	for i, a := range p.args {
		if a == "--namespace" && i+1 < len(p.args) {
			return p.args[i+1]
		}
	}
	return poddNamespace
}

// setUpEtcdNodes starts the nodes, their bridges (a first pod each), the etcd cluster and the
// fenced store on node 0's gateway.
func (b *bench) setUpEtcdNodes(ctx context.Context) ([]*etcdNode, *proc, error) {
	var nodes []*etcdNode
	for i := range 3 {
		n := &etcdNode{i: i, bridge: fmt.Sprintf("pbench%d", i), gw: fmt.Sprintf("10.201.%d.1", i)}
		p, err := b.newPodd(ctx, fmt.Sprintf("node%d", i), fmt.Sprintf("podbench-node%d", i), fmt.Sprintf("podbench-node%d", i),
			"--bridge", n.bridge, "--pod-cidr", fmt.Sprintf("10.201.%d.0/24", i), "--pod-egress-nat=false")
		if err != nil {
			return nodes, nil, fmt.Errorf("node %d: %w", i, err)
		}
		n.p = p
		nodes = append(nodes, n)
		path, err := b.writeManifest(fmt.Sprintf("warm%d", i), fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: warm}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: %s, command: [sleep, "100000"]}
`, benchImage))
		if err != nil {
			return nodes, nil, err
		}
		if out, err := p.podctl(ctx, "run", path); err != nil {
			return nodes, nil, fmt.Errorf("node %d: podctl run a first pod: %w: %s", i, err, out)
		}
		if err := waitAddress(ctx, n.gw, time.Minute); err != nil {
			return nodes, nil, fmt.Errorf("node %d: %w", i, err)
		}
	}
	var peers []string
	peerURLs, clientPorts := make([]string, 3), make([]int, 3)
	for i := range nodes {
		pp, err := localPort()
		if err != nil {
			return nodes, nil, err
		}
		if clientPorts[i], err = localPort(); err != nil {
			return nodes, nil, err
		}
		peerURLs[i] = fmt.Sprintf("http://127.0.0.1:%d", pp)
		peers = append(peers, fmt.Sprintf("n%d=%s", i, peerURLs[i]))
	}
	for i, n := range nodes {
		client := fmt.Sprintf("http://%s:%d", n.gw, clientPorts[i])
		n.args = []string{"--name", fmt.Sprintf("n%d", i), "--data-dir", filepath.Join(n.p.dir, "etcd"),
			"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
			"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d,%s", clientPorts[i], client),
			"--advertise-client-urls", client,
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new", "--initial-cluster-token", "podbench"}
		if err := n.startMember(); err != nil {
			return nodes, nil, err
		}
	}
	store, err := startProc(exec.Command(b.opts.patternsBin, "fenced-store", "--listen", fmt.Sprintf("%s:%d", nodes[0].gw, storePort)),
		filepath.Join(b.dir, "fenced-store.log"))
	if err != nil {
		return nodes, nil, err
	}
	var endpoints []string
	for i, n := range nodes {
		endpoints = append(endpoints, fmt.Sprintf("http://%s:%d", n.gw, clientPorts[i]))
	}
	extra := "        elector.podd.io/backend: etcd\n" +
		"        elector.podd.io/etcd-endpoints: \"" + strings.Join(endpoints, ",") + "\"\n"
	path, err := b.writeManifest(etcdElectionName, electionDeployment(etcdElectionName, 1, etcdElectionTTL, extra, nodes[0].gw))
	if err != nil {
		return nodes, store, err
	}
	for _, n := range nodes {
		if out, err := n.p.podctl(ctx, "apply", "-f", path); err != nil {
			return nodes, store, fmt.Errorf("node %d: podctl apply: %w: %s", n.i, err, out)
		}
	}
	return nodes, store, nil
}

// tearDownEtcdNodes removes the nodes' pods (their CNI rules go with them), stops the podds, the
// members and the store, and deletes the bridges.
func (b *bench) tearDownEtcdNodes(nodes []*etcdNode, store *proc) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if store != nil {
		store.stop(5 * time.Second)
	}
	for _, n := range nodes {
		if n.p.proc != nil && n.p.proc.running() {
			for _, args := range [][]string{{"delete", "deployment", etcdElectionName}, {"rm", "--force", "warm"}} {
				if out, err := n.p.podctl(ctx, args...); err != nil {
					fmt.Fprintf(os.Stderr, "podbench: node %d: podctl %v: %v: %s\n", n.i, args, err, out)
				}
			}
			n.p.proc.stop(10 * time.Second)
		}
		if n.member != nil && n.member.running() {
			n.member.stop(5 * time.Second)
		}
		if out, err := exec.Command("ip", "link", "del", n.bridge).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "podbench: ip link del %s: %v: %s\n", n.bridge, err, out)
		}
	}
}

// measureElectionEtcd runs the etcd part: b.opts.etcdFailovers forced failovers of each fault.
func (b *bench) measureElectionEtcd(ctx context.Context) (err error) {
	begin := time.Now()
	if _, err := exec.LookPath("etcd"); err != nil {
		return fmt.Errorf("etcd: %w (make bench installs etcd-server: hack/install-deps.sh)", err)
	}
	nodes, store, err := b.setUpEtcdNodes(ctx)
	defer b.tearDownEtcdNodes(nodes, store)
	if err != nil {
		return err
	}
	allReady := func() (bool, error) {
		for _, n := range nodes {
			if _, ok, err := n.nodePod(ctx); err != nil || !ok {
				return false, nil
			}
		}
		return true, nil
	}
	if err := b.waitElection(ctx, "a ready replica on each node", 3*time.Minute, allReady); err != nil {
		return err
	}
	w := newElectorWatch()
	sw := &storeWatch{}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); w.follow(pctx, n.target) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); sw.poll(pctx, nodes[0].gw) }()
	defer func() { cancel(); wg.Wait() }()

	names := func() []string {
		var out []string
		for _, n := range nodes {
			name, _ := n.target()
			out = append(out, name)
		}
		return out
	}
	faults := []string{"kill -9", "SIGSTOP", "node kill"}
	durations := make([][]time.Duration, len(faults))
	total := b.opts.etcdFailovers * len(faults)
	for i := range total {
		kind := i % len(faults)
		var leader electorSample
		if err := b.waitElection(ctx, "3 ready replicas and one leader", 2*time.Minute, func() (bool, error) {
			if ok, err := allReady(); err != nil || !ok {
				return false, err
			}
			var ok bool
			leader, ok = w.leader(names())
			return ok, nil
		}); err != nil {
			return err
		}
		var ln *etcdNode
		for _, n := range nodes {
			if name, _ := n.target(); name == leader.pod {
				ln = n
			}
		}
		lp, _, err := ln.nodePod(ctx)
		if err != nil || lp == nil {
			return fmt.Errorf("the leader %s's pod: %v", leader.pod, err)
		}
		procs, err := ln.p.cgroupProcsFile(lp, "app")
		if err != nil {
			return err
		}
		found := w.expect(leader.pod, leader.st.Token)
		fault := time.Now()
		switch kind {
		case 0:
			if n, err := signalContainer(procs, syscall.SIGKILL); err != nil || n == 0 {
				return fmt.Errorf("kill -9 of %s's app: %d processes signalled (%v)", leader.pod, n, err)
			}
		case 1:
			if n, err := signalContainer(procs, syscall.SIGSTOP); err != nil || n == 0 {
				return fmt.Errorf("SIGSTOP of %s's app: %d processes signalled (%v)", leader.pod, n, err)
			}
		case 2:
			if err := b.killNode(ctx, ln); err != nil {
				return err
			}
		}
		var next electorSample
		select {
		case next = <-found:
		case <-time.After(30 * time.Second):
			if kind == 1 {
				signalContainer(procs, syscall.SIGCONT)
			}
			return fmt.Errorf("failover %d (%s of %s, token %d): no other elector led within 30 s", i+1, faults[kind], leader.pod, leader.st.Token)
		case <-ctx.Done():
			return ctx.Err()
		}
		d := next.recv.Sub(fault)
		durations[kind] = append(durations[kind], d)
		switch kind {
		case 1:
			// As in the local part: paused past the ttl and until the next leader has written.
			time.Sleep(max(time.Until(fault.Add(etcdElectionTTL+200*time.Millisecond)), time.Until(next.recv.Add(300*time.Millisecond))))
			if _, err := signalContainer(procs, syscall.SIGCONT); err != nil {
				return err
			}
		case 2:
			// The node comes back: its etcd member, its podd (which restarts the replica's
			// containers).
			time.Sleep(300 * time.Millisecond) // the next leader writes meanwhile
			if err := ln.startMember(); err != nil {
				return err
			}
			if _, err := ln.p.start(ctx); err != nil {
				return fmt.Errorf("node %d back: %w", ln.i, err)
			}
		}
		fmt.Fprintf(os.Stderr, "podbench: etcd failover %2d/%d  %-9s %s (token %d) -> %s (token %d)  %7.1f ms\n",
			i+1, total, faults[kind], leader.pod, leader.st.Token, next.pod, next.st.Token, float64(d)/float64(time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	accepted, rejected, err := storeMetrics(ctx, nodes[0].gw)
	if err != nil {
		return err
	}
	r := &b.res
	r.LeaderFailoverEtcd = ptr(percentile(durations[2], 50))
	r.LeaderFailoverEtcdMax = ptr(percentile(durations[2], 100))
	r.LeaderFailoverEtcdKill = ptr(percentile(durations[0], 50))
	r.LeaderFailoverEtcdStop = ptr(percentile(durations[1], 50))
	r.LeaderEtcdTTL = ptr(float64(etcdElectionTTL) / float64(time.Millisecond))
	r.LeaderEtcdFailovers = total
	r.LeaderEtcdPerFault = b.opts.etcdFailovers
	r.LeaderEtcdStaleWritesAccepted = ptr(sw.decreases)
	r.LeaderEtcdStaleWriteAttempts = int(rejected)
	r.LeaderEtcdWritesAccepted = int(accepted)
	r.LeaderEtcdDualLeaderSamples = ptr(w.dual)
	r.LeaderEtcdElectorSamples = w.samples
	if r.LeaderElectorRTTp50 == 0 { // the local part did not run: the pollers' figures are these
		r.LeaderElectorRTTp50, r.LeaderElectorRTTp99 = percentile(w.rtt, 50), percentile(w.rtt, 99)
	}
	r.LeaderEtcdSeconds = time.Since(begin).Seconds()
	for _, s := range w.dualSeen {
		fmt.Fprintf(os.Stderr, "podbench: etcd dual leaders: %s\n", s)
	}
	fmt.Fprintf(os.Stderr, "podbench: etcd election: %d elector answers (%d failed requests), %d store reads, %d writes accepted, %d refused, %.0f s\n",
		w.samples, w.errors, sw.reads, int(accepted), int(rejected), r.LeaderEtcdSeconds)
	if accepted == 0 {
		return errors.New("the fenced store accepted no write: the apps could not reach it")
	}
	return nil
}
