package adapter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzStatsdPacket: whatever a packet holds, the adapter neither panics nor serves what
// Prometheus's registry refuses, and holds no more series than its limit.
func FuzzStatsdPacket(f *testing.F) {
	for _, seed := range []string{
		"hits:1|c\ntemp:-3|g\nlat:20|ms|@0.5|#route:/a",
		"db.s1.clients:3|g|#zone:a,b",
		"x:1|c|#k:\xff\xfe",
		"a.\xff.clients:1|g",
		"x:1|h|#" + "a:b,c:d",
		":|\n|:\n@#",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		s, _ := newTestStatsd(t, "statsd:\n- match: \"*.*.clients\"\n  name: app_connected_clients\n  labels: {shard: $2}\n", 50)
		s.handlePacket(packet)
		if len(s.series) > 50 {
			t.Fatalf("%d series, over the limit of 50", len(s.series))
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(s)
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather after %q: %v", packet, err)
		}
	})
}

// FuzzAppReplies: redis and memcached replies of any shape are parsed without panicking, and
// what they give is served.
func FuzzAppReplies(f *testing.F) {
	f.Add([]byte("$30\r\nredis_version:7\r\ndb0:keys=3,x=1\r\n\r\n"))
	f.Add([]byte("STAT version 1.6\r\nSTAT curr_items 4\r\nEND\r\n"))
	f.Add([]byte("$16\r\nredis_version:\xff\xfe\r\n"))
	f.Add([]byte("STAT version \xff\r\nEND\r\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		results := []*result{}
		if info, err := readRESP(bufio.NewReader(bytes.NewReader(reply))); err == nil {
			fields := parseRedisInfo(info)
			results = append(results, &result{samples: redisSamples(fields), version: fields["redis_version"]})
		}
		if fields, err := readMemcachedStats(bufio.NewReader(bytes.NewReader(reply))); err == nil {
			results = append(results, &result{samples: memcachedSamples(fields), version: fields["version"]})
		}
		for _, res := range results {
			tg := newTarget(Source{Kind: "redis", Name: "redis"}, fixedScraper{res}, DefaultScrapeTimeout, slog.New(slog.DiscardHandler))
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(tg)
			if _, err := reg.Gather(); err != nil {
				t.Fatalf("gather after %q: %v", reply, err)
			}
		}
	})
}

type fixedScraper struct{ res *result }

func (f fixedScraper) scrape(context.Context) (*result, error) {
	return f.res, nil
}

// FuzzRules: a rules document and a JSON document of any shape give samples or errors, never a
// panic.
func FuzzRules(f *testing.F) {
	f.Add([]byte("metrics:\n- name: x\n  path: $.a[*]\n  value: $.v\n  labels: {l: $.n}\n"), []byte(`{"a": [{"v": 1, "n": "q"}, {"v": "2", "n": 3}]}`))
	f.Add([]byte("metrics:\n- name: app_items\n  path: $..v\n"), []byte(`{"v": true, "w": {"v": null}}`))
	f.Fuzz(func(t *testing.T, rules, doc []byte) {
		r, err := ParseRules(rules)
		if err != nil {
			return
		}
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		applyRules(v, r.Metrics)
	})
}
