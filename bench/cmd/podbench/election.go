package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
)

// The election part: three replicas of an app with the elector injected (local backend, podd
// arbitrates), a fenced store in a pod of its own, and forced failovers alternating kill -9 of
// the leader's app container and SIGSTOP of it for longer than the ttl (SIGCONT after).
//
// Method: the bench polls every elector's GET / on the pod's address (the elector listens on
// 0.0.0.0:4040 here) every electionPoll, one poller per elector, HTTP/1.1 keep-alive. A failover
// lasts from the fault (just before the first kill(2)) until the first answer of another
// replica's elector reporting isLeader with a higher token (the time that answer was read).
// Resolution: the poll interval plus one request's round trip (both printed).
//
// Dual leaders: a sample is an answer with its [request sent, response read] window; two
// electors' answers both reporting isLeader whose windows overlap are a dual-leader sample (the
// two claims were made at some common instant only if the windows overlap; answers that do not
// overlap are not counted even if one elector's claim might have lasted).
//
// Stale writes: every replica's app (a shell loop) asks its elector and, whenever it says
// isLeader, PUTs to the fenced store with the token its elector reports. The bench reads the
// store's key every electionPoll and counts the times its token went down (a write with a lower
// token accepted after a higher one: leader_stale_writes_accepted); the attempts with stale
// tokens are the store's refusals (fenced_store_writes_rejected_total: each is a write whose
// token was below the highest the store had accepted).
const (
	electionTTL  = time.Second
	electionPoll = 5 * time.Millisecond
	electorPort  = 4040
	storePort    = 8080
)

type electorStatus struct {
	Leader   string `json:"leader"`
	Self     string `json:"self"`
	IsLeader bool   `json:"isLeader"`
	Token    uint64 `json:"token"`
}

type electorSample struct {
	pod        string
	sent, recv time.Time
	st         electorStatus
}

// electorWatch collects the pollers' answers.
type electorWatch struct {
	mu         sync.Mutex
	last       map[string]electorSample // each elector's last answer
	lastLeader map[string]electorSample // each elector's last answer reporting isLeader
	samples    int
	errors     int
	rtt        []time.Duration
	dual       int
	dualSeen   []string
	// A failover being waited for: another pod than oldPod reporting isLeader above oldToken.
	oldPod   string
	oldToken uint64
	found    chan electorSample
}

func newElectorWatch() *electorWatch {
	return &electorWatch{last: map[string]electorSample{}, lastLeader: map[string]electorSample{}}
}

func (w *electorWatch) add(s electorSample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	w.last[s.pod] = s
	if len(w.rtt) < 100000 {
		w.rtt = append(w.rtt, s.recv.Sub(s.sent))
	}
	if !s.st.IsLeader {
		return
	}
	for other, o := range w.lastLeader {
		if other != s.pod && o.sent.Before(s.recv) && s.sent.Before(o.recv) {
			w.dual++
			if len(w.dualSeen) < 10 {
				w.dualSeen = append(w.dualSeen, fmt.Sprintf("%s (token %d) and %s (token %d) at %s", s.pod, s.st.Token, other, o.st.Token, s.recv.Format("15:04:05.000")))
			}
		}
	}
	w.lastLeader[s.pod] = s
	if w.found != nil && s.pod != w.oldPod && s.st.Token > w.oldToken {
		w.found <- s
		w.found = nil
	}
}

// expect arms the failover's detector, before the fault.
func (w *electorWatch) expect(oldPod string, oldToken uint64) chan electorSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.oldPod, w.oldToken, w.found = oldPod, oldToken, make(chan electorSample, 1)
	return w.found
}

// leader is the one pod whose elector says it leads, when exactly one does, all answered within
// the last second, and the others name it.
func (w *electorWatch) leader(pods []string) (electorSample, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var leader electorSample
	n := 0
	for _, p := range pods {
		s, ok := w.last[p]
		if !ok || time.Since(s.recv) > time.Second {
			return leader, false
		}
		if s.st.IsLeader {
			leader = s
			n++
		}
	}
	if n != 1 {
		return leader, false
	}
	for _, p := range pods {
		if s := w.last[p]; s.st.Leader != leader.pod || s.st.Token != leader.st.Token {
			return leader, false
		}
	}
	return leader, true
}

// poll asks one elector every electionPoll until ctx ends.
func (w *electorWatch) poll(ctx context.Context, name, ip string) {
	w.follow(ctx, func() (string, string) { return name, ip })
}

