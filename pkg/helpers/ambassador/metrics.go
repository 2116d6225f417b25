package ambassador

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// hotSample: one request in hotSample (per client connection) feeds the hot-key counter.
const hotSample = 64

// hotKeys estimates the most requested keys with the space-saving algorithm over a sample of the
// requests: at most hotCapacity keys are tracked; a new key replaces the least counted one and
// inherits its count (so counts are upper bounds, off by at most the replaced count).
type hotKeys struct {
	mu     sync.Mutex
	counts map[string]*hotEntry
}

type hotEntry struct {
	key   string
	count uint64
	err   uint64 // over-estimate inherited from the entry it replaced
}

const (
	hotCapacity = 128
	hotTop      = 10
)

func (h *hotKeys) add(key []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = make(map[string]*hotEntry, hotCapacity)
	}
	if e, ok := h.counts[string(key)]; ok {
		e.count++
		return
	}
	k := string(key)
	if len(k) > 200 {
		k = k[:200]
	}
	if len(h.counts) < hotCapacity {
		h.counts[k] = &hotEntry{key: k, count: 1}
		return
	}
	var min *hotEntry
	for _, e := range h.counts {
		if min == nil || e.count < min.count {
			min = e
		}
	}
	delete(h.counts, min.key)
	h.counts[k] = &hotEntry{key: k, count: min.count + 1, err: min.count}
}

// top returns the hotTop most counted keys, most first.
func (h *hotKeys) top() []hotEntry {
	h.mu.Lock()
	out := make([]hotEntry, 0, len(h.counts))
	for _, e := range h.counts {
		out = append(out, *e)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].count != out[j].count {
			return out[i].count > out[j].count
		}
		return out[i].key < out[j].key
	})
	if len(out) > hotTop {
		out = out[:hotTop]
	}
	return out
}

// labelKey makes a key a valid label value: UTF-8 as is, anything else quoted.
func labelKey(k string) string {
	if utf8.ValidString(k) {
		return k
	}
	return strconv.Quote(k)
}

// poolMetrics are a pool's figures; the hot path adds to atomics once per batch and the
// collector reads them at scrape time.
type poolMetrics struct {
	p        *pool
	requests atomic.Uint64
	errors   atomic.Uint64
	clients  atomic.Int64
	refused  atomic.Uint64
	latency  prometheus.Histogram
	hot      hotKeys
}

func newPoolMetrics(p *pool) *poolMetrics {
	return &poolMetrics{
		p: p,
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "podd_ambassador_batch_duration_seconds",
			Help:        "Time from reading a batch of pipelined requests from a client to writing its replies; every request of the batch waited this long.",
			ConstLabels: prometheus.Labels{"pool": p.cfg.Name},
			Buckets:     []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
}

func (m *poolMetrics) observe(requests, errors int, d time.Duration) {
	m.requests.Add(uint64(requests))
	if errors > 0 {
		m.errors.Add(uint64(errors))
	}
	m.latency.Observe(d.Seconds())
}

var (
	descRequests = prometheus.NewDesc("podd_ambassador_requests_total", "Requests from clients.", []string{"pool"}, nil)
	descErrors   = prometheus.NewDesc("podd_ambassador_errors_total", "Requests answered with an error (the server's own, or the ambassador's).", []string{"pool"}, nil)
	descClients  = prometheus.NewDesc("podd_ambassador_client_connections", "Open client connections.", []string{"pool"}, nil)
	descRefused  = prometheus.NewDesc("podd_ambassador_client_connections_refused_total", "Client connections closed at once because client_connections were open.", []string{"pool"}, nil)
	descSrvReq   = prometheus.NewDesc("podd_ambassador_server_requests_total", "Requests (parts of split requests count one each) sent to a server.", []string{"pool", "server", "name"}, nil)
	descSrvErr   = prometheus.NewDesc("podd_ambassador_server_errors_total", "Requests answered with an error because the server could not be reached, broke the connection or timed out.", []string{"pool", "server", "name"}, nil)
	descSrvEject = prometheus.NewDesc("podd_ambassador_server_ejections_total", "Times the server was ejected from the ring (auto_eject_hosts).", []string{"pool", "server", "name"}, nil)
	descSrvUp    = prometheus.NewDesc("podd_ambassador_server_in_ring", "1 when the server has points on the ring, 0 while it is ejected.", []string{"pool", "server", "name"}, nil)
	descMembers  = prometheus.NewDesc("podd_ambassador_pool_servers", "Servers in the pool (ejected or not).", []string{"pool"}, nil)
	descHot      = prometheus.NewDesc("podd_ambassador_hot_key_requests", "Estimated requests for the most requested keys (space-saving over a 1-in-64 sample, scaled back up; an upper bound).", []string{"pool", "key"}, nil)
)

// collector is every pool's figures, for one registry.
type collector struct{ pools []*poolMetrics }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descErrors, descClients, descRefused, descSrvReq, descSrvErr, descSrvEject, descSrvUp, descMembers, descHot} {
		ch <- d
	}
	for _, m := range c.pools {
		m.latency.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.pools {
		m.collect(ch)
	}
}

func (m *poolMetrics) collect(ch chan<- prometheus.Metric) {
	name := m.p.cfg.Name
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(m.requests.Load()), name)
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(m.errors.Load()), name)
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(m.clients.Load()), name)
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(m.refused.Load()), name)
	snap := m.p.snap.Load()
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(len(snap.servers)), name)
	for _, s := range snap.servers {
		ch <- prometheus.MustNewConstMetric(descSrvReq, prometheus.CounterValue, float64(s.requests.Load()), name, s.addr, s.spec.Name)
		ch <- prometheus.MustNewConstMetric(descSrvErr, prometheus.CounterValue, float64(s.errors.Load()), name, s.addr, s.spec.Name)
		ch <- prometheus.MustNewConstMetric(descSrvEject, prometheus.CounterValue, float64(s.ejects.Load()), name, s.addr, s.spec.Name)
		up := 1.0
		if m.p.ejected(s) {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descSrvUp, prometheus.GaugeValue, up, name, s.addr, s.spec.Name)
	}
	for _, e := range m.hot.top() {
		ch <- prometheus.MustNewConstMetric(descHot, prometheus.GaugeValue, float64(e.count*hotSample), name, labelKey(e.key))
	}
	m.latency.Collect(ch)
}
