package adapter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// statsd: a UDP listener for the statsd line protocol (name:value|type[|@rate][|#tag:v,...],
// several lines a packet) whose metrics join the scheme: counters (c) become app_<name>_total,
// gauges (g, with +N/-N as changes) app_<name>, timers (ms) histograms app_<name>_seconds, and
// DogStatsD histograms and distributions (h, d) histograms app_<name>; a rule of the rules file
// can give any of them another name and labels. Memory is bounded: at most MaxSeries series, a
// line over the limit is dropped and counted.

// Limits of one line.
const (
	statsdMaxName = 250
	statsdMaxTags = 16
)

// statsdBuckets are the histograms' upper bounds (Prometheus's default buckets; seconds for ms
// timers).
var statsdBuckets = prometheus.DefBuckets

// statsdLine is one parsed line.
type statsdLine struct {
	name     string
	value    float64
	relative bool   // a gauge's +N or -N
	typ      string // c, g, ms, h, d
	rate     float64
	tags     []labelPair
}

type labelPair struct{ name, value string }

// lineError is a line refused, with the reason counted in
// podd_adapter_statsd_invalid_lines_total.
type lineError struct {
	reason string
	msg    string
}

func (e *lineError) Error() string { return e.reason + ": " + e.msg }

func invalid(reason, format string, args ...any) *lineError {
	return &lineError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// parseStatsdLine reads one line of the statsd protocol (etsy's, with DogStatsD's tags).
func parseStatsdLine(line string) (statsdLine, *lineError) {
	var l statsdLine
	name, rest, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return l, invalid("malformed", "%q: no name:value", truncate(line, 60))
	}
	if len(name) > statsdMaxName {
		return l, invalid("malformed", "name of %d bytes is over the limit of %d", len(name), statsdMaxName)
	}
	l.name = name
	parts := strings.Split(rest, "|")
	if len(parts) < 2 {
		return l, invalid("malformed", "%q: no |type", truncate(line, 60))
	}
	value := parts[0]
	l.typ = parts[1]
	switch l.typ {
	case "c", "g", "ms", "h", "d":
	case "s":
		return l, invalid("unsupported_type", "%q: sets (|s) are not supported", truncate(line, 60))
	default:
		return l, invalid("bad_type", "%q: type %q is not c, g, ms, h or d", truncate(line, 60), l.typ)
	}
	if l.typ == "g" && (strings.HasPrefix(value, "+") || strings.HasPrefix(value, "-")) {
		l.relative = true
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return l, invalid("bad_value", "%q: value %q is not a number", truncate(line, 60), truncate(value, 20))
	}
	if l.typ == "c" && v < 0 {
		return l, invalid("bad_value", "%q: a counter cannot go down", truncate(line, 60))
	}
	if (l.typ == "ms" || l.typ == "h" || l.typ == "d") && v < 0 {
		return l, invalid("bad_value", "%q: a negative duration or size", truncate(line, 60))
	}
	l.value, l.rate = v, 1
	for _, p := range parts[2:] {
		switch {
		case strings.HasPrefix(p, "@"):
			r, err := strconv.ParseFloat(p[1:], 64)
			if err != nil || !(r > 0 && r <= 1) {
				return l, invalid("bad_rate", "%q: sample rate %q is not in (0, 1]", truncate(line, 60), p)
			}
			l.rate = r
		case strings.HasPrefix(p, "#"):
			for _, tag := range strings.Split(p[1:], ",") {
				if tag == "" {
					continue
				}
				k, v, _ := strings.Cut(tag, ":")
				k = sanitize(k)
				if k != "" && k[0] >= '0' && k[0] <= '9' {
					k = "_" + k // a label name cannot start with a digit
				}
				if k == "" || strings.HasPrefix(k, "__") {
					return l, invalid("bad_tag", "%q: tag %q has no usable name", truncate(line, 60), tag)
				}
				if k == labelKind || k == labelName {
					return l, invalid("bad_tag", "%q: tag %s is set by the adapter", truncate(line, 60), k)
				}
				l.tags = append(l.tags, labelPair{k, v})
			}
			if len(l.tags) > statsdMaxTags {
				return l, invalid("bad_tag", "%d tags are over the limit of %d", len(l.tags), statsdMaxTags)
			}
		case strings.HasPrefix(p, "c:"), strings.HasPrefix(p, "T"):
			// DogStatsD's container id and timestamp: ignored.
		default:
			return l, invalid("malformed", "%q: unknown field %q", truncate(line, 60), truncate(p, 20))
		}
	}
	return l, nil
}