// follow asks the elector of the pod target names (its name and address, which may change)
// every electionPoll until ctx ends.
func (w *electorWatch) follow(ctx context.Context, target func() (name, ip string)) {
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for ctx.Err() == nil {
		name, ip := target()
		url := fmt.Sprintf("http://%s:%d/", ip, electorPort)
		sent := time.Now()
		st, err := getStatus(ctx, client, url)
		recv := time.Now()
		if err != nil {
			w.mu.Lock()
			w.errors++
			w.mu.Unlock()
		} else {
			w.add(electorSample{pod: name, sent: sent, recv: recv, st: st})
		}
		if d := electionPoll - time.Since(sent); d > 0 {
			time.Sleep(d)
		}
	}
}

func getStatus(ctx context.Context, client *http.Client, url string) (electorStatus, error) {
	var st electorStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return st, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// storeWatch reads the fenced store's key and counts the times its token went down.
type storeWatch struct {
	mu        sync.Mutex
	highest   uint64
	decreases int
	reads     int
}

func (s *storeWatch) poll(ctx context.Context, ip string) {
	client := &http.Client{Timeout: 500 * time.Millisecond}
	url := fmt.Sprintf("http://%s:%d/k/x", ip, storePort)
	for ctx.Err() == nil {
		begin := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if tok, err := strconv.ParseUint(resp.Header.Get("X-Fencing-Token"), 10, 64); err == nil && resp.StatusCode == http.StatusOK {
				s.mu.Lock()
				s.reads++
				if tok < s.highest {
					s.decreases++
				}
				s.highest = max(s.highest, tok)
				s.mu.Unlock()
			}
		}
		if d := electionPoll - time.Since(begin); d > 0 {
			time.Sleep(d)
		}
	}
}

// storeMetrics reads the fenced store's counters.
func storeMetrics(ctx context.Context, ip string) (accepted, rejected float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/metrics", ip, storePort), nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "fenced_store_writes_accepted_total":
			accepted, found = v, found+1
		case "fenced_store_writes_rejected_total":
			rejected, found = v, found+1
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("the fenced store's metrics lack its write counters:\n%s", data)
	}
	return accepted, rejected, nil
}

// storeManifest: the fenced store, from the patterns' image of the bench's podd (which imports it
// from podd-patterns.tar beside its binary when a pod asks for it).
func storeManifest(image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: elbench-store}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: store, image: %s, args: [fenced-store, --listen, ":%d"]}
`, image, storePort)
}

// electionManifest: three replicas; the app serves its readiness on 8081 (busybox httpd, which a
// SIGSTOP stops answering, so the probe fails within period + timeout) and, whenever its elector
// says isLeader, works 20 ms and then writes to the fenced store with the token its elector
// reported: a pause in that work (SIGSTOP) makes the write carry a stale token.
func electionManifest(storeIP string) string {
	return electionDeployment("elbench", 3, electionTTL, "", storeIP)
}

// electionDeployment: replicas of the bench's app with the elector injected (election name;
// more annotations in extra, each line indented as the others), writing to the store at storeIP.
func electionDeployment(name string, replicas int, ttl time.Duration, extra, storeIP string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[7]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations:
        podd.io/inject: elector
        elector.podd.io/election: %[1]s
        elector.podd.io/ttl: %[2]s
        elector.podd.io/app-container: app
        elector.podd.io/listen: "0.0.0.0:%[3]d"
%[8]s    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: %[4]s
        readinessProbe:
          httpGet: {path: /, port: 8081}
          periodSeconds: 1
          timeoutSeconds: 1
          failureThreshold: 1
        command:
        - sh
        - -c
        - |
          mkdir -p /tmp/www && echo ok > /tmp/www/index.html && httpd -p 8081 -h /tmp/www
          trap 'exit 0' TERM
          while true; do
            s=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 %[3]d | tail -n 1)
            case "$s" in
            *'"isLeader":true'*)
              t=${s#*'"token":'}; t=${t%%%%[,\}]*}
              usleep 20000 # the work between learning it leads and writing: where a pause hurts
              printf 'PUT /k/x HTTP/1.0\r\nX-Fencing-Token: %%s\r\nContent-Length: 2\r\n\r\nok' "$t" | nc %[5]s %[6]d >/dev/null ;;
            *) usleep 20000 ;;
            esac
          done
`, name, ttl, electorPort, benchImage, storeIP, storePort, replicas, extra)
}

