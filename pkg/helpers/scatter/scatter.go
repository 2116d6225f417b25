// Package scatter is the root of the scatter/gather pattern (`podd-patterns scatter-gather`): it
// takes a client's request, finds the leaves for that request (the ready pods behind Services,
// through the cluster DNS), sends the request to every shard concurrently with the deadline in a
// header, hedges a slow shard's request to another replica after a delay learned from recent
// latencies (within a budget of extra requests), cancels what is left when the deadline passes,
// and posts the answers — with which shards answered, failed or timed out — to the developer's
// merge endpoint, whose answer goes back to the client. Below --min-responses the request fails;
// above it and below all, the result is flagged partial. See specs/patterns/scatter-gather.md.
package scatter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The headers of the contract (specs/patterns/scatter-gather.md).
const (
	// TimeoutHeader: milliseconds left until the request's deadline, sent to every leaf and
	// honoured when a client (a parent root) sends it.
	TimeoutHeader  = "X-Podd-Timeout-Ms"
	ShardHeader    = "X-Podd-Shard"
	HedgeHeader    = "X-Podd-Hedge"
	RequestHeader  = "X-Podd-Request-Id"
	PartialHeader  = "X-Podd-Partial"
	MissingHeader  = "X-Podd-Missing"
	AnsweredHeader = "X-Podd-Answered"
)

// Config is the root's settings (command.go fills it from the flags).
type Config struct {
	Mode         Mode
	Entries      []Entry
	Merge        string // URL; "" returns the merge input itself
	Deadline     time.Duration
	LeafTimeout  time.Duration
	MergeTimeout time.Duration
	Quorum       Quorum
	StopAtQuorum bool
	Hedge        bool
	HedgePolicy  HedgePolicy
	HedgeBudget  float64 // extra requests per primary, 0.05 = 5 %
	Window       int
	ResolveTTL   time.Duration
	MaxBody      int64
}

// Root serves the clients' requests.
type Root struct {
	cfg     Config
	log     *slog.Logger
	disc    *discoverer
	client  *http.Client
	window  *Window
	budget  *Budget
	metrics *metrics
	leaves  *leafStats
	seq     atomic.Uint64
	now     func() time.Time
}

// NewRoot makes a root; lookup resolves the leaves' names (net.DefaultResolver.LookupHost).
func NewRoot(cfg Config, lookup LookupFunc, log *slog.Logger) *Root {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Root{
		cfg:     cfg,
		log:     log,
		disc:    &discoverer{lookup: lookup, entries: cfg.Entries, mode: cfg.Mode, ttl: cfg.ResolveTTL},
		client:  &http.Client{Transport: tr},
		window:  NewWindow(cfg.Window),
		budget:  &Budget{Ratio: cfg.HedgeBudget, Max: budgetMax},
		metrics: newMetrics(),
		leaves:  newLeafStats(),
		now:     time.Now,
	}
}

// budgetMax: the hedges the budget may save up; a burst of slowness after a calm stretch gets
// at most this many beyond the ratio.
const budgetMax = 10

// Leaf results, as the merge and the metrics see them.
const (
	Answered  = "answered"
	LeafError = "failed"
	TimedOut  = "timeout"
	Cancelled = "cancelled"   // the quorum was reached (--stop-at-min) or the client went away
	NoReplica = "unavailable" // the shard had no ready replica, or its name did not resolve
)

// Answer is one shard's answer, as the merge receives it.
type Answer struct {
	Shard     string          `json:"shard"`
	Leaf      string          `json:"leaf"`
	Status    int             `json:"status"`
	JSON      json.RawMessage `json:"json,omitempty"`
	Bytes     []byte          `json:"bytes,omitempty"` // base64 in JSON; when the body is not JSON
	LatencyMs float64         `json:"latencyMs"`
	Hedged    bool            `json:"hedged"`
}

// Missing is one shard that did not answer.
type Missing struct {
	Shard  string `json:"shard"`
	Leaf   string `json:"leaf,omitempty"` // the last replica tried
	Reason string `json:"reason"`         // failed, timeout, cancelled, unavailable
	Error  string `json:"error,omitempty"`
	Status int    `json:"status,omitempty"`
}

// MergeInput is the body the root posts to the merge endpoint.
type MergeInput struct {
	RequestID string    `json:"requestId"`
	Request   Request   `json:"request"`
	Shards    int       `json:"shards"`
	Answers   []Answer  `json:"answers"`
	Missing   []Missing `json:"missing"`
	Partial   bool      `json:"partial"`
}

