package contentsync

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are served at /metrics in the Prometheus text format.
type metrics struct {
	reg            *prometheus.Registry
	checks         *prometheus.CounterVec
	syncs          prometheus.Counter
	failures       prometheus.Counter
	lastSuccess    prometheus.Gauge
	versionInfo    *prometheus.GaugeVec
	notifyFailures *prometheus.CounterVec

	mu      sync.Mutex
	last    time.Time // of the last success
	version string
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podd_contentsync_checks_total",
			Help: "Looks at the source, by outcome: published, unchanged, refused (bad content, nothing changed) or failed (source or disk).",
		}, []string{"outcome"}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "podd_contentsync_syncs_total",
			Help: "New versions published.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "podd_contentsync_failures_total",
			Help: "Looks at the source that refused the content or failed.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "podd_contentsync_last_success_timestamp_seconds",
			Help: "Unix time of the last look at the source that published or found nothing changed.",
		}),
		versionInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "podd_contentsync_version_info",
			Help: "1 for the version the link shows now (the first hex digits of its content's SHA-256).",
		}, []string{"version"}),
		notifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podd_contentsync_notify_failures_total",
			Help: "Signals and webhook calls after a change that failed, by kind.",
		}, []string{"kind"}),
	}
	for _, o := range []string{Published, Unchanged, Refused, Failed} {
		m.checks.WithLabelValues(o)
	}
	m.notifyFailures.WithLabelValues("signal")
	m.notifyFailures.WithLabelValues("webhook")
	m.reg.MustRegister(m.checks, m.syncs, m.failures, m.lastSuccess, m.versionInfo, m.notifyFailures)
	return m
}

func (m *metrics) check(outcome string) {
	m.checks.WithLabelValues(outcome).Inc()
	switch outcome {
	case Published:
		m.syncs.Inc()
	case Refused, Failed:
		m.failures.Inc()
	}
}

func (m *metrics) setVersion(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.versionInfo.Reset()
	m.versionInfo.WithLabelValues(id).Set(1)
	m.version = id
}