// cgroupProcsFile is the cgroup.procs of a container of a pod of this podd.
func (pi *poddInstance) cgroupProcsFile(p *pod.Pod, container string) (string, error) {
	var id string
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container {
			id = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	if id == "" {
		return "", fmt.Errorf("pod %s has no container %s running", p.Metadata.Name, container)
	}
	mode, err := cgroups.DetectMode("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	base := "/sys/fs/cgroup"
	if mode != cgroups.V2 {
		base = filepath.Join(base, "pids")
	}
	return filepath.Join(base, cgroups.ContainerPath(pi.cgroupRoot(), p.Metadata.UID, id), "cgroup.procs"), nil
}

// signalContainer sends sig to every process of the container; how many it reached.
func signalContainer(procsFile string, sig syscall.Signal) (int, error) {
	data, err := os.ReadFile(procsFile)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return n, fmt.Errorf("%s: %q", procsFile, f)
		}
		if syscall.Kill(pid, sig) == nil {
			n++
		}
	}
	return n, nil
}

// electionPods lists the replicas; ready when every one is Running with all containers ready.
func (b *bench) electionPods(ctx context.Context) (pods []*pod.Pod, ready bool, err error) {
	list, err := b.podd.client.ListPods(ctx, "default")
	if err != nil {
		return nil, false, err
	}
	ready = true
	for _, p := range list {
		if p.Metadata.Labels["app"] != "elbench" || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		pods = append(pods, p)
		if p.Status.Phase != pod.PodRunning || len(p.Status.ContainerStatuses) == 0 {
			ready = false
		}
		for _, cs := range append(p.Status.ContainerStatuses, p.Status.InitContainerStatuses...) {
			if !cs.Ready || cs.State.Running == nil {
				ready = false
			}
		}
	}
	return pods, ready && len(pods) == 3, nil
}

