// Package adapter is `podd-patterns adapter`: the adapter pattern's helper. It reads the
// monitoring data of the applications beside it in the pod (redis INFO, memcached stats, a JSON
// document over HTTP, statsd packets) and serves them on /metrics in the Prometheus text format
// under one naming scheme (see scheme.go), with /healthz for itself and /readyz for the
// applications, so that a pod's readinessProbe can follow whether its application answers.
package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults of the flags.
const (
	DefaultListen          = ":9466"
	DefaultScrapeTimeout   = 2 * time.Second
	DefaultProbeInterval   = 5 * time.Second
	DefaultStatsdMaxSeries = 10000
)

// Options configure an Adapter.
type Options struct {
	Listen        string
	Sources       []Source
	ScrapeTimeout time.Duration
	// ProbeInterval: a source that nothing scraped for this long is scraped by the adapter itself,
	// so that /readyz stays current without Prometheus.
	ProbeInterval time.Duration
	Logger        *slog.Logger
}

// result is what one scrape of an application read.
type result struct {
	samples       []sample            // of the common scheme
	metrics       []prometheus.Metric // made by rules
	version       string
	mappingErrors []error
}

// scrapeFunc reads an application once; it returns when ctx ends at the latest.
type scrapeFunc interface {
	scrape(ctx context.Context) (*result, error)
}

// target is one source with its scrape state: one scrape in flight at a time (concurrent
// /metrics requests and the prober share it), and the outcome of the last one for /readyz.
type target struct {
	src     Source
	scraper scrapeFunc
	timeout time.Duration
	base    context.Context // ends when the adapter stops
	log     *slog.Logger
	descs   map[string]*prometheus.Desc

	mu       sync.Mutex
	inflight *call
	started  time.Time // of the last scrape
	last     *outcome
	failing  string             // the error last logged, "" while the app answers
	errs     map[string]float64 // app_scrape_errors_total by reason
}

type call struct {
	done    chan struct{}
	out     *outcome
	waiters int // scrapes sharing this call
}

type outcome struct {
	res      *result
	err      error
	duration time.Duration
	at       time.Time
}

func newTarget(src Source, scraper scrapeFunc, timeout time.Duration, log *slog.Logger) *target {
	t := &target{src: src, scraper: scraper, timeout: timeout, base: context.Background(), log: log.With("app_kind", src.Kind, "app_name", src.Name),
		// The error counter starts at 0 for every reason, so that rate() works from the first failure.
		errs: map[string]float64{"timeout": 0, "error": 0, "mapping": 0}}
	constLabels := prometheus.Labels{labelKind: src.Kind, labelName: src.Name}
	t.descs = map[string]*prometheus.Desc{
		metricUp:             prometheus.NewDesc(metricUp, "1 when the application answered the adapter's last scrape within the deadline, else 0.", nil, constLabels),
		metricScrapeDuration: prometheus.NewDesc(metricScrapeDuration, "How long the adapter's scrape of the application took.", nil, constLabels),
		metricInfo:           prometheus.NewDesc(metricInfo, "The application's version, as it reports it.", []string{"version"}, constLabels),
		metricScrapeErrors: prometheus.NewDesc(metricScrapeErrors, "Scrapes of the application that failed (reason timeout: no answer within --scrape-timeout; "+
			"error: refused, closed or not understood) and values the rules could not map (reason mapping).", []string{"reason"}, constLabels),
	}
	for _, st := range scheme {
		t.descs[st.name] = prometheus.NewDesc(st.name, st.help, nil, constLabels)
	}
	return t
}

// scrape returns the outcome of a scrape started now or already in flight; it returns within the
// timeout (and a second's grace) whatever the application does.
func (t *target) scrape() *outcome {
	t.mu.Lock()
	c := t.inflight
	if c == nil {
		c = &call{done: make(chan struct{})}
		t.inflight = c
		t.started = time.Now()
		go t.run(c)
	}
	c.waiters++
	t.mu.Unlock()
	timer := time.NewTimer(t.timeout + time.Second)
	defer timer.Stop()
	select {
	case <-c.done:
		return c.out
	case <-timer.C:
		return &outcome{err: fmt.Errorf("no answer within %v", t.timeout), duration: t.timeout, at: time.Now()}
	}
}

