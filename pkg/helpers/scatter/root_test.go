package scatter

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"
)

// testLeaf is a leaf on the loopback: it answers {"leaf": name, "n": n}, after delay, or fails;
// it records the headers it got and whether its requests' contexts ended before it answered
// (the root cancelled them).
type testLeaf struct {
	name      string
	n         int
	srv       *httptest.Server
	delay     atomic.Int64 // ns
	fail      atomic.Bool
	requests  atomic.Int32
	hedged    atomic.Int32
	cancelled atomic.Int32
	mu        sync.Mutex
	timeouts  []string
	shards    []string
}

func newTestLeaf(t *testing.T, name string, n int) *testLeaf {
	l := &testLeaf{name: name, n: n}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		if r.Header.Get(HedgeHeader) == "1" {
			l.hedged.Add(1)
		}
		l.mu.Lock()
		l.timeouts = append(l.timeouts, r.Header.Get(TimeoutHeader))
		l.shards = append(l.shards, r.Header.Get(ShardHeader))
		l.mu.Unlock()
		// The body first: Go's server watches the connection (and ends the request's context
		// when it closes) only once the body has been read.
		body, _ := io.ReadAll(r.Body)
		// The delay is read again every millisecond: a test may release a waiting request.
		for start := time.Now(); time.Since(start) < time.Duration(l.delay.Load()); {
			select {
			case <-time.After(time.Millisecond):
			case <-r.Context().Done():
				l.cancelled.Add(1)
				return
			}
		}
		if l.fail.Load() {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"leaf":%q,"n":%d,"q":%q,"body":%q}`, l.name, l.n, r.URL.Query().Get("q"), body)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *testLeaf) addr() string { return strings.TrimPrefix(l.srv.URL, "http://") }

// testMerge sums the leaves' n and lists the missing shards, as a developer's merge would.
func testMerge(t *testing.T, got chan<- MergeInput) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in MergeInput
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if got != nil {
			got <- in
		}
		sum := 0
		for _, a := range in.Answers {
			var v struct{ N int }
			_ = json.Unmarshal(a.JSON, &v)
			sum += v.N
		}
		fmt.Fprintf(w, `{"sum":%d,"answers":%d,"missing":%d}`, sum, len(in.Answers), len(in.Missing))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/merge"
}

func newTestRoot(t *testing.T, cfg Config, items []string) (*Root, *httptest.Server) {
	t.Helper()
	var err error
	if cfg.Mode == "" {
		cfg.Mode = Broadcast
	}
	if cfg.Entries, err = ParseEntries(items, cfg.Mode); err != nil {
		t.Fatal(err)
	}
	if cfg.Deadline == 0 {
		cfg.Deadline = 10 * time.Second
	}
	if cfg.MergeTimeout == 0 {
		cfg.MergeTimeout = 10 * time.Second
	}
	if cfg.Quorum == (Quorum{}) {
		cfg.Quorum = Quorum{Fraction: 1}
	}
	if cfg.Window == 0 {
		cfg.Window = 1000
	}
	if cfg.HedgePolicy.Percentile == 0 {
		cfg.HedgePolicy.Percentile = 95
		cfg.HedgePolicy.MinSamples = minSamples
	}
	cfg.MaxBody = 1 << 20
	// Names never go to the host's resolvers: only address literals and the fake table.
	root := NewRoot(cfg, fakeDNS(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	return root, srv
}

type rootAnswer struct {
	status   int
	header   http.Header
	body     map[string]any
	rawBody  string
	duration time.Duration
}

func ask(t *testing.T, url string, header map[string]string) rootAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/search?q=cats", strings.NewReader("payload"))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := rootAnswer{status: resp.StatusCode, header: resp.Header, rawBody: string(data), duration: time.Since(start)}
	_ = json.Unmarshal(data, &a.body)
	return a
}

func leavesOf(ls []*testLeaf) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.addr())
	}
	return out
}

func startLeaves(t *testing.T, n int) []*testLeaf {
	var ls []*testLeaf
	for i := range n {
		ls = append(ls, newTestLeaf(t, "leaf"+strconv.Itoa(i), i+1))
	}
	return ls
}

// TestRootMergesAll: every leaf answers; the merge gets every answer with the request's path,
// query and body passed through, and the deadline header reaches every leaf.
func TestRootMergesAll(t *testing.T) {
	leaves := startLeaves(t, 10)
	inputs := make(chan MergeInput, 1)
	_, root := newTestRoot(t, Config{Merge: testMerge(t, inputs)}, leavesOf(leaves))
	a := ask(t, root.URL, nil)
	if a.status != 200 || a.body["sum"] != float64(55) || a.body["answers"] != float64(10) {
		t.Fatalf("answer %d %s", a.status, a.rawBody)
	}
	if a.header.Get(PartialHeader) != "false" || a.header.Get(AnsweredHeader) != "10/10" || a.header.Get(MissingHeader) != "" {
		t.Errorf("headers %v", a.header)
	}
	in := <-inputs
	if in.Shards != 10 || len(in.Missing) != 0 || in.Partial || in.Request.Path != "/search" || in.Request.Query != "q=cats" || in.Request.Method != "POST" {
		t.Errorf("merge input %+v", in)
	}
	for _, ans := range in.Answers {
		var v struct{ Q, Body string }
		if err := json.Unmarshal(ans.JSON, &v); err != nil || v.Q != "cats" || v.Body != "payload" {
			t.Errorf("answer %s: %s %v", ans.Leaf, ans.JSON, err)
		}
	}
	for _, l := range leaves {
		l.mu.Lock()
		ms, err := strconv.Atoi(l.timeouts[0])
		l.mu.Unlock()
		if err != nil || ms <= 0 || ms > 10000 {
			t.Errorf("%s: %s %q", l.name, TimeoutHeader, l.timeouts[0])
		}
	}
}

// TestRootPartialAndFailed: one leaf failing gives a partial result naming it (with
// --min-responses 9); two failing is below the quorum, and the request fails without a merge.
func TestRootPartialAndFailed(t *testing.T) {
	leaves := startLeaves(t, 10)
	inputs := make(chan MergeInput, 4)
	r, root := newTestRoot(t, Config{Merge: testMerge(t, inputs), Quorum: Quorum{Count: 9}}, leavesOf(leaves))
	leaves[3].fail.Store(true)
	a := ask(t, root.URL, nil)
	if a.status != 200 || a.body["sum"] != float64(55-4) || a.header.Get(PartialHeader) != "true" || a.header.Get(MissingHeader) != leaves[3].addr() {
		t.Fatalf("one failing: %d %v %s", a.status, a.header, a.rawBody)
	}
	in := <-inputs
	if !in.Partial || len(in.Missing) != 1 || in.Missing[0].Shard != leaves[3].addr() || in.Missing[0].Reason != LeafError || in.Missing[0].Status != 500 {
		t.Errorf("merge input's missing: %+v", in.Missing)
	}
	leaves[7].fail.Store(true)
	a = ask(t, root.URL, nil)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.rawBody, "8 of 10 shards answered, below --min-responses 9") {
		t.Fatalf("two failing: %d %s", a.status, a.rawBody)
	}
	missing := strings.Split(a.header.Get(MissingHeader), ",")
	slices.Sort(missing)
	want := []string{leaves[3].addr(), leaves[7].addr()}
	slices.Sort(want)
	if !slices.Equal(missing, want) {
		t.Errorf("missing %v, want %v", missing, want)
	}
	select {
	case in := <-inputs:
		t.Errorf("the merge was called under the quorum: %+v", in)
	default:
	}
	metrics := scrape(t, r)
	for _, want := range []string{`scatter_requests_total{outcome="partial"} 1`, `scatter_requests_total{outcome="failed"} 1`,
		`scatter_missing_shards_total{reason="failed",shard="` + leaves[3].addr() + `"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
}

func scrape(t *testing.T, r *Root) string {
	rec := httptest.NewRecorder()
	r.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestRootDeadlineCancelsStraggler: a leaf slower than the deadline is cut off — it sees its
// request's context end — and flagged timeout; the client's answer comes at the deadline, not
// the straggler's time.
func TestRootDeadlineCancelsStraggler(t *testing.T) {
	leaves := startLeaves(t, 3)
	leaves[1].delay.Store(int64(time.Hour))
	_, root := newTestRoot(t, Config{Merge: testMerge(t, nil), Quorum: Quorum{Count: 2}, Deadline: 2 * time.Second}, leavesOf(leaves))
	a := ask(t, root.URL, nil)
	if a.status != 200 || a.header.Get(MissingHeader) != leaves[1].addr() || a.body["sum"] != float64(4) {
		t.Fatalf("answer %d %v %s", a.status, a.header, a.rawBody)
	}
	waitUntil(t, "the straggler sees its request cancelled", func() bool { return leaves[1].cancelled.Load() == 1 })
	// The caller's shorter deadline wins (a root under a parent root).
	a = ask(t, root.URL, map[string]string{TimeoutHeader: "800"})
	if a.status != 200 || a.header.Get(MissingHeader) != leaves[1].addr() {
		t.Fatalf("with a caller's deadline: %d %s", a.status, a.rawBody)
	}
	leaves[0].mu.Lock()
	last := leaves[0].timeouts[len(leaves[0].timeouts)-1]
	leaves[0].mu.Unlock()
	if ms, _ := strconv.Atoi(last); ms < 1 || ms > 800 {
		t.Errorf("the leaf got %s %s under a caller's 800", TimeoutHeader, last)
	}
}

// TestRootStopAtMin: with --stop-at-min the root answers once the quorum has, and the others
// are cancelled (the leaf sees it) and flagged so.
func TestRootStopAtMin(t *testing.T) {
	leaves := startLeaves(t, 4)
	// The others answer only once the slow leaf has its request: it must see it cancelled,
	// not never get it.
	for _, l := range leaves {
		l.delay.Store(int64(time.Hour))
	}
	go func() {
		for leaves[2].requests.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		for i, l := range leaves {
			if i != 2 {
				l.delay.Store(0)
			}
		}
	}()
	inputs := make(chan MergeInput, 1)
	_, root := newTestRoot(t, Config{Merge: testMerge(t, inputs), Quorum: Quorum{Count: 3}, StopAtQuorum: true}, leavesOf(leaves))
	a := ask(t, root.URL, nil)
	if a.status != 200 || a.header.Get(PartialHeader) != "true" {
		t.Fatalf("answer %d %s", a.status, a.rawBody)
	}
	in := <-inputs
	if len(in.Missing) != 1 || in.Missing[0].Reason != Cancelled || in.Missing[0].Shard != leaves[2].addr() {
		t.Errorf("missing %+v", in.Missing)
	}
	waitUntil(t, "the cancelled leaf sees it", func() bool { return leaves[2].cancelled.Load() == 1 })
}

// TestRootHedges: partitioned, two replicas per shard; one replica of shard 0 hangs. With a
// fixed hedge delay the hedge goes to the other replica, answers, and the hung request is
// cancelled; the hedges stay within the budget.
func TestRootHedges(t *testing.T) {
	var items []string
	var hung []*testLeaf
	for s := range 4 {
		a, b := newTestLeaf(t, fmt.Sprintf("s%da", s), 1), newTestLeaf(t, fmt.Sprintf("s%db", s), 1)
		if s == 0 {
			a.delay.Store(int64(time.Hour))
			b.delay.Store(int64(time.Hour))
			hung = []*testLeaf{a, b}
		}
		items = append(items, a.addr()+"|"+b.addr())
	}
	cfg := Config{Mode: Partitioned, Merge: testMerge(t, nil), Hedge: true, HedgeBudget: 1,
		HedgePolicy: HedgePolicy{Fixed: 20 * time.Millisecond}}
	r, root := newTestRoot(t, cfg, items)
	// Shard 0: whichever replica the primary picked hangs; free the other one only once it has
	// been hedged to, so the answer can only come from the hedge.
	go func() {
		for {
			for _, l := range hung {
				if l.hedged.Load() > 0 {
					l.delay.Store(0)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// The budget starts empty: earn a token with a first request's primaries (ratio 1).
	r.budget.Earn()
	a := ask(t, root.URL, nil)
	if a.status != 200 || a.body["answers"] != float64(4) {
		t.Fatalf("answer %d %s", a.status, a.rawBody)
	}
	waitUntil(t, "the hung primary sees its cancellation", func() bool { return hung[0].cancelled.Load()+hung[1].cancelled.Load() == 1 })
	if !strings.Contains(scrape(t, r), `scatter_leaf_requests_total{kind="hedge"}`) {
		t.Error("no hedge in the metrics")
	}
}

// TestRootHedgeBudget: with the budget at 0 no hedge is ever sent, however slow the leaves.
func TestRootHedgeBudget(t *testing.T) {
	a, b := newTestLeaf(t, "a", 1), newTestLeaf(t, "b", 1)
	a.delay.Store(int64(200 * time.Millisecond))
	b.delay.Store(int64(200 * time.Millisecond))
	r, root := newTestRoot(t, Config{Mode: Partitioned, Hedge: true, HedgeBudget: 0, Merge: "",
		HedgePolicy: HedgePolicy{Fixed: time.Millisecond}}, []string{a.addr() + "|" + b.addr()})
	for range 5 {
		if ans := ask(t, root.URL, nil); ans.status != 200 {
			t.Fatalf("%d %s", ans.status, ans.rawBody)
		}
	}
	if n := a.hedged.Load() + b.hedged.Load(); n != 0 {
		t.Errorf("%d hedges with no budget", n)
	}
	if !strings.Contains(scrape(t, r), "scatter_hedges_denied_total 5") {
		t.Error("the denied hedges are not counted")
	}
}

// TestRootNoMergeAndNoLeaves: without --merge the client gets the merge input itself (a root
// that is another root's leaf); with no leaf at all the request fails, saying so.
func TestRootNoMergeAndNoLeaves(t *testing.T) {
	leaves := startLeaves(t, 2)
	_, root := newTestRoot(t, Config{}, leavesOf(leaves))
	a := ask(t, root.URL, nil)
	if a.status != 200 || a.body["shards"] != float64(2) || len(a.body["answers"].([]any)) != 2 {
		t.Fatalf("%d %s", a.status, a.rawBody)
	}
	_, empty := newTestRoot(t, Config{}, []string{"no-such-leaf:80"})
	a = ask(t, empty.URL, nil)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.rawBody, "no leaves") {
		t.Fatalf("no leaves: %d %s", a.status, a.rawBody)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	hosttest.WaitFor(t, what, 30*time.Second, cond)
}

// TestRootRetriesAnotherReplica: partitioned, a shard of two replicas of which one fails; a
// request whose primary went to the failing one is retried once on the other (budget allowing),
// so every request is answered. With no budget, the failure stands.
func TestRootRetriesAnotherReplica(t *testing.T) {
	bad, good := newTestLeaf(t, "bad", 1), newTestLeaf(t, "good", 1)
	bad.fail.Store(true)
	r, root := newTestRoot(t, Config{Mode: Partitioned, HedgeBudget: 1}, []string{bad.addr() + "|" + good.addr()})
	for range 20 {
		if a := ask(t, root.URL, nil); a.status != 200 || a.header.Get(PartialHeader) != "false" {
			t.Fatalf("%d %v %s", a.status, a.header, a.rawBody)
		}
	}
	if bad.requests.Load() == 0 {
		t.Fatal("no primary went to the failing replica in 20 requests")
	}
	if !strings.Contains(scrape(t, r), `scatter_leaf_requests_total{kind="retry"} `+strconv.Itoa(int(bad.requests.Load()))) {
		t.Errorf("retries in the metrics differ from the failing replica's %d requests:\n%s", bad.requests.Load(), scrape(t, r))
	}

	_, strict := newTestRoot(t, Config{Mode: Partitioned, HedgeBudget: 0}, []string{bad.addr() + "|" + good.addr()})
	failed := 0
	for range 20 {
		if a := ask(t, strict.URL, nil); a.status == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed == 0 {
		t.Error("with no budget, no request failed on the failing replica in 20")
	}
}
