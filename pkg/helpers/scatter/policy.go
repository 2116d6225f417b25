package scatter

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Quorum is --min-responses: the shards that must answer for a request to succeed, as a count
// or as a fraction of the shards discovered for that request.
type Quorum struct {
	Count    int
	Fraction float64
}

// ParseQuorum reads "8" (a count), "80%" or "0.8" (a fraction of the shards, rounded up).
func ParseQuorum(s string) (Quorum, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Quorum{}, errors.New("empty: give a count (8), a percentage (80%) or a fraction (0.8)")
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 || math.IsNaN(f) {
			return Quorum{}, fmt.Errorf("%q: a percentage must be above 0 and at most 100", s)
		}
		return Quorum{Fraction: f / 100}, nil
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 || f > 1 || math.IsNaN(f) {
			return Quorum{}, fmt.Errorf("%q: a fraction must be above 0 and at most 1", s)
		}
		return Quorum{Fraction: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Quorum{}, fmt.Errorf("%q: a count must be a whole number of at least 1", s)
	}
	return Quorum{Count: n}, nil
}

func (q Quorum) String() string {
	if q.Count > 0 {
		return strconv.Itoa(q.Count)
	}
	return strconv.FormatFloat(q.Fraction*100, 'f', -1, 64) + "%"
}

// Need is how many of total shards must answer. A count above total is kept as it is: with fewer
// shards than the count, every request fails (the operator asked for more answers than there are
// leaves, which must not pass silently). A fraction needs at least one answer.
func (q Quorum) Need(total int) int {
	if q.Count > 0 {
		return q.Count
	}
	n := int(math.Ceil(q.Fraction*float64(total) - 1e-9))
	return max(n, 1)
}

// Outcome is what a request becomes once its shards have answered or not.
type Outcome string

const (
	Complete Outcome = "complete" // every shard answered
	Partial  Outcome = "partial"  // at least the quorum answered, not all: flagged
	Failed   Outcome = "failed"   // below the quorum: no merge, an error to the client
)

// Decide classifies a request with answered of total shards under the quorum.
func Decide(answered, total int, q Quorum) Outcome {
	switch {
	case total == 0 || answered < q.Need(total):
		return Failed
	case answered == total:
		return Complete
	default:
		return Partial
	}
}

// Budget bounds the hedged requests to a share of the primary ones: every primary request earns
// Ratio of a token, up to Max; a hedge spends a whole one. Over any stretch of N primaries, at
// most Ratio×N + Max hedges are sent (gRPC's retryThrottling has the same shape, token per
// success; here the earning does not depend on failures, since hedges answer slowness).
type Budget struct {
	mu     sync.Mutex
	Ratio  float64
	Max    float64
	tokens float64
}

// Earn records one primary request.
func (b *Budget) Earn() {
	b.mu.Lock()
	b.tokens = min(b.Max, b.tokens+b.Ratio)
	b.mu.Unlock()
}

// Spend takes a token for a hedge, if there is one.
func (b *Budget) Spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Window holds the latencies of the last Size answers, for the learned hedge delay.
type Window struct {
	mu     sync.Mutex
	size   int
	buf    []time.Duration
	next   int
	dirty  int
	sorted []time.Duration
}

// NewWindow keeps the last size latencies.
func NewWindow(size int) *Window {
	return &Window{size: size, buf: make([]time.Duration, 0, size)}
}

// Add records one latency.
func (w *Window) Add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) < w.size {
		w.buf = append(w.buf, d)
	} else {
		w.buf[w.next] = d
		w.next = (w.next + 1) % w.size
	}
	w.dirty++
}

// Len is how many latencies the window holds.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// Percentile is the p-th percentile (0 < p ≤ 100, nearest rank) of the window; 0 when empty.
// The sorted copy is refreshed once every few additions (not on every request): a percentile of
// a thousand samples moves slowly.
func (w *Window) Percentile(p float64) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return 0
	}
	if w.sorted == nil || w.dirty >= refreshEvery || len(w.sorted) < min(len(w.buf), refreshEvery) {
		w.sorted = append(w.sorted[:0], w.buf...)
		slices.Sort(w.sorted)
		w.dirty = 0
	}
	return percentile(w.sorted, p)
}

const refreshEvery = 16

// percentile of sorted durations by nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// HedgePolicy decides when a shard's request is hedged.
type HedgePolicy struct {
	// Fixed, when above 0, is the delay; otherwise it is learned: the Percentile of the window,
	// never below Floor, once the window holds MinSamples (before that, no hedge: a delay
	// learned from three samples would hedge at random).
	Fixed      time.Duration
	Percentile float64
	Floor      time.Duration
	MinSamples int
}

// Delay is the hedge delay for the next request and whether to hedge at all.
func (h HedgePolicy) Delay(w *Window) (time.Duration, bool) {
	if h.Fixed > 0 {
		return h.Fixed, true
	}
	if w.Len() < h.MinSamples {
		return 0, false
	}
	return max(w.Percentile(h.Percentile), h.Floor), true
}

// nextReplica is the replica a hedge goes to: the next one after the primary's, or the primary's
// own address when the shard has one replica (a new request on a new connection: a slowness of
// the request, not of the leaf, is still avoided).
func nextReplica(primary, replicas int) int {
	if replicas <= 1 {
		return primary
	}
	return (primary + 1) % replicas
}

// NextUntried is the first replica after the primary, in order, that no attempt of the request
// has gone to yet.
func NextUntried(primary int, tried []bool) (int, bool) {
	for i := 1; i < len(tried); i++ {
		if idx := (primary + i) % len(tried); !tried[idx] {
			return idx, true
		}
	}
	return 0, false
}

// LeafDeadline is when a leaf's attempt must end: the request's deadline, or earlier the
// per-leaf timeout counted from the attempt's start.
func LeafDeadline(start, request time.Time, leafTimeout time.Duration) time.Time {
	if leafTimeout > 0 {
		if t := start.Add(leafTimeout); t.Before(request) {
			return t
		}
	}
	return request
}

// RequestDeadline is the request's deadline: the root's own --deadline from its arrival, or the
// caller's, if it passed a shorter one in TimeoutHeader (a root that is a leaf of another root
// keeps within its parent's deadline).
func RequestDeadline(arrival time.Time, own time.Duration, header string) (time.Time, error) {
	d := arrival.Add(own)
	if header == "" {
		return d, nil
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(header), 10, 64)
	if err != nil || ms < 0 {
		return d, fmt.Errorf("header %s: %q is not a number of milliseconds", TimeoutHeader, header)
	}
	if c := arrival.Add(time.Duration(ms) * time.Millisecond); c.Before(d) {
		return c, nil
	}
	return d, nil
}

// TimeoutMillis is what TimeoutHeader says to a leaf: the milliseconds left, rounded down, at
// least 1 (0 would read as "no time", and the leaf's request is still worth sending while the
// root waits).
func TimeoutMillis(now, deadline time.Time) int64 {
	return max(deadline.Sub(now).Milliseconds(), 1)
}

// ShouldHedge: a shard late beyond the hedge delay is hedged only once at least half of the
// request's other shards have answered. When most shards are late together, the cause is common
// to all of them (the root's host is busy, the network is slow) and a second request would only
// add load — and spend the budget that a lone slow leaf will need. A request of one shard is
// hedged on the delay alone.
func ShouldHedge(answeredOthers, others int) bool {
	return others <= 0 || 2*answeredOthers >= others
}

// RecheckAfter is how soon a deferred hedge decision is looked at again.
func RecheckAfter(delay time.Duration) time.Duration {
	return max(delay/4, 250*time.Microsecond)
}
