package scatter

import (
	"context"
	"flag"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func TestParseQuorum(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Quorum
		needOf  [2]int // need of total
		wantErr string
	}{
		{in: "8", want: Quorum{Count: 8}, needOf: [2]int{8, 10}},
		{in: "80%", want: Quorum{Fraction: 0.8}, needOf: [2]int{8, 10}},
		{in: "0.8", want: Quorum{Fraction: 0.8}, needOf: [2]int{8, 10}},
		{in: "100%", want: Quorum{Fraction: 1}, needOf: [2]int{10, 10}},
		{in: "1", want: Quorum{Count: 1}, needOf: [2]int{1, 10}},
		{in: "75%", want: Quorum{Fraction: 0.75}, needOf: [2]int{3, 3}}, // 2.25 rounds up
		{in: "0.7", want: Quorum{Fraction: 0.7}, needOf: [2]int{7, 10}}, // no float drift to 8
		{in: "10%", want: Quorum{Fraction: 0.1}, needOf: [2]int{1, 1}},
		{in: "12", want: Quorum{Count: 12}, needOf: [2]int{12, 10}}, // more than there are: fails
		{in: "", wantErr: "empty"},
		{in: "0", wantErr: "at least 1"},
		{in: "-3", wantErr: "at least 1"},
		{in: "0%", wantErr: "above 0"},
		{in: "120%", wantErr: "at most 100"},
		{in: "1.5", wantErr: "at most 1"},
		{in: "abc", wantErr: "whole number"},
		{in: "NaN%", wantErr: "percentage"},
	} {
		got, err := ParseQuorum(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseQuorum(%q) = %v, %v; want error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseQuorum(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if n := got.Need(tc.needOf[1]); n != tc.needOf[0] {
			t.Errorf("ParseQuorum(%q).Need(%d) = %d, want %d", tc.in, tc.needOf[1], n, tc.needOf[0])
		}
	}
}

func TestDecide(t *testing.T) {
	all, eight, two := Quorum{Fraction: 1}, Quorum{Count: 8}, Quorum{Count: 2}
	for _, tc := range []struct {
		answered, total int
		q               Quorum
		want            Outcome
	}{
		{10, 10, all, Complete},
		{9, 10, all, Failed},
		{9, 10, eight, Partial},
		{8, 10, eight, Partial},
		{7, 10, eight, Failed},
		{0, 0, all, Failed}, // no leaves at all is never a success
		{0, 0, Quorum{Fraction: 0.5}, Failed},
		{1, 1, two, Failed}, // fewer shards than the count
		{3, 3, Quorum{Fraction: 0.5}, Complete},
		{2, 3, Quorum{Fraction: 0.5}, Partial},
		{1, 3, Quorum{Fraction: 0.5}, Failed},
	} {
		if got := Decide(tc.answered, tc.total, tc.q); got != tc.want {
			t.Errorf("Decide(%d of %d, %v) = %s, want %s", tc.answered, tc.total, tc.q, got, tc.want)
		}
	}
}

// TestBudget: hedges never exceed ratio × primaries + the reserve, over any run.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		ratio     float64
		primaries int
		demand    int // hedges asked after each primary
		wantMax   int
	}{
		{0.05, 1000, 1, 50},
		{0.05, 10, 1, 0}, // 0.5 tokens: not one whole yet
		{0, 1000, 1, 0},
		{1, 100, 1, 100},
		{0.05, 100000, 1, 5000},
	} {
		b := &Budget{Ratio: tc.ratio, Max: budgetMax}
		sent := 0
		for range tc.primaries {
			b.Earn()
			for range tc.demand {
				if b.Spend() {
					sent++
				}
			}
		}
		if sent > tc.wantMax || (tc.wantMax > 0 && sent < tc.wantMax-1) {
			t.Errorf("ratio %v, %d primaries: %d hedges sent, want about %d", tc.ratio, tc.primaries, sent, tc.wantMax)
		}
	}
	// Saved up: at most Max after a long calm.
	b := &Budget{Ratio: 0.05, Max: budgetMax}
	for range 100000 {
		b.Earn()
	}
	n := 0
	for b.Spend() {
		n++
	}
	if n != budgetMax {
		t.Errorf("after a calm stretch, %d hedges in a burst, want %d", n, budgetMax)
	}
}

