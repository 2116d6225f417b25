package adapter

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/patterns"
)

func samplesMap(s []sample) map[string]float64 {
	m := map[string]float64{}
	for _, x := range s {
		m[x.name] = x.value
	}
	return m
}

const redisInfo = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:59\r\n\r\n# Clients\r\nconnected_clients:3\r\n" +
	"# Memory\r\nused_memory:941552\r\nused_memory_human:919.48K\r\nmaxmemory:0\r\n" +
	"# Stats\r\ntotal_connections_received:14\r\ntotal_commands_processed:200\r\ntotal_net_input_bytes:56\r\n" +
	"total_net_output_bytes:14658\r\nevicted_keys:2\r\nkeyspace_hits:7\r\nkeyspace_misses:5\r\n" +
	"# CPU\r\nused_cpu_sys:0.015129\r\nused_cpu_user:0.011347\r\n" +
	"# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=10\r\n"

func TestRedisInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		info string
		want map[string]float64
	}{
		{"full", redisInfo, map[string]float64{
			"app_uptime_seconds": 59, "app_connected_clients": 3, "app_connections_total": 14,
			"app_commands_processed_total": 200, "app_memory_used_bytes": 941552, "app_memory_limit_bytes": 0,
			"app_items": 15, "app_hits_total": 7, "app_misses_total": 5, "app_evictions_total": 2,
			"app_network_receive_bytes_total": 56, "app_network_transmit_bytes_total": 14658,
			"app_cpu_user_seconds_total": 0.011347, "app_cpu_system_seconds_total": 0.015129,
		}},
		{"empty keyspace, LF only", "uptime_in_seconds:1\nconnected_clients:1\n# Keyspace\n", map[string]float64{
			"app_uptime_seconds": 1, "app_connected_clients": 1, "app_items": 0,
		}},
		{"garbage values are left out", "connected_clients:many\nuptime_in_seconds:\nnot a field\ndbx:keys=3\n", map[string]float64{
			"app_items": 0,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := samplesMap(redisSamples(parseRedisInfo(tc.info)))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	if v := parseRedisInfo(redisInfo)["redis_version"]; v != "7.0.15" {
		t.Errorf("redis_version = %q", v)
	}
}

func TestReadRESP(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"+OK\r\n", "OK", ""},
		{"$5\r\nhello\r\n", "hello", ""},
		{"$0\r\n\r\n", "", ""},
		{"$-1\r\n", "", ""},
		{"-NOAUTH Authentication required.\r\n", "", "redis: NOAUTH Authentication required."},
		{"$x\r\n", "", "bad bulk length"},
		{"$99999999\r\n", "", "over the limit"},
		{"$10\r\nshort", "", "unexpected EOF"},
		{":1\r\n", "", "unexpected reply"},
		{"", "", "unexpected EOF"},
	} {
		got, err := readRESP(bufio.NewReader(strings.NewReader(tc.in)))
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
		}
	}
}

