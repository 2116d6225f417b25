package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/pod"
)

// sgAnswer is the root's answer as the test's merge (internal/testprogs/sgleaf -merge) writes it.
type sgAnswer struct {
	status  int
	header  http.Header
	body    string
	Pods    []string `json:"pods"`
	Sum     int      `json:"sum"`
	Missing []string `json:"missing"`
}

var sgClient = &http.Client{Timeout: 60 * time.Second}

// askRoot sends one client request to the root.
func askRoot(t *testing.T, root string) sgAnswer {
	t.Helper()
	resp, err := sgClient.Get("http://" + root + "/search?q=podd")
	if err != nil {
		t.Fatalf("ask the root: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := sgAnswer{status: resp.StatusCode, header: resp.Header, body: string(data)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatalf("the merge's answer %q: %v", data, err)
		}
	}
	return a
}

// readyLeaves lists the Ready pods labelled app=label: name → IP.
func readyLeaves(t *testing.T, p *Podd, label string) map[string]string {
	t.Helper()
	var list struct{ Items []*pod.Pod }
	res := mustPodctl(t, p, "get", "po", "-l", "app="+label, "-o", "json")
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
	out := map[string]string{}
	for _, q := range list.Items {
		for _, c := range q.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" && q.Status.PodIP != "" && q.Metadata.DeletionTimestamp == nil {
				out[q.Metadata.Name] = q.Status.PodIP
			}
		}
	}
	return out
}

func waitReadyLeaves(t *testing.T, p *Podd, label string, n int) map[string]string {
	t.Helper()
	var got map[string]string
	waitFor(t, fmt.Sprintf("%d ready leaves", n), func() bool {
		got = readyLeaves(t, p, label)
		return len(got) == n
	})
	return got
}