func (t *target) run(c *call) {
	ctx, cancel := context.WithTimeout(t.base, t.timeout)
	defer cancel()
	start := time.Now()
	res, err := t.scraper.scrape(ctx)
	out := &outcome{res: res, err: err, duration: time.Since(start), at: time.Now()}
	c.out = out
	reason := "error"
	if err != nil && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || isTimeout(err)) {
		reason = "timeout"
		out.err = fmt.Errorf("no answer within the scrape timeout of %v: %w", t.timeout, err)
	}
	if t.base.Err() != nil {
		out.err = errors.New("the adapter is stopping")
		t.mu.Lock()
		t.last, t.inflight = out, nil
		t.mu.Unlock()
		close(c.done)
		return
	}
	t.mu.Lock()
	if err != nil {
		t.errs[reason]++
	} else if n := len(res.mappingErrors); n > 0 {
		t.errs["mapping"] += float64(n)
		t.log.Debug("mapping errors", "count", n, "first", res.mappingErrors[0].Error())
	}
	t.last = out
	t.inflight = nil
	prev := t.failing
	t.failing = ""
	if out.err != nil {
		t.failing = failureClass(reason, err)
	}
	now := t.failing
	t.mu.Unlock()
	switch {
	case now != "" && now != prev:
		t.log.Warn("application scrape failed: app_up 0", "source", t.src.Display, "reason", reason, "error", out.err.Error())
	case now != "":
		t.log.Debug("application scrape failed", "source", t.src.Display, "error", out.err.Error())
	case prev != "":
		t.log.Info("application answers again: app_up 1", "source", t.src.Display)
	}
	close(c.done)
}

// failureClass says which failure err is, without what changes from one scrape to the next (a
// connection's local port): a failure is logged when its class changes, not at every scrape.
func failureClass(reason string, err error) string {
	if reason == "timeout" {
		return reason
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return reason + ": " + op.Op + ": " + op.Err.Error()
	}
	return reason + ": " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ready says whether the last scrape succeeded, and why not.
func (t *target) ready() (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.last == nil:
		return false, "not scraped yet"
	case t.last.err != nil:
		return false, t.last.err.Error()
	}
	return true, "ok"
}

// probe scrapes the source every interval in which nothing else did, until ctx ends.
func (t *target) probe(ctx context.Context, interval time.Duration) {
	t.scrape()
	tick := time.NewTicker(interval / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		due := time.Since(t.started) >= interval
		t.mu.Unlock()
		if due {
			t.scrape()
		}
	}
}

// Describe sends nothing: the rules' and statsd's metrics are known only when read (an unchecked
// collector).
func (t *target) Describe(chan<- *prometheus.Desc) {}