func TestMemcachedStats(t *testing.T) {
	const stats = "STAT pid 1\r\nSTAT uptime 60\r\nSTAT version 1.6.18\r\nSTAT rusage_user 0.500000\r\n" +
		"STAT rusage_system 0.015120\r\nSTAT curr_connections 2\r\nSTAT total_connections 15\r\n" +
		"STAT cmd_get 10\r\nSTAT cmd_set 4\r\nSTAT cmd_flush 1\r\nSTAT cmd_touch 0\r\nSTAT get_hits 6\r\n" +
		"STAT get_misses 4\r\nSTAT delete_hits 1\r\nSTAT delete_misses 2\r\nSTAT incr_hits 3\r\nSTAT cas_hits 9\r\n" +
		"STAT bytes_read 104\r\nSTAT bytes_written 28783\r\nSTAT limit_maxbytes 67108864\r\nSTAT bytes 300\r\n" +
		"STAT curr_items 4\r\nSTAT evictions 0\r\nEND\r\n"
	for _, tc := range []struct {
		name string
		in   string
		want map[string]float64
		err  string
	}{
		{"full", stats, map[string]float64{
			"app_uptime_seconds": 60, "app_connected_clients": 2, "app_connections_total": 15,
			"app_commands_processed_total": 10 + 4 + 1 + 0 + 1 + 2 + 3, "app_memory_used_bytes": 300,
			"app_memory_limit_bytes": 67108864, "app_items": 4, "app_hits_total": 6, "app_misses_total": 4,
			"app_evictions_total": 0, "app_network_receive_bytes_total": 104, "app_network_transmit_bytes_total": 28783,
			"app_cpu_user_seconds_total": 0.5, "app_cpu_system_seconds_total": 0.01512,
		}, ""},
		{"empty", "END\r\n", map[string]float64{}, ""},
		{"error", "ERROR\r\n", nil, "unexpected reply"},
		{"server error", "SERVER_ERROR out of memory\r\n", nil, "unexpected reply"},
		{"no END", "STAT pid 1\r\n", nil, "unexpected EOF"},
		{"bad line", "STAT pid\r\nEND\r\n", nil, "bad STAT line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields, err := readMemcachedStats(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := samplesMap(memcachedSamples(fields)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// Every metric of the scheme is mapped for both kinds: the promise that the same names answer.
func TestSchemeCoveredByBothKinds(t *testing.T) {
	for _, st := range scheme {
		if _, ok := redisScheme[st.name]; !ok && st.name != "app_items" {
			t.Errorf("redis does not map %s", st.name)
		}
		if _, ok := memcachedScheme[st.name]; !ok && st.name != "app_commands_processed_total" {
			t.Errorf("memcached does not map %s", st.name)
		}
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Source
		err  string
	}{
		{in: "redis://127.0.0.1:6379", want: Source{Scheme: "redis", Kind: "redis", Name: "redis", Addr: "127.0.0.1:6379", Display: "redis://127.0.0.1:6379"}},
		{in: "redis://127.0.0.1", want: Source{Scheme: "redis", Kind: "redis", Name: "redis", Addr: "127.0.0.1:6379", Display: "redis://127.0.0.1:6379"}},
		{in: "cache=redis://:s3cret@localhost:7000", want: Source{Scheme: "redis", Kind: "redis", Name: "cache", Addr: "localhost:7000", Password: "s3cret", Display: "redis://localhost:7000"}},
		{in: "redis://bob:pw@[::1]:7000", want: Source{Scheme: "redis", Kind: "redis", Name: "redis", Addr: "[::1]:7000", User: "bob", Password: "pw", Display: "redis://[::1]:7000"}},
		{in: "memcached://127.0.0.1", want: Source{Scheme: "memcached", Kind: "memcached", Name: "memcached", Addr: "127.0.0.1:11211", Display: "memcached://127.0.0.1:11211"}},
		{in: "statsd://:9125", want: Source{Scheme: "statsd", Kind: "statsd", Name: "statsd", Addr: ":9125", Display: "statsd://:9125"}},
		{in: "web=http://127.0.0.1:8080/stats?x=1", want: Source{Scheme: "http", Kind: "http", Name: "web", URL: "http://127.0.0.1:8080/stats?x=1", Display: "http://127.0.0.1:8080/stats?x=1"}},
		{in: "127.0.0.1:6379", err: "scheme"},
		{in: "mysql://127.0.0.1", err: `scheme "mysql" is not one of`},
		{in: "redis://:6379", err: "a host is needed"},
		{in: "redis://127.0.0.1:6379/0", err: "host:port only"},
		{in: "memcached://u:p@127.0.0.1", err: "only redis takes a password"},
		{in: "Bad Name=redis://127.0.0.1", err: "must be lower-case"},
		{in: "http:///stats", err: "a host is needed"},
	} {
		got, err := ParseSource(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--source") {
				t.Errorf("%q: error %v, want one naming --source with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v\nwant %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestSources(t *testing.T) {
	rules, err := ParseRules([]byte("kind: nginx\nmetrics:\n- name: app_connected_clients\n  path: $.active\n"))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources([]string{"redis://127.0.0.1", "http://127.0.0.1:8080/", "statsd://:9125"}, rules, 10)
	if err != nil {
		t.Fatal(err)
	}
	if srcs[1].Kind != "nginx" || srcs[1].Name != "nginx" || srcs[1].Scheme != "http" {
		t.Errorf("http source with kind nginx: %+v", srcs[1])
	}
	if named, err := Sources([]string{"http=http://127.0.0.1:8080/"}, rules, 10); err != nil || named[0].Name != "http" || named[0].Kind != "nginx" {
		t.Errorf("an http source named http: %+v, %v", named, err)
	}
	for _, tc := range []struct {
		values []string
		rules  *Rules
		err    string
	}{
		{[]string{"redis://127.0.0.1", "redis://127.0.0.2"}, nil, `name "redis" is taken by redis://127.0.0.1:6379`},
		{[]string{"http://127.0.0.1:8080/"}, nil, "needs --rules"},
		{[]string{"http://127.0.0.1:8080/"}, &Rules{Kind: "http"}, "needs --rules"},
	} {
		if _, err := Sources(tc.values, tc.rules, 10); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: error %v, want %q", tc.values, err, tc.err)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		doc, err string
	}{
		{"metrics:\n- name: x\n  path: $.a\n  bogus: 1\n", "field bogus not found"},
		{"metrics:\n- name: 1x\n  path: $.a\n", `metrics[0]: name: "1x" is not a Prometheus metric name`},
		{"metrics:\n- name: app_up\n  path: $.a\n", "metrics[0]: name: app_up is the adapter's own"},
		{"metrics:\n- name: x\n  type: histogram\n  path: $.a\n", `metrics[0]: type: "histogram" must be gauge or counter`},
		{"metrics:\n- name: x\n", "metrics[0]: path: required"},
		{"metrics:\n- name: x\n  path: a.b\n", "metrics[0]: path:"},
		{"metrics:\n- name: x\n  path: $.a\n  value: $[\n", "metrics[0]: value:"},
		{"metrics:\n- name: x\n  path: $.a\n  labels: {app_kind: x}\n", "metrics[0]: labels: app_kind is set by the adapter"},
		{"metrics:\n- name: x\n  path: $.a\n  labels: {\"a-b\": x}\n", `metrics[0]: labels: "a-b" is not a label name`},
		{"metrics:\n- name: x\n  path: $.a\n  labels: {q: \"$[\"}\n", "metrics[0]: labels.q:"},
		{"metrics:\n- name: x\n  path: $.a\n- name: x\n  type: counter\n  path: $.b\n", "metrics[1].type: x is already a gauge"},
		{"kind: Bad\n", `kind: "Bad" must be`},
		{"metrics:\n- name: app_items\n  type: counter\n  path: $.a\n", "metrics[0]: type: app_items is a gauge in the common scheme"},
		{"metrics:\n- name: app_items\n  help: mine\n  path: $.a\n", "metrics[0]: help: app_items is of the common scheme"},
		{"metrics:\n- name: x\n  help: one\n  path: $.a\n- name: x\n  help: two\n  path: $.b\n", `metrics[1].help: x already has the help "one"`},
		{"statsd:\n- name: x\n", "statsd[0]: match: required"},
		{"statsd:\n- match: a.*\n  name: x_$2\n", "statsd[0]: name: $2 but match has 1 stars"},
		{"statsd:\n- match: a.*\n  name: x-y\n", `statsd[0]: name: "x-y" is not a Prometheus metric name`},
		{"statsd:\n- match: \"a:b\"\n  name: x\n", "statsd[0]: match:"},
		{"statsd:\n- match: a.*\n  name: x\n  labels: {app_name: $1}\n", "statsd[0]: labels: app_name is set by the adapter"},
	} {
		_, err := ParseRules([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want one with %q", tc.doc, err, tc.err)
		}
	}
	r, err := ParseRules(nil)
	if err != nil || r.Kind != "http" {
		t.Errorf("empty rules: %+v, %v", r, err)
	}
}

func TestApplyRules(t *testing.T) {
	const doc = `{"connections": {"active": 12, "total": "340"}, "up": true, "version": "1.2",
		"pools": [{"name": "a", "size": 3, "stats": {"busy": 1}}, {"name": "b", "size": 5, "stats": {"busy": 4}}, {"name": "c", "size": null}],
		"workers": [{"id": 1, "busy": 2}, {"id": 1, "busy": 3}]}`
	for _, tc := range []struct {
		name  string
		rules string
		want  []ruleSample
		errs  []string
	}{
		{"scalars", "metrics:\n- name: app_connected_clients\n  path: $.connections.active\n" +
			"- name: app_connections_total\n  type: counter\n  path: $.connections.total\n- name: ok\n  path: $.up\n",
			[]ruleSample{{0, []string{}, 12}, {1, []string{}, 340}, {2, []string{}, 1}}, nil},
		{"missing path gives nothing", "metrics:\n- name: x\n  path: $.nothing.here\n", nil, nil},
		{"objects with value and labels", "metrics:\n- name: pool_busy\n  path: $.pools[?@.stats]\n  value: $.stats.busy\n" +
			"  labels:\n    pool: $.name\n    tier: backend\n",
			[]ruleSample{{0, []string{"a", "backend"}, 1}, {0, []string{"b", "backend"}, 4}}, nil},
		{"null and object values are mapping errors", "metrics:\n- name: pool_size\n  path: $.pools[*].size\n- name: conns\n  path: $.connections\n",
			[]ruleSample{{0, []string{}, 3}},
			[]string{"pool_size: two samples with labels []", "pool_size: null is not a number", "conns: a object is not a number"}},
		{"string that is not a number", "metrics:\n- name: v\n  path: $.version\n- name: w\n  path: $.pools[0].name\n",
			[]ruleSample{{0, []string{}, 1.2}}, []string{`w: "a" is not a number`}},
		{"duplicate labels", "metrics:\n- name: busy\n  path: $.workers[*]\n  value: $.busy\n  labels: {id: $.id}\n",
			[]ruleSample{{0, []string{"1"}, 2}}, []string{"busy: two samples with labels [1]"}},
		{"label path selecting nothing", "metrics:\n- name: busy\n  path: $.workers[*]\n  value: $.busy\n  labels: {id: $.nope}\n",
			nil, []string{"busy: label id selected 0 nodes, not 1", "busy: label id selected 0 nodes, not 1"}},
		{"value path selecting nothing", "metrics:\n- name: busy\n  path: $.workers[*]\n  value: $.nope\n",
			nil, []string{"busy: value $.nope selected 0 nodes, not 1", "busy: value $.nope selected 0 nodes, not 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseRules([]byte(tc.rules))
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal([]byte(doc), &v); err != nil {
				t.Fatal(err)
			}
			got, errs := applyRules(v, rules.Metrics)
			if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("samples %+v\nwant %+v", got, tc.want)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if !reflect.DeepEqual(msgs, tc.errs) {
				t.Errorf("errors %q\nwant %q", msgs, tc.errs)
			}
		})
	}
}

func TestParseStatsdLine(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   statsdLine
		reason string
	}{
		{in: "hits:1|c", want: statsdLine{name: "hits", value: 1, typ: "c", rate: 1}},
		{in: "hits:2|c|@0.5", want: statsdLine{name: "hits", value: 2, typ: "c", rate: 0.5}},
		{in: "temp:-3.5|g", want: statsdLine{name: "temp", value: -3.5, typ: "g", rate: 1, relative: true}},
		{in: "temp:+2|g", want: statsdLine{name: "temp", value: 2, typ: "g", rate: 1, relative: true}},
		{in: "temp:7|g", want: statsdLine{name: "temp", value: 7, typ: "g", rate: 1}},
		{in: "req.time:320|ms|#route:/a,method:GET", want: statsdLine{name: "req.time", value: 320, typ: "ms", rate: 1,
			tags: []labelPair{{"route", "/a"}, {"method", "GET"}}}},
		{in: "size:10|h|#flag", want: statsdLine{name: "size", value: 10, typ: "h", rate: 1, tags: []labelPair{{"flag", ""}}}},
		{in: "size:10|d|c:abc|T1700000000", want: statsdLine{name: "size", value: 10, typ: "d", rate: 1}},
		{in: "x:1|c|#0zone:a,b-c:d", want: statsdLine{name: "x", value: 1, typ: "c", rate: 1, tags: []labelPair{{"_0zone", "a"}, {"b_c", "d"}}}},
		{in: "nocolon", reason: "malformed"},
		{in: ":1|c", reason: "malformed"},
		{in: "x:1", reason: "malformed"},
		{in: "x:1|c|weird", reason: "malformed"},
		{in: strings.Repeat("n", 251) + ":1|c", reason: "malformed"},
		{in: "x:1|s", reason: "unsupported_type"},
		{in: "x:1|q", reason: "bad_type"},
		{in: "x:abc|c", reason: "bad_value"},
		{in: "x:NaN|g", reason: "bad_value"},
		{in: "x:-1|c", reason: "bad_value"},
		{in: "x:-1|ms", reason: "bad_value"},
		{in: "x:1|c|@0", reason: "bad_rate"},
		{in: "x:1|c|@2", reason: "bad_rate"},
		{in: "x:1|c|@x", reason: "bad_rate"},
		{in: "x:1|c|#:v", reason: "bad_tag"},
		{in: "x:1|c|#app_kind:v", reason: "bad_tag"},
		{in: "x:1|c|#__x:v", reason: "bad_tag"},
		{in: "x:1|c|#" + strings.Repeat("a:b,", 17), reason: "bad_tag"},
	} {
		got, err := parseStatsdLine(tc.in)
		if tc.reason != "" {
			if err == nil || err.reason != tc.reason {
				t.Errorf("%q: error %v, want reason %s", truncate(tc.in, 40), err, tc.reason)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v\nwant %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestStatsdName(t *testing.T) {
	rules, err := ParseRules([]byte("statsd:\n- match: myapp.*.connections\n  name: app_connected_clients\n  labels: {shard: $1}\n" +
		"- match: myapp.requests\n  name: app_commands_processed_total\n- match: \"*.lat_*\"\n  name: app_$2_latency_seconds\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line   string
		name   string
		labels []labelPair
	}{
		{"myapp.s1.connections:3|g", "app_connected_clients", []labelPair{{"shard", "s1"}}},
		{"myapp.requests:1|c|#a:b", "app_commands_processed_total", []labelPair{{"a", "b"}}},
		{"web.lat_get:3|ms", "app_get_latency_seconds", nil},
		{"myapp.a.b.connections:3|g", "app_myapp_a_b_connections", nil},
		{"page-views:1|c", "app_page_views_total", nil},
		{"sent_total:1|c", "app_sent_total", nil},
		{"render:1|ms", "app_render_seconds", nil},
		{"size:1|h", "app_size", nil},
	} {
		l, lerr := parseStatsdLine(tc.line)
		if lerr != nil {
			t.Fatal(lerr)
		}
		name, labels := statsdName(&l, rules.Statsd)
		if name != tc.name || !reflect.DeepEqual(labels, tc.labels) {
			t.Errorf("%s: %s %v, want %s %v", tc.line, name, labels, tc.name, tc.labels)
		}
	}
}

// gather returns the registry's families by name.
func gather(t *testing.T, c ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, x := range c {
		reg.MustRegister(x)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func newTestStatsd(t *testing.T, rules string, max int) (*statsdServer, *statsdMetrics) {
	t.Helper()
	r, err := ParseRules([]byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	m := newStatsdMetrics()
	s, err := listenStatsd(Source{Scheme: "statsd", Kind: "statsd", Name: "statsd", Addr: "127.0.0.1:0", Display: "statsd", Rules: r, MaxSeries: max}, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s, m
}

func counterValue(t *testing.T, v *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestStatsdSeries(t *testing.T) {
	s, m := newTestStatsd(t, "", 4)
	s.handlePacket([]byte("hits:1|c\nhits:1|c|@0.25\ntemp:10|g\ntemp:-3|g\nlat:20|ms\nlat:3000|ms|@0.5\n" +
		"temp:1|h\nbad line\nx:1|s\n" + // type conflict, malformed, unsupported
		"new:1|c\nnewer:1|c\r\n")) // the 4th series fits, the 5th is over the limit
	fams := gather(t, s)
	if v := fams["app_hits_total"].Metric[0].GetCounter().GetValue(); v != 5 {
		t.Errorf("hits = %v, want 1 + 1/0.25", v)
	}
	if v := fams["app_temp"].Metric[0].GetGauge().GetValue(); v != 7 {
		t.Errorf("temp = %v, want 10-3", v)
	}
	h := fams["app_lat_seconds"].Metric[0].GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != 0.02+2*3 {
		t.Errorf("lat: count %d sum %v, want 3 and 6.02", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 0.02 {
			want = 1
		}
		if b.GetUpperBound() >= 3 {
			want = 3
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("lat bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if fams["app_new_total"] == nil || fams["app_newer_total"] != nil {
		t.Errorf("series limit 4: new %v, newer %v", fams["app_new_total"], fams["app_newer_total"])
	}
	if v := fams["podd_adapter_statsd_series"].Metric[0].GetGauge().GetValue(); v != 4 {
		t.Errorf("series = %v, want 4", v)
	}
	for reason, want := range map[string]float64{"type_conflict": 1, "malformed": 1, "unsupported_type": 1, "bad_value": 0} {
		if got := counterValue(t, m.invalid, "statsd", reason); got != want {
			t.Errorf("invalid %s = %v, want %v", reason, got, want)
		}
	}
	if got := counterValue(t, m.dropped, "statsd", "series_limit"); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	if got := counterValue(t, m.lines, "statsd"); got != 11 {
		t.Errorf("lines = %v, want 11", got)
	}
}

// Tags and rules make labels; series of one name with different label names are served side by
// side, and a rule can name a statsd metric into the scheme.
func TestStatsdLabels(t *testing.T) {
	s, m := newTestStatsd(t, "metrics:\n- name: app_jobs\n  path: $.jobs\n"+
		"statsd:\n- match: db.*.clients\n  name: app_connected_clients\n  labels: {shard: $1}\n", 100)
	s.handlePacket([]byte("db.s1.clients:3|g\ndb.s2.clients:4|g|#zone:a\nreq:1|c|#b:2,a:1\nreq:1|c|#a:1,b:2\nreq:1|c|#a:1,a:2\n" +
		"jobs:1|h\n")) // app_jobs is a rules' gauge: a histogram of that name is refused
	if got := counterValue(t, m.invalid, "statsd", "type_conflict"); got != 1 {
		t.Errorf("type conflicts = %v, want 1 (jobs:1|h)", got)
	}
	fams := gather(t, s)
	got := map[string]float64{}
	for _, m := range fams["app_connected_clients"].Metric {
		var parts []string
		for _, l := range m.Label {
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
		got[strings.Join(parts, ",")] = m.GetGauge().GetValue()
	}
	want := map[string]float64{
		"app_kind=statsd,app_name=statsd,shard=s1":        3,
		"app_kind=statsd,app_name=statsd,shard=s2,zone=a": 4,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if r := fams["app_req_total"].Metric; len(r) != 1 || r[0].GetCounter().GetValue() != 2 {
		t.Errorf("req: tags in any order are one series: %v", r)
	}
}

// hungListener accepts connections and never answers: an application that hangs.
func hungListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// startAdapter runs an adapter in this process until the test ends.
func startAdapter(t *testing.T, opts Options) *Adapter {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.ScrapeTimeout == 0 {
		opts.ScrapeTimeout = DefaultScrapeTimeout
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = time.Hour
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("adapter: %v", err)
		}
	})
	return a
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metricValue finds a series' value in a /metrics body.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in:\n%s", series, body)
	return 0
}

// A hung application gives app_up 0 and a timeout error, and /metrics answers: the scrape's
// deadline holds. /readyz says why the application is not ready; /healthz is the adapter's own.
func TestHungApplication(t *testing.T) {
	for _, kind := range []string{"redis", "memcached"} {
		t.Run(kind, func(t *testing.T) {
			src, err := ParseSource(kind + "://" + hungListener(t))
			if err != nil {
				t.Fatal(err)
			}
			a := startAdapter(t, Options{Sources: []Source{src}, ScrapeTimeout: 200 * time.Millisecond})
			base := "http://" + a.Addr().String()
			code, body := httpGet(t, base+"/metrics")
			if code != 200 {
				t.Fatalf("/metrics: %d %s", code, body)
			}
			labels := `{app_kind="` + kind + `",app_name="` + kind + `"}`
			if v := metricValue(t, body, "app_up"+labels); v != 0 {
				t.Errorf("app_up = %v, want 0", v)
			}
			if v := metricValue(t, body, `app_scrape_errors_total{app_kind="`+kind+`",app_name="`+kind+`",reason="timeout"}`); v < 1 {
				t.Errorf("timeouts = %v, want at least 1", v)
			}
			if strings.Contains(body, "app_connected_clients") {
				t.Errorf("a failed scrape serves stale values:\n%s", body)
			}
			code, body = httpGet(t, base+"/readyz")
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "no answer within the scrape timeout of 200ms") {
				t.Errorf("/readyz: %d %q", code, body)
			}
			if code, body = httpGet(t, base+"/healthz"); code != 200 {
				t.Errorf("/healthz: %d %q", code, body)
			}
			if code, _ = httpGet(t, base+"/readyz?app=nope"); code != http.StatusNotFound {
				t.Errorf("/readyz?app=nope: %d", code)
			}
		})
	}
}

// fakeMemcached answers every "stats" on ln with a few lines, until the test ends.
func fakeMemcached(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "STAT version 9.9\r\nSTAT curr_connections 3\r\nEND\r\n")
			}()
		}
	}()
}

// A name of the scheme made by memcached, by a JSON rule and by a statsd mapping is one family
// on /metrics: all three samples are served (two helps for one name made Prometheus's registry
// drop the odd ones).
func TestOneFamilyAcrossSources(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fakeMemcached(t, ln)
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"clients": 5}`)
	})}
	wl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go web.Serve(wl)
	t.Cleanup(func() { web.Close() })
	rules, err := ParseRules([]byte("metrics:\n- name: app_connected_clients\n  path: $.clients\n" +
		"statsd:\n- match: \"*.clients\"\n  name: app_connected_clients\n  labels: {shard: $1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources([]string{"memcached://" + ln.Addr().String(), "http://" + wl.Addr().String() + "/", "statsd://127.0.0.1:0"}, rules, 100)
	if err != nil {
		t.Fatal(err)
	}
	a := startAdapter(t, Options{Sources: srcs})
	c, err := net.Dial("udp", a.StatsdAddr(0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var body string
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(body, `app_connected_clients{app_kind="statsd"`) && time.Now().Before(deadline) {
		c.Write([]byte("eu.clients:2|g\nbad.clients:1|c\n"))
		time.Sleep(20 * time.Millisecond)
		_, body = httpGet(t, "http://"+a.Addr().String()+"/metrics")
	}
	for _, want := range []string{
		`app_connected_clients{app_kind="memcached",app_name="memcached"} 3`,
		`app_connected_clients{app_kind="http",app_name="http"} 5`,
		`app_connected_clients{app_kind="statsd",app_name="statsd",shard="eu"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	// A counter line mapped onto the scheme's gauge is refused, not served as a second type.
	if v := metricValue(t, body, `podd_adapter_statsd_invalid_lines_total{app_name="statsd",reason="type_conflict"}`); v < 1 {
		t.Errorf("type conflicts = %v, want at least 1", v)
	}
}

// A refused connection is an error (not a timeout); the application coming back makes it ready.
func TestRefusedApplication(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	src, _ := ParseSource("memcached://" + addr)
	a := startAdapter(t, Options{Sources: []Source{src}})
	base := "http://" + a.Addr().String()
	_, body := httpGet(t, base+"/metrics")
	if metricValue(t, body, `app_up{app_kind="memcached",app_name="memcached"}`) != 0 ||
		metricValue(t, body, `app_scrape_errors_total{app_kind="memcached",app_name="memcached",reason="error"}`) < 1 {
		t.Errorf("refused: %s", body)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	fakeMemcached(t, ln)
	_, body = httpGet(t, base+"/metrics")
	for _, want := range []string{
		`app_up{app_kind="memcached",app_name="memcached"} 1`,
		`app_connected_clients{app_kind="memcached",app_name="memcached"} 3`,
		`app_info{app_kind="memcached",app_name="memcached",version="9.9"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	if code, body := httpGet(t, base+"/readyz?app=memcached"); code != 200 {
		t.Errorf("/readyz: %d %q", code, body)
	}
}

// An http source maps its JSON with the rules; a non-2xx answer or a body that is not JSON is a
// failed scrape.
func TestHTTPSource(t *testing.T) {
	status, body := 200, `{"clients": {"active": 4}, "queues": [{"name": "q1", "len": 2}, {"name": "q2", "len": "x"}]}`
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rules, err := ParseRules([]byte("kind: myapp\nmetrics:\n- name: app_connected_clients\n  path: $.clients.active\n" +
		"- name: app_queue_length\n  help: Items waiting.\n  path: $.queues[*]\n  value: $.len\n  labels: {queue: $.name}\n"))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources([]string{"http://" + ln.Addr().String() + "/stats"}, rules, 10)
	if err != nil {
		t.Fatal(err)
	}
	a := startAdapter(t, Options{Sources: srcs})
	base := "http://" + a.Addr().String()
	_, got := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`app_up{app_kind="myapp",app_name="myapp"} 1`,
		`app_connected_clients{app_kind="myapp",app_name="myapp"} 4`,
		"# HELP app_connected_clients Client connections open now.",
		`app_queue_length{app_kind="myapp",app_name="myapp",queue="q1"} 2`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, got)
		}
	}
	// q2's "x" is not a number: one mapping error a scrape (the prober may have scraped too).
	if n := metricValue(t, got, `app_scrape_errors_total{app_kind="myapp",app_name="myapp",reason="mapping"}`); n < 1 {
		t.Errorf("mapping errors = %v, want at least 1", n)
	}
	for _, tc := range []struct {
		status int
		body   string
	}{{500, `{}`}, {200, `not json`}} {
		status, body = tc.status, tc.body
		_, got = httpGet(t, base+"/metrics")
		if !strings.Contains(got, `app_up{app_kind="myapp",app_name="myapp"} 0`) {
			t.Errorf("%d %q: app_up is not 0:\n%s", tc.status, tc.body, got)
		}
	}
}

// Bad options are refused with the flag's name, and nothing is left listening.
func TestNewErrors(t *testing.T) {
	src, _ := ParseSource("redis://127.0.0.1:1")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	st, _ := ParseSource("statsd://127.0.0.1:0")
	for _, tc := range []struct {
		opts Options
		err  string
	}{
		{Options{Sources: []Source{src}, ScrapeTimeout: 0, ProbeInterval: time.Second}, "--scrape-timeout"},
		{Options{Sources: []Source{src}, ScrapeTimeout: time.Second}, "--probe-interval"},
		{Options{ScrapeTimeout: time.Second, ProbeInterval: time.Second}, "--source: at least one"},
		{Options{Sources: []Source{st, src}, Listen: busy.Addr().String(), ScrapeTimeout: time.Second, ProbeInterval: time.Second}, "--listen"},
	} {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("error %v, want %q", err, tc.err)
		}
	}
}

// The example's rules file (specs/examples/adapter/rules.yaml) stays valid.
func TestExampleRules(t *testing.T) {
	r, err := LoadRules("../../../specs/examples/adapter/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != "shop" || len(r.Metrics) != 3 || len(r.Statsd) != 1 {
		t.Errorf("rules: %+v", r)
	}
}

// The example pod (specs/patterns/adapter.yaml) is a valid pod for podd, its annotations expand
// into the native sidecar podd-adapter, and that sidecar's flags parse.
func TestExamplePod(t *testing.T) {
	data, err := os.ReadFile("../../../specs/patterns/adapter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := manifest.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	pods, err = patterns.ExpandPods(pods, patterns.Options{Image: "localhost/podd/patterns:dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || len(pods[0].Spec.InitContainers) != 1 {
		t.Fatalf("want one pod with one init container (the injected adapter): %+v", pods)
	}
	sidecar := pods[0].Spec.InitContainers[0]
	if sidecar.Name != "podd-adapter" || sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != "Always" {
		t.Fatalf("the adapter is not a native sidecar: %+v", sidecar)
	}
	opts := parseFlags(t, sidecar.Args...)
	if len(opts.Sources) != 2 || opts.Sources[0].Name != "cache" || opts.Sources[1].Kind != "memcached" {
		t.Errorf("sources: %+v", opts.Sources)
	}
}

// parseFlags runs the command's flag parsing on args ("adapter" first) and returns its options.
func parseFlags(t *testing.T, args ...string) Options {
	t.Helper()
	cmd := Command()
	var opts Options
	cmd.Action = func(c *cli.Context) error {
		var err error
		opts, err = optionsFromFlags(c)
		return err
	}
	app := &cli.App{Name: "podd-patterns", Commands: []*cli.Command{cmd}, Flags: []cli.Flag{&cli.BoolFlag{Name: "debug"}}}
	if err := app.Run(append([]string{"podd-patterns"}, args...)); err != nil {
		t.Fatal(err)
	}
	return opts
}

// Every setting is a flag with a default; --source takes a comma-separated list too (the
// annotation form adapter.podd.io/source: "a,b").
func TestFlags(t *testing.T) {
	opts := parseFlags(t, "adapter", "--source=cache=redis://127.0.0.1:6379,memcached://127.0.0.1")
	if opts.Listen != ":9466" || opts.ScrapeTimeout != 2*time.Second || opts.ProbeInterval != 5*time.Second {
		t.Errorf("defaults: %+v", opts)
	}
	if len(opts.Sources) != 2 || opts.Sources[0].Name != "cache" || opts.Sources[1].Addr != "127.0.0.1:11211" ||
		opts.Sources[0].MaxSeries != DefaultStatsdMaxSeries {
		t.Errorf("sources: %+v", opts.Sources)
	}
}

// blockingScraper answers once release is closed, and counts its scrapes.
type blockingScraper struct {
	mu      sync.Mutex
	calls   int
	release chan struct{}
}

func (b *blockingScraper) scrape(ctx context.Context) (*result, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	select {
	case <-b.release:
		return &result{samples: []sample{{"app_items", 1}}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Concurrent scrapes of one application share one request to it.
func TestConcurrentScrapesShareOne(t *testing.T) {
	b := &blockingScraper{release: make(chan struct{})}
	tg := newTarget(Source{Kind: "redis", Name: "redis"}, b, time.Hour, slog.New(slog.DiscardHandler))
	const n = 8
	outs := make(chan *outcome, n)
	for range n {
		go func() { outs <- tg.scrape() }()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		tg.mu.Lock()
		waiting := 0
		if tg.inflight != nil {
			waiting = tg.inflight.waiters
		}
		tg.mu.Unlock()
		if waiting == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d scrapes wait on the call in flight", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(b.release)
	for range n {
		if out := <-outs; out.err != nil {
			t.Errorf("scrape: %v", out.err)
		}
	}
	if b.calls != 1 {
		t.Errorf("%d scrapes of the application, want 1", b.calls)
	}
}

// Packets the kernel drops while the socket's buffer is full are counted (SO_RXQ_OVFL): the
// buffer is made small and filled before the adapter reads.
func TestStatsdKernelDrops(t *testing.T) {
	s, m := newTestStatsd(t, "", 100)
	s.conn.SetReadBuffer(1) // the kernel's minimum
	c, err := net.Dial("udp", s.conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 500 {
		c.Write([]byte("x:1|c"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The kernel tells the drop count with the packets queued after the drops: send more.
	deadline := time.Now().Add(time.Minute)
	sent := 500
	for counterValue(t, m.kernelDrops, "statsd") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no kernel drop counted; %v packets read", counterValue(t, m.packets, "statsd"))
		}
		c.Write([]byte("x:1|c"))
		sent++
		time.Sleep(10 * time.Millisecond)
	}
	got, packets := counterValue(t, m.kernelDrops, "statsd"), counterValue(t, m.packets, "statsd")
	if got+packets > float64(sent) {
		t.Errorf("kernel drops %v + packets read %v > %d sent", got, packets, sent)
	}
}

func TestPasswordFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srcs := func() []Source {
		s, err := Sources([]string{"a=redis://127.0.0.1", "b=redis://:given@127.0.0.1", "memcached://127.0.0.1"}, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := srcs()
	if err := passwordFromFile(s, write("ok", "pw\r\nignored\n")); err != nil {
		t.Fatal(err)
	}
	if s[0].Password != "pw" || s[1].Password != "given" || s[2].Password != "" {
		t.Errorf("passwords: %q %q %q", s[0].Password, s[1].Password, s[2].Password)
	}
	for _, tc := range []struct {
		path, err string
	}{
		{dir + "/missing", "--redis-password-file: open"},
		{write("empty", "\nx\n"), "first line is empty"},
	} {
		if err := passwordFromFile(srcs(), tc.path); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.path, err, tc.err)
		}
	}
	only, _ := Sources([]string{"memcached://127.0.0.1"}, nil, 10)
	if err := passwordFromFile(only, write("pw", "pw")); err == nil || !strings.Contains(err.Error(), "no redis --source") {
		t.Errorf("no redis source: %v", err)
	}
}

// A hung application is logged once when it stops answering, not at every scrape (each timeout's
// message names another local port).
func TestHungApplicationLoggedOnce(t *testing.T) {
	src, err := ParseSource("redis://" + hungListener(t))
	if err != nil {
		t.Fatal(err)
	}
	var logs hosttest.Buffer
	a := startAdapter(t, Options{Sources: []Source{src}, ScrapeTimeout: 50 * time.Millisecond,
		ProbeInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	deadline := time.Now().Add(time.Minute)
	for {
		_, body := httpGet(t, "http://"+a.Addr().String()+"/metrics")
		if metricValue(t, body, `app_scrape_errors_total{app_kind="redis",app_name="redis",reason="timeout"}`) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 4 timeouts in a minute:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "application scrape failed: app_up 0"); n != 1 {
		t.Errorf("%d warnings for one hung application, want 1:\n%s", n, logs.String())
	}
}

// A tag value that is not UTF-8 is refused (bad_tag): kept, it made every later scrape panic in
// Prometheus's MustNewConstMetric, so one packet crashed the adapter.
func TestStatsdInvalidUTF8(t *testing.T) {
	s, m := newTestStatsd(t, "statsd:\n- match: \"*.clients\"\n  name: app_connected_clients\n  labels: {shard: $1}\n", 10)
	s.handlePacket([]byte("x:1|c|#k:\xff\xfe\n\xff.clients:1|g\nok:1|c|#k:v\n"))
	if got := counterValue(t, m.invalid, "statsd", "bad_tag"); got != 2 {
		t.Errorf("bad_tag = %v, want 2", got)
	}
	if fams := gather(t, s); fams["app_ok_total"] == nil {
		t.Errorf("the valid line is not served: %v", fams)
	}
}