// sanitize makes s a metric or label name's part: every character other than letters, digits
// and _ becomes _.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// statsdName maps a line to its metric name and labels: the first rule that matches, else the
// default names above.
func statsdName(l *statsdLine, rules []StatsdRule) (string, []labelPair) {
	labels := l.tags
	for i := range rules {
		r := &rules[i]
		m := r.re.FindStringSubmatchIndex(l.name)
		if m == nil {
			continue
		}
		expand := func(tmpl string) string {
			return string(r.re.ExpandString(nil, tmpl, l.name, m))
		}
		out := append([]labelPair(nil), labels...)
		for k, v := range r.Labels {
			out = append(out, labelPair{k, expand(v)})
		}
		return expand(r.Name), out
	}
	name := "app_" + sanitize(l.name)
	switch l.typ {
	case "c":
		if !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
	case "ms":
		if !strings.HasSuffix(name, "_seconds") {
			name += "_seconds"
		}
	}
	return name, labels
}

func familyType(typ string) string {
	switch typ {
	case "c":
		return "counter"
	case "g":
		return "gauge"
	}
	return "histogram"
}

type statsdSeries struct {
	desc   *prometheus.Desc
	labels []string
	typ    string
	value  float64 // counter, gauge
	counts []uint64
	count  uint64
	sum    float64
}

// statsdMetrics are the adapter's own counters about statsd input, shared by the statsd sources.
type statsdMetrics struct {
	packets, lines, invalid, dropped, kernelDrops *prometheus.CounterVec
}

func newStatsdMetrics() *statsdMetrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{labelName}, labels...))
	}
	return &statsdMetrics{
		packets:     c("podd_adapter_statsd_packets_total", "UDP packets received."),
		lines:       c("podd_adapter_statsd_lines_total", "Lines received (valid or not)."),
		invalid:     c("podd_adapter_statsd_invalid_lines_total", "Lines refused, by reason (malformed, bad_type, unsupported_type, bad_value, bad_rate, bad_tag, type_conflict, bad_name).", "reason"),
		dropped:     c("podd_adapter_statsd_dropped_lines_total", "Valid lines dropped because a new series would pass --statsd-max-series.", "reason"),
		kernelDrops: c("podd_adapter_statsd_dropped_packets_total", "Packets the kernel dropped because the socket's receive buffer was full (SO_RXQ_OVFL)."),
	}
}

func (m *statsdMetrics) vecs() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{m.packets, m.lines, m.invalid, m.dropped, m.kernelDrops}
}

func (m *statsdMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range m.vecs() {
		v.Describe(ch)
	}
}

func (m *statsdMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, v := range m.vecs() {
		v.Collect(ch)
	}
}

// statsdServer is one statsd source: its socket and its series.
type statsdServer struct {
	src     Source
	conn    *net.UDPConn
	metrics *statsdMetrics
	log     *slog.Logger
	rules   []StatsdRule
	max     int

	mu       sync.Mutex
	series   map[string]*statsdSeries
	families map[string]string // name → counter, gauge, histogram
	descs    map[string]*prometheus.Desc
	kdrops   uint32
	seriesG  *prometheus.Desc
}

func listenStatsd(src Source, m *statsdMetrics, log *slog.Logger) (*statsdServer, error) {
	addr, err := net.ResolveUDPAddr("udp", src.Addr)
	if err != nil {
		return nil, fmt.Errorf("--source %s: %w", src.Display, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("--source %s: %w", src.Display, err)
	}
	conn.SetReadBuffer(4 << 20) // the kernel caps it at net.core.rmem_max
	if raw, err := conn.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1) })
	}
	s := &statsdServer{src: src, conn: conn, metrics: m, log: log.With("app_kind", src.Kind, "app_name", src.Name),
		max: src.MaxSeries, series: map[string]*statsdSeries{}, families: map[string]string{}, descs: map[string]*prometheus.Desc{},
		seriesG: prometheus.NewDesc("podd_adapter_statsd_series", "Series held now (at most --statsd-max-series).", nil, prometheus.Labels{labelName: src.Name})}
	if src.Rules != nil {
		s.rules = src.Rules.Statsd
	}
	if s.max <= 0 {
		s.max = DefaultStatsdMaxSeries
	}
	for _, v := range []*prometheus.CounterVec{m.packets, m.lines, m.kernelDrops} {
		v.WithLabelValues(src.Name)
	}
	for _, reason := range []string{"malformed", "bad_type", "unsupported_type", "bad_value", "bad_rate", "bad_tag", "type_conflict", "bad_name"} {
		m.invalid.WithLabelValues(src.Name, reason)
	}
	m.dropped.WithLabelValues(src.Name, "series_limit")
	return s, nil
}

func (s *statsdServer) serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	buf := make([]byte, 65536)
	oob := make([]byte, 64)
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUDP(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("statsd read", "error", err.Error())
			continue
		}
		s.kernelDropped(oob[:oobn])
		s.metrics.packets.WithLabelValues(s.src.Name).Inc()
		s.handlePacket(buf[:n])
	}
}

