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

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/podd-dev/podd/pkg/helpers/workqueue"
	"github.com/podd-dev/podd/pkg/helpers/workqueue/etcdqueue"
	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
	"github.com/podd-dev/podd/pkg/pod"
)

// wqAcrossManifest is one node's share of a queue on etcd: the same n items (a ConfigMap on
// every node: each id is added once, by whichever helper comes first) and a Job of parallelism
// workers whose program takes work seconds per item.
func wqAcrossManifest(endpoints []string, n, parallelism int, work string) string {
	var items strings.Builder
	for i := range n {
		fmt.Fprintf(&items, "  item-%03d: \"v%d\"\n", i, i)
	}
	return `apiVersion: v1
kind: ConfigMap
metadata: {name: wq-across-items}
data:
` + items.String() + `---
apiVersion: batch/v1
kind: Job
metadata: {name: wq-across}
spec:
  parallelism: ` + fmt.Sprint(parallelism) + `
  backoffLimit: 20
  template:
    metadata:
      labels: {app: wq-across}
      annotations:
        podd.io/inject: workqueue
        workqueue.podd.io/backend: etcd
        workqueue.podd.io/etcd-endpoints: "` + strings.Join(endpoints, ",") + `"
        workqueue.podd.io/queue: across
        workqueue.podd.io/lease-ttl: 2s
        workqueue.podd.io/source-dir: /items
        workqueue.podd.io/poll: 200ms
        workqueue.podd.io/backoff: 200ms
        workqueue.podd.io/volumes: "work:/podd-wq,items:/items:ro"
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      containers:
      - name: worker
        image: ` + busyboxImage + `
        command:
        - /podd-wq/podd-patterns
        - wq-run
        - --
        - sh
        - -c
        - |
          in=$(cat "$WORK_ITEM")
          sleep ` + work + `
          echo "done:$in" > "$WORK_OUTPUT/result"
        volumeMounts:
        - {name: work, mountPath: /podd-wq}
      volumes:
      - {name: work, emptyDir: {}}
      - name: items
        configMap: {name: wq-across-items}
`
}

// podNames are the names of a node's pods labelled app=<app>.
func podNames(t *testing.T, p *Podd, app string) map[string]bool {
	t.Helper()
	var list struct{ Items []*pod.Pod }
	res := mustPodctl(t, p, "get", "po", "-l", "app="+app, "-o", "json")
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
	names := map[string]bool{}
	for _, q := range list.Items {
		names[q.Metadata.Name] = true
	}
	return names
}

// holderPod is the pod of an attempt's holder: "<host name>/<pid>", the host name a pod's name.
func holderPod(holder string) string {
	name, _, _ := strings.Cut(holder, "/")
	return name
}