// control sets a leaf's injected delay (ms) and failure through its /_control.
func control(t *testing.T, ip string, delayMs int, fail bool) {
	t.Helper()
	f := "0"
	if fail {
		f = "1"
	}
	resp, err := sgClient.Post(fmt.Sprintf("http://%s:8080/_control?delay=%d&fail=%s", ip, delayMs, f), "text/plain", nil)
	if err != nil {
		t.Fatalf("control leaf %s: %v", ip, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("control leaf %s: %s", ip, resp.Status)
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestScatterGather: a root pod with the scatter-gather helper injected (broadcast over the
// Service "leaves", --min-responses 8, deadline 5 s: generous, a healthy leaf on a busy machine
// must not miss it) and the test's merge as its container; the
// leaves a Deployment of small Go programs. In order: 5 leaves, all merged; scaled to 10, the
// next request after the 10 are Ready uses all 10 (no restart of the root); one leaf failing:
// a partial result naming it; three failing: the request fails, below minResponses; one leaf
// slower than the deadline: partial, it is flagged timeout, and the leaf itself saw its request
// cancelled (the root closed the connection).
func TestScatterGather(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := uniqueName(t)
	img := "localhost/podd-test/sgleaf:1"
	spec, err := ociimage.Busybox(img, ociimage.WithFile(goBuildStatic(t, "./internal/testprogs/sgleaf"), "/bin/sgleaf", 0o755))
	if err != nil {
		t.Fatal(err)
	}
	mustPodctl(t, p, "image", "import", buildImage(t, spec))

	leaves, svc := name+"-leaf", name+"-leaves"
	applyManifest(t, p, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: 5
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: leaf
        image: %[3]s
        command: [/bin/sgleaf, -listen, ":8080"]
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s}
spec:
  selector: {app: %[1]s}
  ports:
  - {name: http, port: 8080}
---
apiVersion: v1
kind: Pod
metadata:
  name: %[4]s
  annotations:
    podd.io/inject: scatter-gather
    scatter-gather.podd.io/mode: broadcast
    scatter-gather.podd.io/leaves: "%[2]s:8080"
    scatter-gather.podd.io/merge: "http://127.0.0.1:8090/merge"
    scatter-gather.podd.io/deadline: 5s
    scatter-gather.podd.io/min-responses: "8"
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: merge
    image: %[3]s
    command: [/bin/sgleaf, -merge, -listen, "127.0.0.1:8090"]
`, leaves, svc, img, name))
	rootPod := waitPod(t, p, name, "running with an IP and the podd-scatter-gather sidecar", func(q *pod.Pod) bool {
		return q.Status.Phase == pod.PodRunning && q.Status.PodIP != "" && sidecarRunning(q, "podd-scatter-gather")
	})
	root := rootPod.Status.PodIP + ":9480"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the root's log:\n%s", podLogs(t, p, name, "podd-scatter-gather"))
		}
	})

	// 5 leaves: below minResponses 8, so the request fails, saying how many answered.
	five := waitReadyLeaves(t, p, leaves, 5)
	a := askRoot(t, root)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "5 of 5 shards answered, below --min-responses 8") {
		t.Fatalf("5 leaves, minResponses 8: %d %s", a.status, a.body)
	}
	if a.header.Get("X-Podd-Answered") != "5/5" {
		t.Errorf("X-Podd-Answered %q, want 5/5", a.header.Get("X-Podd-Answered"))
	}

	// Scale-up to 10: the first request after the ten are Ready (as the API shows) uses them all.
	mustPodctl(t, p, "scale", "deploy/"+leaves, "--replicas", "10")
	ten := waitReadyLeaves(t, p, leaves, 10)
	for n := range five {
		if _, ok := ten[n]; !ok {
			t.Fatalf("leaf %s of the five is gone after the scale-up", n)
		}
	}
	a = askRoot(t, root)
	if a.status != 200 || a.Sum != 10 || !slices.Equal(a.Pods, sortedKeys(ten)) || len(a.Missing) != 0 {
		t.Fatalf("after the scale-up to 10: %d %s, want the 10 pods %v", a.status, a.body, sortedKeys(ten))
	}
	if a.header.Get("X-Podd-Partial") != "false" || a.header.Get("X-Podd-Answered") != "10/10" {
		t.Errorf("headers %v", a.header)
	}

	names := sortedKeys(ten)
	ip := func(i int) string { return ten[names[i]] }
	leafAddr := func(i int) string { return ip(i) + ":8080" }

	// One leaf failing: partial, flagged with the missing leaf, in the headers and the merge input.
	control(t, ip(2), 0, true)
	a = askRoot(t, root)
	if a.status != 200 || a.Sum != 9 || a.header.Get("X-Podd-Partial") != "true" || a.header.Get("X-Podd-Missing") != leafAddr(2) ||
		!slices.Equal(a.Missing, []string{leafAddr(2) + "=failed"}) || slices.Contains(a.Pods, names[2]) {
		t.Fatalf("one leaf failing: %d %v %s", a.status, a.header, a.body)
	}

	// Three failing: 7 < 8, the request fails and the merge is not called.
	control(t, ip(5), 0, true)
	control(t, ip(7), 0, true)
	a = askRoot(t, root)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "7 of 10 shards answered, below --min-responses 8") {
		t.Fatalf("three failing: %d %s", a.status, a.body)
	}
	missing := strings.Split(a.header.Get("X-Podd-Missing"), ",")
	slices.Sort(missing)
	want := []string{leafAddr(2), leafAddr(5), leafAddr(7)}
	slices.Sort(want)
	if !slices.Equal(missing, want) {
		t.Errorf("X-Podd-Missing %v, want %v", missing, want)
	}
	for _, i := range []int{2, 5, 7} {
		control(t, ip(i), 0, false)
	}

	// A straggler (60 s, beyond the 5 s deadline): partial with it flagged timeout; it saw its
	// request cancelled.
	control(t, ip(4), 60000, false)
	a = askRoot(t, root)
	id := a.header.Get("X-Podd-Request-Id")
	if a.status != 200 || a.Sum != 9 || !slices.Equal(a.Missing, []string{leafAddr(4) + "=timeout"}) || id == "" {
		t.Fatalf("a straggler: %d %v %s", a.status, a.header, a.body)
	}
	waitFor(t, "the straggler records its cancelled request "+id, func() bool {
		resp, err := sgClient.Get("http://" + leafAddr(4) + "/_cancelled")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ids []string
		_ = json.NewDecoder(resp.Body).Decode(&ids)
		return slices.Contains(ids, id)
	})
	control(t, ip(4), 0, false)

	// Seen: the trace of the last request in the root's log, the missing leaves in its metrics.
	log := podLogs(t, p, name, "podd-scatter-gather")
	if !strings.Contains(log, `"request":"`+id+`"`) || !strings.Contains(log, `"result":"timeout"`) {
		t.Errorf("no trace of request %s in the root's log:\n%s", id, log)
	}
	resp, err := sgClient.Get("http://" + rootPod.Status.PodIP + ":9481/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`scatter_missing_shards_total{reason="timeout",shard="` + leafAddr(4) + `"} 1`,
		`scatter_missing_shards_total{reason="failed",shard="` + leafAddr(2) + `"} 2`,
		`scatter_requests_total{outcome="failed"} 2`, `scatter_requests_total{outcome="partial"} 2`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("the root's metrics lack %s", want)
		}
	}
}

// TestScatterGatherExample runs specs/patterns/scatter-gather.yaml as its comment shows, on a
// podd of its own (the example's names are fixed): the numbers containing 7 among 1–100 are 19,
// from both shards; with shard numbers-1 scaled to 0 the answer is partial (5, from numbers-0),
// flagged with the missing shard.
func TestScatterGatherExample(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	m := specManifest(t, "patterns", "scatter-gather.yaml")
	if !strings.Contains(m, "podd.io/inject: scatter-gather") {
		t.Fatal("the example does not ask for scatter-gather by podd.io/inject")
	}
	applyManifest(t, p, m)
	waitReadyLeaves(t, p, "numbers", 4)
	search := waitReadyLeaves(t, p, "search", 1)
	var rootIP string
	for _, ip := range search {
		rootIP = ip
	}
	get := func() (int, http.Header, string) {
		resp, err := sgClient.Get("http://" + rootIP + ":9480/cgi-bin/leaf?q=7")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
	}
	status, header, body := get()
	if status != 200 || body != `{"q":"7","matches":19,"partial":false}` || header.Get("X-Podd-Answered") != "2/2" {
		t.Fatalf("the example's search: %d %v %s", status, header, body)
	}
	// podctl reads each root's leaves from its admin address.
	if res := mustPodctl(t, p, "get", "fanouts"); !regexp.MustCompile(`(?m)^search\s+Deployment\s+1\s+2\s`).MatchString(res.Stdout) {
		t.Errorf("get fanouts:\n%s", res.Stdout)
	}
	desc := mustPodctl(t, p, "describe", "fanout", "search").Stdout
	for _, want := range []string{"Roots:", "Deployment search, 1 pod(s)", "numbers-0:8080", "numbers-1:8080", "answered=1"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe fanout search lacks %q:\n%s", want, desc)
		}
	}
	if res := p.Podctl(t, "describe", "fanout", "nope"); res.ExitCode == 0 || !strings.Contains(res.Stderr, `no scatter/gather root named "nope"`) {
		t.Errorf("describe fanout nope:\n%s", res)
	}
	mustPodctl(t, p, "scale", "deployment", "numbers-1", "--replicas", "0")
	waitFor(t, "numbers-1 without ready pods", func() bool {
		for n := range readyLeaves(t, p, "numbers") {
			if strings.HasPrefix(n, "numbers-1-") {
				return false
			}
		}
		return true
	})
	status, header, body = get()
	if status != 200 || body != `{"q":"7","matches":5,"partial":true}` || header.Get("X-Podd-Missing") != "numbers-1:8080" {
		t.Fatalf("the example with shard 1 at 0 replicas: %d %v %s", status, header, body)
	}
}