// Collect scrapes the application (within the timeout) and sends what it read.
func (t *target) Collect(ch chan<- prometheus.Metric) {
	out := t.scrape()
	up := 0.0
	if out.err == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(t.descs[metricUp], prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(t.descs[metricScrapeDuration], prometheus.GaugeValue, out.duration.Seconds())
	t.mu.Lock()
	for reason, n := range t.errs {
		ch <- prometheus.MustNewConstMetric(t.descs[metricScrapeErrors], prometheus.CounterValue, n, reason)
	}
	t.mu.Unlock()
	if out.err != nil {
		return
	}
	if out.res.version != "" {
		// A label value must be UTF-8: an application's bytes are not trusted to be.
		ch <- prometheus.MustNewConstMetric(t.descs[metricInfo], prometheus.GaugeValue, 1, strings.ToValidUTF8(out.res.version, "\uFFFD"))
	}
	for _, s := range out.res.samples {
		st, _ := schemeStat(s.name)
		ch <- prometheus.MustNewConstMetric(t.descs[s.name], st.typ, s.value)
	}
	for _, m := range out.res.metrics {
		ch <- m
	}
}

// Adapter serves /metrics, /healthz and /readyz.
type Adapter struct {
	opts    Options
	ln      net.Listener
	targets []*target
	statsd  []*statsdServer
	srv     *http.Server
}

// New checks the options, binds the listeners (HTTP and statsd's UDP ports) and returns an adapter
// that serves once Run is called.
func New(opts Options) (*Adapter, error) {
	if opts.ScrapeTimeout <= 0 {
		return nil, fmt.Errorf("--scrape-timeout: %v must be positive", opts.ScrapeTimeout)
	}
	if opts.ProbeInterval <= 0 {
		return nil, fmt.Errorf("--probe-interval: %v must be positive", opts.ProbeInterval)
	}
	if len(opts.Sources) == 0 {
		return nil, errors.New("--source: at least one is needed (e.g. redis://127.0.0.1:6379)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{opts: opts}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "podd_adapter"}))
	var statsdMetrics *statsdMetrics
	for _, src := range opts.Sources {
		if src.Scheme == "statsd" {
			if statsdMetrics == nil {
				statsdMetrics = newStatsdMetrics()
				reg.MustRegister(statsdMetrics)
			}
			s, err := listenStatsd(src, statsdMetrics, opts.Logger)
			if err != nil {
				a.closeStatsd()
				return nil, err
			}
			a.statsd = append(a.statsd, s)
			reg.MustRegister(s)
			continue
		}
		t := newTarget(src, src.scraper(), opts.ScrapeTimeout, opts.Logger)
		a.targets = append(a.targets, t)
		reg.MustRegister(t)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		a.closeStatsd()
		return nil, fmt.Errorf("--listen: %w", err)
	}
	a.ln = ln
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 16,
		// Scrapes come from inside the cluster network; gzip would cost more memory (a compressor per
		// request) than the few KiB it saves.
		DisableCompression: true,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", a.readyz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "podd-patterns adapter: /metrics /healthz /readyz[?app=NAME]")
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return a, nil
}

func (a *Adapter) closeStatsd() {
	for _, s := range a.statsd {
		s.conn.Close()
	}
}

// Addr is the HTTP listener's address.
func (a *Adapter) Addr() net.Addr { return a.ln.Addr() }

// StatsdAddr is the UDP address of the i-th statsd source.
func (a *Adapter) StatsdAddr(i int) net.Addr { return a.statsd[i].conn.LocalAddr() }

// readyz answers 200 when every application (or the one ?app=NAME names) answered its last
// scrape, else 503 with the reasons.
func (a *Adapter) readyz(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("app")
	var bad []string
	found := want == ""
	for _, t := range a.targets {
		if want != "" && t.src.Name != want {
			continue
		}
		found = true
		if ok, why := t.ready(); !ok {
			bad = append(bad, fmt.Sprintf("%s (%s): %s", t.src.Name, t.src.Kind, why))
		}
	}
	for _, s := range a.statsd {
		if s.src.Name == want {
			found = true
		}
	}
	switch {
	case !found:
		http.Error(w, fmt.Sprintf("no source named %q", want), http.StatusNotFound)
	case len(bad) > 0:
		http.Error(w, "not ready: "+strings.Join(bad, "; "), http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}

// Run serves until ctx ends, then stops the listeners and waits for the requests in progress (at
// most 5 seconds).
func (a *Adapter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, t := range a.targets {
		t.base = ctx
	}
	for _, t := range a.targets {
		wg.Go(func() { t.probe(ctx, a.opts.ProbeInterval) })
	}
	for _, s := range a.statsd {
		wg.Go(func() { s.serve(ctx) })
	}
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.srv.Shutdown(shutdown)
	a.closeStatsd()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
