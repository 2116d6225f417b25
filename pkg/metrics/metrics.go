// Package metrics serves podd's Prometheus metrics: the containers' cpu, memory and pids and the
// pods' network under cadvisor's and the kubelet's names (container_cpu_usage_seconds_total,
// container_memory_working_set_bytes, ...), labelled namespace, pod and container, and podd's
// own (pods by phase, container restarts, API latency). Figures are read from the cgroups and the
// network namespaces when Prometheus scrapes, by a custom Collector: nothing polls in between.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Source is what the collector reads at scrape time; pkg/pod's Manager implements it.
type Source interface {
	List(ctx context.Context, namespace string) ([]*pod.Pod, error)
	Snapshots(ctx context.Context) ([]supervisor.CgroupSnapshot, error)
}

// scrapeTimeout bounds one scrape's reads.
const scrapeTimeout = 10 * time.Second

var (
	ctrLabels = []string{"namespace", "pod", "container"}
	netLabels = []string{"namespace", "pod", "interface"}

	descCPU         = prometheus.NewDesc("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in seconds.", ctrLabels, nil)
	descMemUsage    = prometheus.NewDesc("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", ctrLabels, nil)
	descWorkingSet  = prometheus.NewDesc("container_memory_working_set_bytes", "Current working set in bytes (usage less inactive file cache).", ctrLabels, nil)
	descRSS         = prometheus.NewDesc("container_memory_rss", "Size of RSS in bytes.", ctrLabels, nil)
	descMemLimit    = prometheus.NewDesc("container_spec_memory_limit_bytes", "Memory limit for the container in bytes; 0 without one.", ctrLabels, nil)
	descCPUQuota    = prometheus.NewDesc("container_spec_cpu_quota", "CPU quota of the container in µs per period; absent without a limit.", ctrLabels, nil)
	descCPUPeriod   = prometheus.NewDesc("container_spec_cpu_period", "CPU period of the container in µs; absent without a limit.", ctrLabels, nil)
	descStart       = prometheus.NewDesc("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", ctrLabels, nil)
	descProcesses   = prometheus.NewDesc("container_processes", "Number of processes (tasks) running inside the container.", ctrLabels, nil)
	descOOM         = prometheus.NewDesc("container_oom_events_total", "Count of out of memory kills in the container.", ctrLabels, nil)
	descNetRx       = prometheus.NewDesc("container_network_receive_bytes_total", "Cumulative count of bytes received by the pod's interface.", netLabels, nil)
	descNetTx       = prometheus.NewDesc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted by the pod's interface.", netLabels, nil)
	descPods        = prometheus.NewDesc("podd_pods", "Number of pods by namespace and phase.", []string{"namespace", "phase"}, nil)
	descRestarts    = prometheus.NewDesc("podd_container_restarts_total", "Restarts of each container of each pod.", ctrLabels, nil)
	descPodOOMKills = prometheus.NewDesc("podd_container_oom_kills_total", "Processes of the container the OOM killer killed while its main process survived (status oomKills).", ctrLabels, nil)
	descScrapeError = prometheus.NewDesc("podd_metrics_scrape_errors", "1 when the last scrape could not read every figure.", nil, nil)
)

// collector reads everything at scrape time.
type collector struct {
	ctx context.Context // podd's: scrapes end with it
	src Source
	log *slog.Logger
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCPU, descMemUsage, descWorkingSet, descRSS, descMemLimit, descCPUQuota, descCPUPeriod,
		descStart, descProcesses, descOOM, descNetRx, descNetTx, descPods, descRestarts, descPodOOMKills, descScrapeError} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(c.ctx, scrapeTimeout)
	defer cancel()
	failed := 0.0
	pods, err := c.src.List(ctx, "")
	if err != nil {
		c.log.Warn("metrics: list pods", "err", err)
		failed = 1
	}
	phases := map[[2]string]int{}
	for _, p := range pods {
		phases[[2]string{p.Metadata.Namespace, string(p.Status.Phase)}]++
		for _, list := range [][]pod.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, s := range list {
				labels := []string{p.Metadata.Namespace, p.Metadata.Name, s.Name}
				ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(s.RestartCount), labels...)
				ch <- prometheus.MustNewConstMetric(descPodOOMKills, prometheus.CounterValue, float64(s.OOMKills), labels...)
			}
		}
	}
	for k, n := range phases {
		ch <- prometheus.MustNewConstMetric(descPods, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	snaps, err := c.src.Snapshots(ctx)
	if err != nil {
		// Partial figures are still served; the error is counted.
		c.log.Warn("metrics: read stats", "err", err)
		failed = 1
	}
	for _, s := range snaps {
		ns, name := s.Pod.Metadata.Namespace, s.Pod.Metadata.Name
		if s.Network != nil {
			for _, i := range s.Network.Interfaces {
				if i.RxBytes != nil {
					ch <- prometheus.MustNewConstMetric(descNetRx, prometheus.CounterValue, float64(*i.RxBytes), ns, name, i.Name)
				}
				if i.TxBytes != nil {
					ch <- prometheus.MustNewConstMetric(descNetTx, prometheus.CounterValue, float64(*i.TxBytes), ns, name, i.Name)
				}
			}
		}
		st := s.Stats
		if s.Container == "" || st == nil {
			continue
		}
		labels := []string{ns, name, s.Container}
		gauge := func(d *prometheus.Desc, v *uint64) {
			if v != nil {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(*v), labels...)
			}
		}
		if st.CPU != nil && st.CPU.UsageCoreNanoSeconds != nil {
			ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, float64(*st.CPU.UsageCoreNanoSeconds)/1e9, labels...)
		}
		if st.CPU != nil && st.CPU.LimitNanoCores != nil {
			// The quota over the kubelet's 100 ms period, as cadvisor reports it.
			period := uint64(100000)
			quota := *st.CPU.LimitNanoCores * period / 1e9
			gauge(descCPUQuota, &quota)
			gauge(descCPUPeriod, &period)
		}
		if m := st.Memory; m != nil {
			gauge(descMemUsage, m.UsageBytes)
			gauge(descWorkingSet, m.WorkingSetBytes)
			gauge(descRSS, m.RSSBytes)
			limit := uint64(0)
			if m.LimitBytes != nil {
				limit = *m.LimitBytes
			}
			gauge(descMemLimit, &limit)
			if m.OOMKills != nil {
				ch <- prometheus.MustNewConstMetric(descOOM, prometheus.CounterValue, float64(*m.OOMKills), labels...)
			}
		}
		if st.Process != nil {
			gauge(descProcesses, st.Process.ProcessCount)
		}
		if st.StartTime != nil {
			ch <- prometheus.MustNewConstMetric(descStart, prometheus.GaugeValue, float64(st.StartTime.UnixNano())/1e9, labels...)
		}
	}
	ch <- prometheus.MustNewConstMetric(descScrapeError, prometheus.GaugeValue, failed)
}

// Metrics is podd's registry: the collector, the API latency histogram and the Go runtime's.
type Metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
}

// New registers podd's metrics over src; scrapes read within ctx.
func New(ctx context.Context, src Source, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podd_api_request_duration_seconds",
			Help:    "Latency of podd's API requests (streams such as logs -f and exec last as long as the session).",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "code"}),
	}
	m.reg.MustRegister(&collector{ctx: ctx, src: src, log: log}, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// InstrumentAPI observes the latency of every API request, by method, route pattern and status.
func (m *Metrics) InstrumentAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by the API's ServeMux on this request
		if route == "" || route == "/" {
			route = "other"
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		m.latency.WithLabelValues(r.Method, route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status; Unwrap lets http.ResponseController reach Flush and Hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
