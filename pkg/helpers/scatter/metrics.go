package scatter

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the root's Prometheus series, on their own registry (served on --metrics-address).
type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration prometheus.Histogram
	leafRequests    *prometheus.CounterVec
	leafResults     *prometheus.CounterVec
	leafDuration    prometheus.Histogram
	missing         *prometheus.CounterVec
	hedgesDenied    prometheus.Counter
	hedgeDelay      prometheus.Gauge
	mergeErrors     prometheus.Counter
}

func newMetrics() *metrics {
	buckets := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scatter_requests_total",
			Help: "Client requests by outcome: complete (every shard answered), partial (at least --min-responses), failed."}, []string{"outcome"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scatter_request_duration_seconds",
			Help: "From a client request's arrival to its merge input (the merge's own time excluded).", Buckets: buckets}),
		leafRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scatter_leaf_requests_total",
			Help: "Requests sent to leaves: primary (one per shard and client request), hedge, or retry (another replica after a failure)."}, []string{"kind"}),
		leafResults: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scatter_leaf_attempts_total",
			Help: "Leaf requests by result: answered, failed, timeout, cancelled (a hedge's loser, or --stop-at-min)."}, []string{"result"}),
		leafDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scatter_leaf_duration_seconds",
			Help: "Latency of the leaf answers that were used.", Buckets: buckets}),
		missing: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scatter_missing_shards_total",
			Help: "Shards missing from a client request's result, by shard and reason."}, []string{"shard", "reason"}),
		hedgesDenied: prometheus.NewCounter(prometheus.CounterOpts{Name: "scatter_hedges_denied_total",
			Help: "Hedges and retries due but not sent: the budget (--hedge-budget) was spent."}),
		hedgeDelay: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scatter_hedge_delay_seconds",
			Help: "The current hedge delay (fixed, or learned from the recent leaf latencies)."}),
		mergeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "scatter_merge_errors_total",
			Help: "Merge calls that failed or answered a non-2xx status."}),
	}
	m.reg.MustRegister(m.requests, m.requestDuration, m.leafRequests, m.leafResults, m.leafDuration, m.missing,
		m.hedgesDenied, m.hedgeDelay, m.mergeErrors)
	return m
}

// leafStats keeps each leaf's recent attempts for GET /leaves (what `podctl describe` would show).
type leafStats struct {
	mu    sync.Mutex
	byKey map[string]*leafStat
}

type leafStat struct {
	shard   string
	window  *Window
	results map[string]int
	last    time.Time
}

// LeafStatus is one leaf in GET /leaves.
type LeafStatus struct {
	Leaf    string         `json:"leaf"`
	Shard   string         `json:"shard"`
	P50Ms   float64        `json:"p50Ms"`
	P95Ms   float64        `json:"p95Ms"`
	P99Ms   float64        `json:"p99Ms"`
	Samples int            `json:"samples"`
	Results map[string]int `json:"results"`
	LastAt  time.Time      `json:"lastAt"`
}

const (
	leafWindow = 200
	// maxLeafStats bounds the table: leaves come and go with scaling; the oldest is dropped.
	maxLeafStats = 1024
)

func newLeafStats() *leafStats { return &leafStats{byKey: map[string]*leafStat{}} }

func (l *leafStats) add(leaf, shard string, d time.Duration, result string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.byKey[leaf]
	if !ok {
		if len(l.byKey) >= maxLeafStats {
			var oldest string
			for k, v := range l.byKey {
				if oldest == "" || v.last.Before(l.byKey[oldest].last) {
					oldest = k
				}
			}
			delete(l.byKey, oldest)
		}
		s = &leafStat{window: NewWindow(leafWindow), results: map[string]int{}}
		l.byKey[leaf] = s
	}
	s.shard, s.last = shard, time.Now()
	s.results[result]++
	if result == Answered {
		s.window.Add(d)
	}
}

func (l *leafStats) list() []LeafStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LeafStatus, 0, len(l.byKey))
	for k, s := range l.byKey {
		out = append(out, LeafStatus{Leaf: k, Shard: s.shard, P50Ms: ms(s.window.Percentile(50)), P95Ms: ms(s.window.Percentile(95)),
			P99Ms: ms(s.window.Percentile(99)), Samples: s.window.Len(), Results: maps.Clone(s.results), LastAt: s.last})
	}
	slices.SortFunc(out, func(a, b LeafStatus) int {
		if a.Shard != b.Shard {
			if a.Shard < b.Shard {
				return -1
			}
			return 1
		}
		if a.Leaf < b.Leaf {
			return -1
		}
		return 1
	})
	return out
}