func (b *bench) waitElection(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// measureElection runs the election part: b.opts.failovers forced failovers, alternating kill -9
// and SIGSTOP of the leader's app, with the writers and the samplers running throughout.
func (b *bench) measureElection(ctx context.Context) error {
	begin := time.Now()
	v, err := b.podd.client.Version(ctx)
	if err != nil {
		return err
	}
	path, err := b.writeManifest("elbench-store", storeManifest(api.PatternsImageRepository+":"+v.Version))
	if err != nil {
		return err
	}
	if out, err := b.podd.podctl(ctx, "apply", "-f", path); err != nil {
		return fmt.Errorf("podctl apply the fenced store: %w: %s", err, out)
	}
	var storeIP string
	if err := b.waitElection(ctx, "the fenced store Running", time.Minute, func() (bool, error) {
		p, err := b.podd.client.GetPod(ctx, "default", "elbench-store")
		if err != nil {
			return false, nil
		}
		storeIP = p.Status.PodIP
		return p.Status.Phase == pod.PodRunning && storeIP != "", nil
	}); err != nil {
		return err
	}
	if path, err = b.writeManifest("elbench", electionManifest(storeIP)); err != nil {
		return err
	}
	if out, err := b.podd.podctl(ctx, "apply", "-f", path); err != nil {
		return fmt.Errorf("podctl apply the replicas: %w: %s", err, out)
	}
	defer func() {
		// Leave nothing behind for the later parts.
		for _, args := range [][]string{{"delete", "deployment", "elbench"}, {"rm", "--force", "elbench-store"}} {
			if out, err := b.podd.podctl(context.Background(), args...); err != nil {
				fmt.Fprintf(os.Stderr, "podbench: podctl %v: %v: %s\n", args, err, out)
			}
		}
		// Until they are gone: the density part counts the shims and memory that remain.
		err := b.waitElection(context.Background(), "the election's pods gone", time.Minute, func() (bool, error) {
			list, err := b.podd.client.ListPods(context.Background(), "default")
			if err != nil {
				return false, err
			}
			for _, p := range list {
				if p.Metadata.Labels["app"] == "elbench" || p.Metadata.Name == "elbench-store" {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "podbench:", err)
		}
	}()
	var pods []*pod.Pod
	if err := b.waitElection(ctx, "3 replicas ready", 2*time.Minute, func() (ok bool, err error) {
		pods, ok, err = b.electionPods(ctx)
		return ok, err
	}); err != nil {
		return err
	}
	var names []string
	w := newElectorWatch()
	sw := &storeWatch{}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range pods {
		names = append(names, p.Metadata.Name)
		wg.Add(1)
		go func() { defer wg.Done(); w.poll(pctx, p.Metadata.Name, p.Status.PodIP) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); sw.poll(pctx, storeIP) }()
	defer func() { cancel(); wg.Wait() }()

	var kills, stops []time.Duration
	for i := range b.opts.failovers {
		// Before each fault: every replica ready (the last faulted one back), one leader.
		var leader electorSample
		if err := b.waitElection(ctx, "3 ready replicas and one leader", time.Minute, func() (bool, error) {
			var ok bool
			if pods, ok, err = b.electionPods(ctx); err != nil || !ok {
				return false, err
			}
			leader, ok = w.leader(names)
			return ok, nil
		}); err != nil {
			return err
		}
		var lp *pod.Pod
		for _, p := range pods {
			if p.Metadata.Name == leader.pod {
				lp = p
			}
		}
		procs, err := b.podd.cgroupProcsFile(lp, "app")
		if err != nil {
			return err
		}
		found := w.expect(leader.pod, leader.st.Token)
		kill := i%2 == 0
		sig, what := syscall.SIGKILL, "kill -9"
		if !kill {
			sig, what = syscall.SIGSTOP, "SIGSTOP"
		}
		fault := time.Now()
		if n, err := signalContainer(procs, sig); err != nil || n == 0 {
			return fmt.Errorf("%s of %s's app: %d processes signalled (%v)", what, leader.pod, n, err)
		}
		var next electorSample
		select {
		case next = <-found:
		case <-time.After(30 * time.Second):
			if !kill {
				signalContainer(procs, syscall.SIGCONT)
			}
			return fmt.Errorf("failover %d (%s of %s's app, token %d): no other elector led within 30 s", i+1, what, leader.pod, leader.st.Token)
		case <-ctx.Done():
			return ctx.Err()
		}
		d := next.recv.Sub(fault)
		if kill {
			kills = append(kills, d)
		} else {
			// A pause longer than the ttl, and until another leads and has written (its app
			// writes about every 20 ms): a write the paused app had begun then carries a
			// stale token, which the store must refuse.
			time.Sleep(max(time.Until(fault.Add(electionTTL+200*time.Millisecond)), time.Until(next.recv.Add(300*time.Millisecond))))
			if _, err := signalContainer(procs, syscall.SIGCONT); err != nil {
				return err
			}
			stops = append(stops, d)
		}
		fmt.Fprintf(os.Stderr, "podbench: failover %2d/%d  %-7s %s (token %d) -> %s (token %d)  %7.1f ms\n",
			i+1, b.opts.failovers, what, leader.pod, leader.st.Token, next.pod, next.st.Token, float64(d)/float64(time.Millisecond))
	}
	// The writers' last writes, then the figures.
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	accepted, rejected, err := storeMetrics(ctx, storeIP)
	if err != nil {
		return err
	}
	r := &b.res
	r.LeaderFailoverLocal = ptr(percentile(kills, 50))
	r.LeaderFailoverSigstop = ptr(percentile(stops, 50))
	r.LeaderFailoverLocalMax = ptr(percentile(kills, 100))
	r.LeaderFailoverSigstopMax = ptr(percentile(stops, 100))
	r.LeaderFailoverKills, r.LeaderFailoverStops = len(kills), len(stops)
	r.LeaderFailovers = ptr(len(kills) + len(stops))
	r.LeaderStaleWritesAccepted = ptr(sw.decreases)
	r.LeaderStaleWriteAttempts = ptr(int(rejected))
	r.LeaderWritesAccepted = int(accepted)
	r.LeaderDualLeaderSamples = ptr(w.dual)
	r.LeaderElectorSamples = w.samples
	r.LeaderElectorPollMs = float64(electionPoll) / float64(time.Millisecond)
	r.LeaderElectorRTTp50 = percentile(w.rtt, 50)
	r.LeaderElectorRTTp99 = percentile(w.rtt, 99)
	r.LeaderElectionSeconds = time.Since(begin).Seconds()
	for _, s := range w.dualSeen {
		fmt.Fprintf(os.Stderr, "podbench: dual leaders: %s\n", s)
	}
	fmt.Fprintf(os.Stderr, "podbench: election: %d elector answers (%d failed requests), %d store reads, %d writes accepted, %d refused, %.0f s\n",
		w.samples, w.errors, sw.reads, int(accepted), int(rejected), r.LeaderElectionSeconds)
	return nil
}

func ptr[T any](v T) *T { return &v }