// Request is the client's request as the leaves got it.
type Request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
}

// failure is the client's answer when the request fails.
type failure struct {
	RequestID    string    `json:"requestId"`
	Error        string    `json:"error"`
	Shards       int       `json:"shards"`
	Answered     int       `json:"answered"`
	MinResponses int       `json:"minResponses"`
	Missing      []Missing `json:"missing,omitempty"`
}

// attempt is one request to one replica.
type attempt struct {
	leaf    string
	hedged  bool
	retry   bool
	start   time.Time
	status  int
	body    []byte
	err     error
	latency time.Duration
}

// shardResult is one shard's outcome, with its attempts for the trace.
type shardResult struct {
	shard    Shard
	answer   *attempt
	reason   string
	err      string
	status   int
	lastLeaf string
	attempts []traceAttempt
}

type traceAttempt struct {
	Leaf      string  `json:"leaf"`
	Hedged    bool    `json:"hedged,omitempty"`
	Retry     bool    `json:"retry,omitempty"`
	LatencyMs float64 `json:"ms"`
	Result    string  `json:"result"`
}

// ServeHTTP is the fan-out of one client request.
func (r *Root) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	arrival := r.now()
	id := req.Header.Get(RequestHeader)
	if id == "" {
		id = strconv.FormatUint(r.seq.Add(1), 10) + "-" + strconv.FormatInt(arrival.UnixNano()%1e9, 36)
	}
	deadline, err := RequestDeadline(arrival, r.cfg.Deadline, req.Header.Get(TimeoutHeader))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, r.cfg.MaxBody+1))
	if err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(body)) > r.cfg.MaxBody {
		http.Error(w, fmt.Sprintf("the request's body is over --max-body-bytes (%d)", r.cfg.MaxBody), http.StatusRequestEntityTooLarge)
		return
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	defer cancel()
	shards := r.disc.shardsFor(ctx, arrival)

	results := r.fanOut(ctx, cancel, shards, req, body, id, deadline)

	in := MergeInput{RequestID: id, Request: Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery}, Shards: len(shards),
		Answers: []Answer{}, Missing: []Missing{}}
	for _, sr := range results {
		if sr.answer != nil {
			a := Answer{Shard: sr.shard.Name, Leaf: sr.answer.leaf, Status: sr.answer.status, LatencyMs: ms(sr.answer.latency), Hedged: sr.answer.hedged}
			if json.Valid(sr.answer.body) {
				a.JSON = sr.answer.body
			} else {
				a.Bytes = sr.answer.body
			}
			in.Answers = append(in.Answers, a)
			continue
		}
		in.Missing = append(in.Missing, Missing{Shard: sr.shard.Name, Leaf: sr.lastLeaf, Reason: sr.reason, Error: sr.err, Status: sr.status})
	}
	outcome := Decide(len(in.Answers), len(shards), r.cfg.Quorum)
	in.Partial = outcome == Partial
	r.observe(results, outcome, arrival)
	r.trace(id, outcome, results, arrival)

	h := w.Header()
	h.Set(RequestHeader, id)
	h.Set(AnsweredHeader, fmt.Sprintf("%d/%d", len(in.Answers), len(shards)))
	h.Set(PartialHeader, strconv.FormatBool(outcome != Complete))
	if len(in.Missing) > 0 {
		names := make([]string, len(in.Missing))
		for i, m := range in.Missing {
			names[i] = m.Shard
		}
		h.Set(MissingHeader, strings.Join(names, ","))
	}
	if outcome == Failed {
		f := failure{RequestID: id, Shards: len(shards), Answered: len(in.Answers), MinResponses: r.cfg.Quorum.Need(len(shards)), Missing: in.Missing}
		if len(shards) == 0 {
			f.Error = "no leaves: no --leaves name resolved to a ready address"
		} else {
			f.Error = fmt.Sprintf("%d of %d shards answered, below --min-responses %s (%d needed)", f.Answered, f.Shards, r.cfg.Quorum, f.MinResponses)
		}
		writeJSON(w, http.StatusServiceUnavailable, f)
		return
	}
	if r.cfg.Merge == "" {
		writeJSON(w, http.StatusOK, in)
		return
	}
	r.merge(req.Context(), w, in, id)
}

