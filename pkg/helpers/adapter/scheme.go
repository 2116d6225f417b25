package adapter

import "github.com/prometheus/client_golang/prometheus"

// The naming scheme. Every application metric the adapter serves is named app_* and carries the
// labels app_kind (redis, memcached, http, statsd, or a rules file's kind) and app_name (the
// source's name, by default its kind), so that a dashboard or an alert written for one kind of
// application answers for every other: app_connected_clients means the same thing for redis and
// memcached. Counters end in _total, durations are in seconds, sizes in bytes (Prometheus's own
// conventions). The adapter's own metrics are podd_adapter_*.
const (
	labelKind = "app_kind"
	labelName = "app_name"
)

// stat is one metric of the common scheme that the redis and memcached sources fill in.
type stat struct {
	name string
	help string
	typ  prometheus.ValueType
}

// The common scheme, in the order /metrics serves it.
var scheme = []stat{
	{"app_uptime_seconds", "Seconds since the application started.", prometheus.GaugeValue},
	{"app_connected_clients", "Client connections open now.", prometheus.GaugeValue},
	{"app_connections_total", "Client connections accepted since the application started.", prometheus.CounterValue},
	{"app_commands_processed_total", "Commands (requests) processed since the application started.", prometheus.CounterValue},
	{"app_memory_used_bytes", "Memory the application uses for its data (redis used_memory, memcached bytes).", prometheus.GaugeValue},
	{"app_memory_limit_bytes", "The application's configured memory limit (redis maxmemory, memcached limit_maxbytes); 0: none.", prometheus.GaugeValue},
	{"app_items", "Items stored now (redis: keys of every database, memcached: curr_items).", prometheus.GaugeValue},
	{"app_hits_total", "Lookups that found their key (redis keyspace_hits, memcached get_hits).", prometheus.CounterValue},
	{"app_misses_total", "Lookups that did not find their key (redis keyspace_misses, memcached get_misses).", prometheus.CounterValue},
	{"app_evictions_total", "Items evicted to free memory (redis evicted_keys, memcached evictions).", prometheus.CounterValue},
	{"app_network_receive_bytes_total", "Bytes received from clients (redis total_net_input_bytes, memcached bytes_read).", prometheus.CounterValue},
	{"app_network_transmit_bytes_total", "Bytes sent to clients (redis total_net_output_bytes, memcached bytes_written).", prometheus.CounterValue},
	{"app_cpu_user_seconds_total", "User CPU time the application used.", prometheus.CounterValue},
	{"app_cpu_system_seconds_total", "System CPU time the application used.", prometheus.CounterValue},
}

// Metrics every source has, whatever its kind.
const (
	metricUp             = "app_up"
	metricScrapeDuration = "app_scrape_duration_seconds"
	metricScrapeErrors   = "app_scrape_errors_total"
	metricInfo           = "app_info"
)

// reservedNames cannot be produced by rules (the adapter makes them itself).
var reservedNames = map[string]bool{
	metricUp: true, metricScrapeDuration: true, metricScrapeErrors: true, metricInfo: true,
}

// sample is one value of the scheme read from an application.
type sample struct {
	name  string
	value float64
}