// kernelDropped reads SO_RXQ_OVFL's cumulative drop count from a packet's control message.
func (s *statsdServer) kernelDropped(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			total := binary.NativeEndian.Uint32(m.Data)
			if d := total - s.kdrops; d > 0 && d < 1<<31 {
				s.metrics.kernelDrops.WithLabelValues(s.src.Name).Add(float64(d))
			}
			s.kdrops = total
		}
	}
}

func (s *statsdServer) handlePacket(p []byte) {
	for _, line := range strings.Split(string(p), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		s.metrics.lines.WithLabelValues(s.src.Name).Inc()
		if err := s.handleLine(line); err != nil {
			if err.reason == "series_limit" {
				s.metrics.dropped.WithLabelValues(s.src.Name, err.reason).Inc()
			} else {
				s.metrics.invalid.WithLabelValues(s.src.Name, err.reason).Inc()
			}
			s.log.Debug("statsd line refused", "reason", err.reason, "error", err.msg)
		}
	}
}

func (s *statsdServer) handleLine(line string) *lineError {
	l, lerr := parseStatsdLine(line)
	if lerr != nil {
		return lerr
	}
	name, labels := statsdName(&l, s.rules)
	if !metricNameRE.MatchString(name) || reservedNames[name] {
		return invalid("bad_name", "%q maps to %q, not a usable metric name", truncate(line, 60), name)
	}
	for _, lp := range labels {
		if !utf8.ValidString(lp.value) {
			return invalid("bad_tag", "%q: the value of %s is not UTF-8", truncate(line, 60), lp.name)
		}
	}
	sort.Slice(labels, func(i, j int) bool { return labels[i].name < labels[j].name })
	var key strings.Builder
	key.WriteString(name)
	for i, lp := range labels {
		if i > 0 && labels[i-1].name == lp.name {
			return invalid("bad_tag", "%q: tag %s twice", truncate(line, 60), lp.name)
		}
		key.WriteString("\xff" + lp.name + "\xfe" + lp.value)
	}
	ft := familyType(l.typ)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.families[name]; ok && t != ft {
		return invalid("type_conflict", "%q: %s is a %s", truncate(line, 60), name, t)
	}
	if t, ok := s.src.Rules.typeOf(name); ok && ft != t {
		return invalid("type_conflict", "%q: %s is a %s (common scheme or rules)", truncate(line, 60), name, t)
	}
	se := s.series[key.String()]
	if se == nil {
		if len(s.series) >= s.max {
			return invalid("series_limit", "%q: %d series already (--statsd-max-series)", truncate(line, 60), s.max)
		}
		names := make([]string, len(labels))
		values := make([]string, len(labels))
		for i, lp := range labels {
			names[i], values[i] = lp.name, lp.value
		}
		// Series of one name and label names share their Desc (most of a series' memory).
		dkey := name + "\xff" + strings.Join(names, "\xfe")
		desc := s.descs[dkey]
		if desc == nil {
			desc = prometheus.NewDesc(name, s.src.Rules.help(name, "statsd "+ft+" "+name+"."), names, prometheus.Labels{labelKind: s.src.Kind, labelName: s.src.Name})
			s.descs[dkey] = desc
		}
		se = &statsdSeries{typ: ft, labels: values, desc: desc}
		if ft == "histogram" {
			se.counts = make([]uint64, len(statsdBuckets))
		}
		s.series[key.String()] = se
		s.families[name] = ft
	}
	switch l.typ {
	case "c":
		se.value += l.value / l.rate
	case "g":
		if l.relative {
			se.value += l.value
		} else {
			se.value = l.value
		}
	default:
		v := l.value
		if l.typ == "ms" {
			v /= 1000
		}
		times := uint64(math.Round(1 / l.rate))
		se.count += times
		se.sum += v * float64(times)
		for i, b := range statsdBuckets {
			if v <= b {
				se.counts[i] += times
				break
			}
		}
	}
	return nil
}

func (s *statsdServer) Describe(chan<- *prometheus.Desc) {}

func (s *statsdServer) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(s.seriesG, prometheus.GaugeValue, float64(len(s.series)))
	for _, se := range s.series {
		var m prometheus.Metric
		var err error
		switch se.typ {
		case "counter":
			m, err = prometheus.NewConstMetric(se.desc, prometheus.CounterValue, se.value, se.labels...)
		case "gauge":
			m, err = prometheus.NewConstMetric(se.desc, prometheus.GaugeValue, se.value, se.labels...)
		default:
			buckets := make(map[float64]uint64, len(statsdBuckets))
			var cum uint64
			for i, b := range statsdBuckets {
				cum += se.counts[i]
				buckets[b] = cum
			}
			m, err = prometheus.NewConstHistogram(se.desc, se.count, se.sum, buckets, se.labels...)
		}
		if err != nil {
			// Never expected (handleLine checks what it keeps): one bad series is reported, the
			// others are served.
			m = prometheus.NewInvalidMetric(se.desc, err)
		}
		ch <- m
	}
}