// fanOut runs every shard and returns their results in the shards' order.
func (r *Root) fanOut(ctx context.Context, cancel context.CancelFunc, shards []Shard, req *http.Request, body []byte, id string, deadline time.Time) []shardResult {
	out := make([]shardResult, len(shards))
	need := r.cfg.Quorum.Need(len(shards))
	var answered atomic.Int64
	// Shards that have any replica: the ones a hedge decision compares with.
	live := 0
	for _, sh := range shards {
		if sh.Err == nil && len(sh.Replicas) > 0 {
			live++
		}
	}
	prog := &progress{others: live - 1, answered: &answered}
	var wg sync.WaitGroup
	for i, sh := range shards {
		if sh.Err != nil || len(sh.Replicas) == 0 {
			out[i] = shardResult{shard: sh, reason: NoReplica, err: "no ready replica"}
			if sh.Err != nil {
				out[i].err = sh.Err.Error()
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.runShard(ctx, sh, req, body, id, deadline, prog)
			if out[i].answer != nil && int(answered.Add(1)) >= need && r.cfg.StopAtQuorum {
				cancel()
			}
		}()
	}
	wg.Wait()
	return out
}

// runShard gets one answer for a shard: the primary request to a random replica, then (hedging
// on, budget allowing) a second one to another replica once the hedge delay has passed without
// an answer. The first answer wins; the other attempt's request is cancelled (its connection
// closed, which the leaf sees as its request's context ending).
func (r *Root) runShard(ctx context.Context, sh Shard, req *http.Request, body []byte, id string, deadline time.Time, prog *progress) shardResult {
	start := r.now()
	ctx, cancel := context.WithDeadline(ctx, LeafDeadline(start, deadline, r.cfg.LeafTimeout))
	defer cancel()
	res := shardResult{shard: sh}
	done := make(chan *attempt, 3) // the primary, a retry, a hedge
	primary := rand.IntN(len(sh.Replicas))
	tried := make([]bool, len(sh.Replicas))
	launch := func(idx int, hedged, retry bool) {
		tried[idx] = true
		a := &attempt{leaf: sh.Replicas[idx], hedged: hedged, retry: retry, start: r.now()}
		go func() {
			r.call(ctx, a, sh, req, body, id, deadline)
			done <- a
		}()
	}
	r.budget.Earn()
	r.metrics.leafRequests.WithLabelValues("primary").Inc()
	launch(primary, false, false)
	inflight, retried := 1, false
	var hedgeTimer <-chan time.Time
	var timer *time.Timer
	var delay time.Duration
	if r.cfg.Hedge && r.cfg.Mode == Partitioned {
		var ok bool
		if delay, ok = r.cfg.HedgePolicy.Delay(r.window); ok {
			timer = time.NewTimer(delay)
			defer timer.Stop()
			hedgeTimer = timer.C
		}
	}
	record := func(a *attempt, result string) {
		res.attempts = append(res.attempts, traceAttempt{Leaf: a.leaf, Hedged: a.hedged, Retry: a.retry, LatencyMs: ms(a.latency), Result: result})
		r.leaves.add(a.leaf, sh.Name, a.latency, result)
		r.metrics.leafResults.WithLabelValues(result).Inc()
	}
	for {
		select {
		case a := <-done:
			inflight--
			if a.err == nil {
				record(a, Answered)
				r.window.Add(a.latency)
				r.metrics.leafDuration.Observe(a.latency.Seconds())
				res.answer = a
				cancel()
				// The other attempt ends with its cancellation; its trace line says so.
				for ; inflight > 0; inflight-- {
					record(<-done, Cancelled)
				}
				return res
			}
			reason := LeafError
			if ctx.Err() != nil && errors.Is(a.err, context.DeadlineExceeded) {
				reason = TimedOut
			} else if ctx.Err() != nil {
				reason = Cancelled
			}
			record(a, reason)
			res.reason, res.err, res.status, res.lastLeaf = reason, a.err.Error(), a.status, a.leaf
			if inflight > 0 {
				continue
			}
			// A replica that failed (not one that ran out of time): once, another replica of
			// the shard, within the same budget as the hedges.
			if idx, ok := NextUntried(primary, tried); ok && reason == LeafError && !retried && r.cfg.Mode == Partitioned {
				if r.budget.Spend() {
					retried = true
					r.metrics.leafRequests.WithLabelValues("retry").Inc()
					launch(idx, false, true)
					inflight++
					continue
				}
				r.metrics.hedgesDenied.Inc()
			}
			return res
		case <-hedgeTimer:
			if !ShouldHedge(int(prog.answered.Load()), prog.others) {
				// Most shards are late too: look again shortly, while the deadline lasts.
				timer.Reset(RecheckAfter(delay))
				continue
			}
			hedgeTimer = nil
			if !r.budget.Spend() {
				r.metrics.hedgesDenied.Inc()
				continue
			}
			r.metrics.leafRequests.WithLabelValues("hedge").Inc()
			idx, ok := NextUntried(primary, tried)
			if !ok {
				idx = nextReplica(primary, len(sh.Replicas))
			}
			launch(idx, true, false)
			inflight++
		}
	}
}

// progress is a request's count of answered shards, which hedge decisions read.
type progress struct {
	others   int // shards with a replica, besides the deciding one
	answered *atomic.Int64
}

// call sends one attempt and reads its answer; a non-2xx status is a failure of the leaf.
func (r *Root) call(ctx context.Context, a *attempt, sh Shard, in *http.Request, body []byte, id string, deadline time.Time) {
	defer func() { a.latency = r.now().Sub(a.start) }()
	u := "http://" + a.leaf + in.URL.EscapedPath()
	if in.URL.RawQuery != "" {
		u += "?" + in.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, u, bytes.NewReader(body))
	if err != nil {
		a.err = err
		return
	}
	if ct := in.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set(TimeoutHeader, strconv.FormatInt(TimeoutMillis(r.now(), deadline), 10))
	req.Header.Set(ShardHeader, sh.Name)
	req.Header.Set(RequestHeader, id)
	if a.hedged {
		req.Header.Set(HedgeHeader, "1")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		a.err = err
		if ctx.Err() != nil {
			a.err = ctx.Err()
		}
		return
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxBody+1))
	switch {
	case err != nil && ctx.Err() != nil:
		a.err = ctx.Err()
	case err != nil:
		a.err = fmt.Errorf("read the answer: %w", err)
	case int64(len(a.body)) > r.cfg.MaxBody:
		a.err = fmt.Errorf("the answer is over --max-body-bytes (%d)", r.cfg.MaxBody)
	case resp.StatusCode/100 != 2:
		a.err = fmt.Errorf("status %d: %s", resp.StatusCode, snippet(a.body))
	}
}

