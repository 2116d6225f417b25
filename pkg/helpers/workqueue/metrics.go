package workqueue

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// metrics are the helper's Prometheus metrics, served on --listen at /metrics: its own counters,
// and the queue's figures read from the queue at each scrape (every worker of a queue reports the
// same queue figures).
type metrics struct {
	registry                                              *prometheus.Registry
	added, claims, done, failed, dead, recovered, refused prometheus.Counter
}

func newMetrics(q Queue) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "podd_workqueue", Name: name, Help: help})
	}
	m := &metrics{
		registry:  prometheus.NewRegistry(),
		added:     counter("added_total", "Items this helper added from its sources."),
		claims:    counter("claims_total", "Attempts this helper started (items leased)."),
		done:      counter("committed_total", "Outputs this helper committed."),
		failed:    counter("failed_attempts_total", "Attempts that failed here (non-zero exit, worker death)."),
		dead:      counter("dead_letters_total", "Items this helper sent to the dead letters."),
		recovered: counter("recovered_total", "Leases of dead workers this helper took back."),
		refused:   counter("refused_commits_total", "Results refused because their attempt's lease had ended."),
	}
	m.registry.MustRegister(m.added, m.claims, m.done, m.failed, m.dead, m.recovered, m.refused)
	m.registry.MustRegister(queueCollector{q: q, desc: prometheus.NewDesc("podd_workqueue_items",
		"Items of the queue in each state (new, retry, leased, done, dead).", []string{"state"}, nil)})
	return m
}

// queueCollector reads the queue's counts at each scrape.
type queueCollector struct {
	q    Queue
	desc *prometheus.Desc
}

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	c, err := q.q.Counts()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.desc, err)
		return
	}
	for _, x := range []struct {
		st string
		n  int
	}{{spool.StateNew, c.New}, {spool.StateRetry, c.Retry}, {spool.StateLeased, c.Leased}, {spool.StateDone, c.Done}, {spool.StateDead, c.Dead}} {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(x.n), x.st)
	}
}