func TestWindowPercentile(t *testing.T) {
	w := NewWindow(100)
	if got := w.Percentile(95); got != 0 {
		t.Errorf("empty window: %v", got)
	}
	for i := 1; i <= 100; i++ {
		w.Add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := w.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	// The window slides: 100 new samples of 1 s replace the old ones entirely.
	for range 100 {
		w.Add(time.Second)
	}
	if got := w.Percentile(50); got != time.Second {
		t.Errorf("after sliding: p50 = %v, want 1s", got)
	}
	if w.Len() != 100 {
		t.Errorf("len %d, want 100", w.Len())
	}
}

func TestHedgeDelay(t *testing.T) {
	full := NewWindow(1000)
	for i := range 100 {
		full.Add(time.Duration(i+1) * time.Millisecond)
	}
	few := NewWindow(1000)
	for range 10 {
		few.Add(time.Millisecond)
	}
	fast := NewWindow(1000)
	for range 100 {
		fast.Add(10 * time.Microsecond)
	}
	for _, tc := range []struct {
		name   string
		policy HedgePolicy
		w      *Window
		want   time.Duration
		ok     bool
	}{
		{"learned p95", HedgePolicy{Percentile: 95, MinSamples: 50}, full, 95 * time.Millisecond, true},
		{"learned p50", HedgePolicy{Percentile: 50, MinSamples: 50}, full, 50 * time.Millisecond, true},
		{"too few samples: no hedge", HedgePolicy{Percentile: 95, MinSamples: 50}, few, 0, false},
		{"fixed, even with no samples", HedgePolicy{Fixed: 7 * time.Millisecond, Percentile: 95, MinSamples: 50}, few, 7 * time.Millisecond, true},
		{"floor", HedgePolicy{Percentile: 95, MinSamples: 50, Floor: time.Millisecond}, fast, time.Millisecond, true},
	} {
		got, ok := tc.policy.Delay(tc.w)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNextReplica(t *testing.T) {
	for _, tc := range []struct{ primary, n, want int }{{0, 1, 0}, {0, 2, 1}, {1, 2, 0}, {2, 3, 0}, {1, 3, 2}} {
		if got := nextReplica(tc.primary, tc.n); got != tc.want {
			t.Errorf("nextReplica(%d, %d) = %d, want %d", tc.primary, tc.n, got, tc.want)
		}
	}
}

func TestDeadlines(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		own     time.Duration
		header  string
		want    time.Duration
		wantErr bool
	}{
		{"own", time.Second, "", time.Second, false},
		{"caller's shorter wins", time.Second, "250", 250 * time.Millisecond, false},
		{"caller's longer does not", time.Second, "5000", time.Second, false},
		{"zero left", time.Second, "0", 0, false},
		{"garbage", time.Second, "soon", time.Second, true},
		{"negative", time.Second, "-5", time.Second, true},
	} {
		got, err := RequestDeadline(t0, tc.own, tc.header)
		if (err != nil) != tc.wantErr || got.Sub(t0) != tc.want {
			t.Errorf("%s: %v %v, want %v (error %v)", tc.name, got.Sub(t0), err, tc.want, tc.wantErr)
		}
	}
	req := t0.Add(time.Second)
	if got := LeafDeadline(t0, req, 100*time.Millisecond); got != t0.Add(100*time.Millisecond) {
		t.Errorf("leaf timeout shorter: %v", got)
	}
	if got := LeafDeadline(t0, req, 5*time.Second); got != req {
		t.Errorf("leaf timeout longer: %v", got)
	}
	if got := LeafDeadline(t0, req, 0); got != req {
		t.Errorf("no leaf timeout: %v", got)
	}
	if got := TimeoutMillis(t0, t0.Add(1500*time.Microsecond)); got != 1 {
		t.Errorf("TimeoutMillis 1.5ms = %d", got)
	}
	if got := TimeoutMillis(t0, t0.Add(-time.Second)); got != 1 {
		t.Errorf("TimeoutMillis past = %d", got)
	}
	if got := TimeoutMillis(t0, t0.Add(750*time.Millisecond)); got != 750 {
		t.Errorf("TimeoutMillis 750ms = %d", got)
	}
}

func TestParseEntries(t *testing.T) {
	for _, tc := range []struct {
		items   []string
		mode    Mode
		want    int // endpoints of the first entry
		wantErr string
	}{
		{items: []string{"leaf:8080"}, mode: Broadcast, want: 1},
		{items: []string{"a:80|b:80"}, mode: Partitioned, want: 2},
		{items: []string{"a:80|b:80"}, mode: Broadcast, wantErr: "only with --mode partitioned"},
		{items: nil, mode: Partitioned, wantErr: "at least one"},
		{items: []string{"leaf"}, mode: Partitioned, wantErr: `--leaves[0]: "leaf" is not host:port`},
		{items: []string{"a:80", ":80"}, mode: Partitioned, wantErr: "--leaves[1]"},
		{items: []string{"a:80", "a:80"}, mode: Partitioned, wantErr: "given twice"},
		{items: []string{"[::1]:80"}, mode: Broadcast, want: 1},
	} {
		got, err := ParseEntries(tc.items, tc.mode)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: %v, want error with %q", tc.items, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got[0].Endpoints) != tc.want {
			t.Errorf("%v: %v %v", tc.items, got, err)
		}
	}
}

// fakeDNS answers names from a table; a name not in it is NXDOMAIN, "broken" a server failure.
func fakeDNS(table map[string][]string) LookupFunc {
	return func(_ context.Context, host string) ([]string, error) {
		if host == "broken" {
			return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
		}
		if a, ok := table[host]; ok {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

func TestDiscover(t *testing.T) {
	dns := fakeDNS(map[string][]string{
		"leaves":  {"10.0.0.3", "10.0.0.1", "10.0.0.2"},
		"shard-a": {"10.0.1.2", "10.0.1.1"},
		"shard-b": {"10.0.2.1"},
		"extra-b": {"10.0.2.9", "10.0.2.1"},
	})
	names := func(s []Shard) string {
		var b []string
		for _, x := range s {
			e := ""
			if x.Err != nil {
				e = "!"
			}
			b = append(b, x.Name+"="+strings.Join(x.Replicas, "+")+e)
		}
		return strings.Join(b, " ")
	}
	for _, tc := range []struct {
		name  string
		items []string
		mode  Mode
		want  string
	}{
		{"broadcast: one leaf per address, sorted", []string{"leaves:8080"}, Broadcast,
			"10.0.0.1:8080=10.0.0.1:8080 10.0.0.2:8080=10.0.0.2:8080 10.0.0.3:8080=10.0.0.3:8080"},
		{"broadcast: NXDOMAIN is no leaf", []string{"leaves:8080", "gone:8080"}, Broadcast,
			"10.0.0.1:8080=10.0.0.1:8080 10.0.0.2:8080=10.0.0.2:8080 10.0.0.3:8080=10.0.0.3:8080"},
		{"broadcast: an address literal", []string{"127.0.0.1:9"}, Broadcast, "127.0.0.1:9=127.0.0.1:9"},
		{"broadcast: a failed lookup is one missing shard", []string{"broken:80"}, Broadcast, "broken:80=!"},
		{"partitioned: a shard per entry", []string{"shard-a:80", "shard-b:80"}, Partitioned,
			"shard-a:80=10.0.1.1:80+10.0.1.2:80 shard-b:80=10.0.2.1:80"},
		{"partitioned: names joined, duplicates once", []string{"shard-b:80|extra-b:80"}, Partitioned,
			"shard-b:80|extra-b:80=10.0.2.1:80+10.0.2.9:80"},
		{"partitioned: a shard with no ready pod stays, empty", []string{"shard-a:80", "gone:80"}, Partitioned,
			"shard-a:80=10.0.1.1:80+10.0.1.2:80 gone:80="},
		{"partitioned: a replica's name broken, the other answers", []string{"shard-b:80|broken:80"}, Partitioned,
			"shard-b:80|broken:80=10.0.2.1:80"},
	} {
		entries, err := ParseEntries(tc.items, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(Discover(context.Background(), dns, entries, tc.mode)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestDiscovererCache: with a ttl the addresses are reused until it passes; with none, every
// request sees the current ones (the scale-up case).
func TestDiscovererCache(t *testing.T) {
	table := map[string][]string{"leaves": {"10.0.0.1"}}
	lookup := func(ctx context.Context, host string) ([]string, error) { return fakeDNS(table)(ctx, host) }
	entries, _ := ParseEntries([]string{"leaves:80"}, Broadcast)
	t0 := time.Now()
	for _, tc := range []struct {
		ttl   time.Duration
		after time.Duration
		want  int
	}{{0, 0, 2}, {time.Second, 500 * time.Millisecond, 1}, {time.Second, 2 * time.Second, 2}} {
		table["leaves"] = []string{"10.0.0.1"}
		d := &discoverer{lookup: lookup, entries: entries, mode: Broadcast, ttl: tc.ttl}
		if n := len(d.shardsFor(context.Background(), t0)); n != 1 {
			t.Fatalf("first: %d", n)
		}
		table["leaves"] = []string{"10.0.0.1", "10.0.0.2"}
		if n := len(d.shardsFor(context.Background(), t0.Add(tc.after))); n != tc.want {
			t.Errorf("ttl %v, %v later: %d leaves, want %d", tc.ttl, tc.after, n, tc.want)
		}
	}
}

func TestConfigFromFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"--leaves", "a:80"}},
		{args: []string{"--leaves", "a:80,b:80", "--min-responses", "1", "--mode", "broadcast", "--merge", ""}},
		{args: []string{"--leaves", "a:80", "--mode", "ring"}, wantErr: "--mode"},
		{args: []string{"--leaves", "a"}, wantErr: "--leaves[0]"},
		{args: []string{"--leaves", "a:80", "--min-responses", "0"}, wantErr: "--min-responses"},
		{args: []string{"--leaves", "a:80", "--merge", "localhost:8080"}, wantErr: "--merge"},
		{args: []string{"--leaves", "a:80", "--deadline", "0s"}, wantErr: "--deadline"},
		{args: []string{"--leaves", "a:80", "--hedge-percentile", "100"}, wantErr: "--hedge-percentile"},
		{args: []string{"--leaves", "a:80", "--hedge-budget", "101"}, wantErr: "--hedge-budget"},
		{args: []string{"--leaves", "a:80", "--hedge-window", "10"}, wantErr: "--hedge-window"},
		{args: []string{"--leaves", "a:80", "--max-body-bytes", "0"}, wantErr: "--max-body-bytes"},
		{args: []string{"--leaves", "a:80", "--leaf-timeout", "-1s"}, wantErr: "--leaf-timeout"},
	} {
		set := flag.NewFlagSet("t", flag.ContinueOnError)
		cmd := Command()
		for _, f := range cmd.Flags {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := configFromFlags(cli.NewContext(cli.NewApp(), set, nil))
		if tc.wantErr == "" && err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%v: %v, want error naming %s", tc.args, err, tc.wantErr)
		}
	}
}

func TestShouldHedge(t *testing.T) {
	for _, tc := range []struct {
		answered, others int
		want             bool
	}{
		{0, 0, true},  // one shard: the delay alone decides
		{9, 9, true},  // the lone straggler of ten
		{5, 9, true},  // more than half answered
		{4, 9, false}, // most are late: a common cause
		{0, 9, false},
		{1, 1, true},
		{0, 1, false},
		{1, 2, true},
	} {
		if got := ShouldHedge(tc.answered, tc.others); got != tc.want {
			t.Errorf("ShouldHedge(%d of %d others) = %v, want %v", tc.answered, tc.others, got, tc.want)
		}
	}
	if got := RecheckAfter(8 * time.Millisecond); got != 2*time.Millisecond {
		t.Errorf("RecheckAfter(8ms) = %v", got)
	}
	if got := RecheckAfter(0); got != 250*time.Microsecond {
		t.Errorf("RecheckAfter(0) = %v", got)
	}
}

func TestNextUntried(t *testing.T) {
	for _, tc := range []struct {
		primary int
		tried   []bool
		want    int
		ok      bool
	}{
		{0, []bool{true}, 0, false},
		{0, []bool{true, false}, 1, true},
		{1, []bool{false, true}, 0, true},
		{1, []bool{false, true, false}, 2, true},
		{2, []bool{false, true, true}, 0, true},
		{0, []bool{true, true, true}, 0, false},
	} {
		got, ok := NextUntried(tc.primary, tc.tried)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NextUntried(%d, %v) = %d %v, want %d %v", tc.primary, tc.tried, got, ok, tc.want, tc.ok)
		}
	}
}