// merge posts the answers to the merge endpoint and relays its answer.
func (r *Root) merge(ctx context.Context, w http.ResponseWriter, in MergeInput, id string) {
	data, err := json.Marshal(in)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"requestId": id, "error": "encode the merge input: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.MergeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.Merge, bytes.NewReader(data))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"requestId": id, "error": err.Error()})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(RequestHeader, id)
	resp, err := r.client.Do(req)
	if err != nil {
		r.metrics.mergeErrors.Inc()
		writeJSON(w, http.StatusBadGateway, map[string]string{"requestId": id, "error": "merge " + r.cfg.Merge + ": " + err.Error()})
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxBody+1))
	if err != nil || int64(len(out)) > r.cfg.MaxBody {
		r.metrics.mergeErrors.Inc()
		writeJSON(w, http.StatusBadGateway, map[string]string{"requestId": id, "error": fmt.Sprintf("merge %s: the answer could not be read whole (at most --max-body-bytes): %v", r.cfg.Merge, err)})
		return
	}
	if resp.StatusCode/100 != 2 {
		r.metrics.mergeErrors.Inc()
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// trace logs one line per request: every shard, which leaf answered, how long, hedged or not.
func (r *Root) trace(id string, outcome Outcome, results []shardResult, arrival time.Time) {
	if !r.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	type shardTrace struct {
		Shard    string         `json:"shard"`
		Result   string         `json:"result"`
		Attempts []traceAttempt `json:"attempts,omitempty"`
	}
	ts := make([]shardTrace, len(results))
	answered := 0
	for i, sr := range results {
		ts[i] = shardTrace{Shard: sr.shard.Name, Result: sr.reason, Attempts: sr.attempts}
		if sr.answer != nil {
			ts[i].Result = Answered
			answered++
		}
	}
	r.log.Info("fan-out", "request", id, "outcome", string(outcome), "shards", len(results), "answered", answered,
		"ms", ms(r.now().Sub(arrival)), "trace", ts)
}

func (r *Root) observe(results []shardResult, outcome Outcome, arrival time.Time) {
	r.metrics.requests.WithLabelValues(string(outcome)).Inc()
	r.metrics.requestDuration.Observe(r.now().Sub(arrival).Seconds())
	for _, sr := range results {
		if sr.answer == nil {
			r.metrics.missing.WithLabelValues(sr.shard.Name, sr.reason).Inc()
		}
	}
	if d, ok := r.cfg.HedgePolicy.Delay(r.window); ok {
		r.metrics.hedgeDelay.Set(d.Seconds())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
