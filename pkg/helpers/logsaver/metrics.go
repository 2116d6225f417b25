package logsaver

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the log saver's Prometheus metrics, served on --listen at /metrics.
type metrics struct {
	registry     *prometheus.Registry
	linesRead    prometheus.Counter
	bytesRead    prometheus.Counter
	linesShipped prometheus.Counter
	bytesShipped prometheus.Counter
	batches      prometheus.Counter
	retries      prometheus.Counter
	truncations  prometheus.Counter
	linesLost    prometheus.Counter
	stateWrites  prometheus.Counter
	lag          prometheus.Gauge
	files        prometheus.Gauge
}

func newMetrics() *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "podd_log_saver", Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "podd_log_saver", Name: name, Help: help})
	}
	m := &metrics{
		registry:     prometheus.NewRegistry(),
		linesRead:    counter("lines_read_total", "Lines read from the files (a line read again after a restart counts again)."),
		bytesRead:    counter("bytes_read_total", "Bytes of the files read, newlines included."),
		linesShipped: counter("lines_shipped_total", "Lines the collector acknowledged."),
		bytesShipped: counter("bytes_shipped_total", "Bytes sent in acknowledged batches, as encoded for the collector."),
		batches:      counter("batches_total", "Batches the collector acknowledged."),
		retries:      counter("retries_total", "Failed attempts to send a batch (each is retried)."),
		truncations:  counter("truncations_total", "Files found truncated (copytruncate) and read again from their start."),
		linesLost:    counter("lines_lost_total", "Lines of a batch in flight at a crash that could not be read again at the next start (the file was removed or truncated meanwhile)."),
		stateWrites:  counter("state_writes_total", "Writes of the state file."),
		lag:          gauge("lag_bytes", "Bytes of the followed files not acknowledged by the collector yet."),
		files:        gauge("files", "Files followed, rotated ones still being read included."),
	}
	m.registry.MustRegister(m.linesRead, m.bytesRead, m.linesShipped, m.bytesShipped, m.batches, m.retries,
		m.truncations, m.linesLost, m.stateWrites, m.lag, m.files)
	return m
}