// TestWorkQueueAcrossNodes: three podds are three "nodes" with one etcd member each (the
// three-node set-up of TestElectorAcrossNodes); each node runs a Job of two workers on one queue
// of 100 items in etcd (the helper image's etcd variant). While items are leased on node 0, the
// whole node dies: its podd and its containers are killed with SIGKILL and its etcd member
// stopped. Its leased items return to the queue once their etcd lease expires (the lease TTL,
// 2 s) and the other nodes' workers commit them; at the end every item's output is committed
// exactly once (etcd's version of its output key is 1) with the content its input asks for,
// nothing is pending, and the live nodes' Jobs complete; so does the dead node's, once its podd
// comes back.
func TestWorkQueueAcrossNodes(t *testing.T) {
	t.Parallel()
	needHostServers(t, "etcd")
	const n = 100
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
	// The test reads the queue as any worker would (it claims nothing).
	q, err := etcdqueue.Open(workqueue.EtcdConfig{Endpoints: endpoints, Queue: "across", LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	for _, p := range nodes {
		p.ApplyManifest(t, wqAcrossManifest(endpoints, n, 2, "1"))
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, p := range nodes {
			if !p.Running() {
				continue
			}
			for name := range podNames(t, p, "wq-across") {
				t.Logf("node %d, the helper of %s:\n%s", i, name, p.Podctl(t, "logs", name, "-c", "podd-workqueue", "--tail", "15"))
			}
		}
	})

	// Node 0 dies once a fifth of the queue is done and items are leased there.
	const dead = 0
	var orphans map[string]string // id → the token of its attempt on the dead node
	waitFor(t, "a fifth of the items done and some leased on node 0", func() bool {
		c, err := q.Counts()
		if err != nil || c.Done < n/5 {
			return false
		}
		pods := podNames(t, nodes[dead], "wq-across")
		leased, err := q.Items(spool.StateLeased)
		if err != nil {
			return false
		}
		orphans = map[string]string{}
		for _, m := range leased {
			if pods[holderPod(m.Holder)] {
				orphans[m.ID] = m.Token
			}
		}
		return len(orphans) > 0
	})
	// The node dies: its helpers first (as at a power loss, none of them can report anything:
	// the etcd lease is what ends their attempts), then podd, the other containers, the member.
	var list struct{ Items []*pod.Pod }
	res := mustPodctl(t, nodes[dead], "get", "po", "-l", "app=wq-across", "-o", "json")
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
	for _, p := range list.Items {
		for pid := range containerProcs(t, nodes[dead], p, p.Status.InitContainerStatuses, "podd-workqueue") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	killed := time.Now()
	leader := etcdLeads(t, members[dead].clientURL)
	nodes[dead].Kill9(t)
	killContainers(t, nodes[dead])
	members[dead].stop()
	// When the dead node's member led etcd, the new leader extends every lease (by its TTL and an
	// election timeout) before any can expire: those items come back later.
	t.Logf("node %d killed with %d items leased there: %v; its etcd member led the cluster: %v", dead, len(orphans), orphans, leader)

	// Each item leased on the dead node: committed by that attempt just before the kill, or
	// taken back once its lease expired (retry) and claimed by another node's worker.
	returned := map[string]time.Duration{}
	committedBefore := map[string]bool{}
	waitFor(t, "the dead node's items back in the queue", func() bool {
		byID := map[string]spool.Meta{}
		for _, st := range []string{spool.StateRetry, spool.StateLeased, spool.StateDone} {
			items, err := q.Items(st)
			if err != nil {
				return false
			}
			for _, m := range items {
				byID[m.ID] = m
			}
		}
		for id, token := range orphans {
			m, ok := byID[id]
			switch {
			case !ok || committedBefore[id] || returned[id] != 0:
			case m.Token == token && !m.Finished.IsZero() && m.LastError == "":
				committedBefore[id] = true
			case m.Token != token || m.LastError != "":
				returned[id] = time.Since(killed)
			}
		}
		return len(returned)+len(committedBefore) == len(orphans)
	})
	t.Logf("the dead node's items back in the queue after (since the kill; lease TTL 2s): %v; committed before the kill: %v", returned, committedBefore)

	waitFor(t, "every item done", func() bool {
		c, err := q.Counts()
		return err == nil && c.Done == n && c.Pending() == 0
	})
	recovered := 0
	done, err := q.Items(spool.StateDone)
	if err != nil || len(done) != n {
		t.Fatalf("done items: %d, %v", len(done), err)
	}
	for _, m := range done {
		var i int
		if _, err := fmt.Sscanf(m.ID, "item-%03d", &i); err != nil {
			t.Fatalf("item %q: %v", m.ID, err)
		}
		files, writes, err := q.Output(m.ID)
		if err != nil || writes != 1 || string(files["result"]) != fmt.Sprintf("done:v%d\n", i) {
			t.Errorf("output of %s: %q written %d times, %v; want done:v%d once", m.ID, files, writes, err, i)
		}
		if _, ok := returned[m.ID]; ok {
			recovered++
			if m.Attempts < 2 || holderPod(m.Holder) == "" || !strings.Contains(m.LastError, "etcd lease expired") {
				t.Errorf("%s, retried after its node died: %+v", m.ID, m)
			}
		}
	}
	if recovered == 0 {
		t.Fatalf("none of the %d items leased on the dead node was committed by another attempt: %v", len(orphans), orphans)
	}
	t.Logf("%d items of the dead node committed by the other nodes", recovered)
	for i, p := range nodes {
		if i != dead {
			waitJob(t, p, "wq-across", fmt.Sprintf("the Job on node %d to complete", i), 2*time.Minute, jobComplete)
		}
	}
	// The node comes back (its podd; its etcd member stays dead, two of three keep the quorum):
	// its Job's new workers find nothing pending and end, and no output is written again.
	nodes[dead].Start(t)
	waitJob(t, nodes[dead], "wq-across", "the Job on the returning node to complete", 2*time.Minute, jobComplete)
	for _, m := range done {
		if _, writes, err := q.Output(m.ID); err != nil || writes != 1 {
			t.Errorf("output of %s after the node's return: written %d times, %v", m.ID, writes, err)
		}
	}
}

// TestWorkQueueEtcdExample runs specs/patterns/work-queue-etcd.yaml as written (but for the
// test's busybox and its etcd's address: one member, on the node's gateway, for the three of
// hack/multinode.sh): the Job completes once the queue is empty, and the twelve outputs are
// committed once each with their input in capitals.
func TestWorkQueueEtcdExample(t *testing.T) {
	t.Parallel()
	needHostServers(t, "etcd")
	p := startPodd(t)
	p.RunManifest(t, dnsPod("warm", ""))
	member := startEtcdCluster(t, []netip.Addr{waitGateway(t, p)})[0]
	manifest := specManifest(t, "patterns", "work-queue-etcd.yaml")
	const endpoints = "http://10.124.0.1:2379,http://10.124.1.1:2379,http://10.124.2.1:2379"
	if !strings.Contains(manifest, endpoints) {
		t.Fatalf("the example no longer names the endpoints %s", endpoints)
	}
	p.ApplyManifest(t, strings.ReplaceAll(manifest, endpoints, member.clientURL))
	waitJob(t, p, "wq-etcd-demo", "the work queue's Job to complete", 3*time.Minute, jobComplete)
	q, err := etcdqueue.Open(workqueue.EtcdConfig{Endpoints: []string{member.clientURL}, Queue: "wq-etcd-demo", LeaseTTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if c, err := q.Counts(); err != nil || c != (spool.Counts{Done: 12}) {
		t.Fatalf("counts %+v %v, want 12 done", c, err)
	}
	for id, want := range map[string]string{"item-01": "ALPHA\n", "item-12": "LIMA\n"} {
		if files, writes, err := q.Output(id); err != nil || writes != 1 || string(files["result"]) != want {
			t.Errorf("output of %s: %q written %d times, %v; want %q once", id, files, writes, err, want)
		}
	}
}

// etcdLeads says whether the etcd member serving endpoint is its cluster's leader.
func etcdLeads(t *testing.T, endpoint string) bool {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		t.Fatalf("etcd status of %s: %v", endpoint, err)
	}
	return st.Leader == st.Header.MemberId
}
