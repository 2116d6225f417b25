package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The scatter/gather part: the root (podd-patterns scatter-gather, the helper's own binary, as
// a process on the host's loopback) before 10 shards of 2 replicas each, in partitioned mode, and
// a merge that counts the answers. One replica of one shard is slow (sgSlow) for 5 % of its
// requests; the others answer after sgWork. One client, one request at a time (closed loop), so
// the figures are latencies, not throughput.
//
//   - unhedged: the root with --hedge=false; p99 is the slow leaf's, since 1 request in 40 meets
//     it (5 % of the half of shard 3's requests that go to the slow replica);
//   - hedged: --hedge (learned delay: p95 of the last 1000 leaf latencies, 5 % budget); extra
//     requests are counted at the leaves (requests beyond one per shard and client request);
//   - fan-out overhead: with no slow leaf and no hedging, the root's p50 minus the p50 of the
//     same client calling one replica of each of the 10 shards itself, concurrently, keep-alive,
//     in the same run. The root's figure includes its merge call on the loopback.
//
// Leaves, merge and client are goroutines of podbench, so they share the 2 CPUs with the root: the
// overhead is an upper bound on an idle host. Pod networking (veth, bridge) is not in the figures:
// it is the same for the root's and the direct client's requests.
const (
	sgShards   = 10
	sgReplicas = 2
	sgWork     = 2 * time.Millisecond
	sgSlow     = 50 * time.Millisecond
	sgSlowRate = 0.05
	sgWarmup   = 200
)

// sgResults are the part's figures, in results; the six keys the issue names are null when the
// part did not run.
type sgResults struct {
	SGP50Hedged        *float64 `json:"sg_p50_hedged_ms"`
	SGP99Hedged        *float64 `json:"sg_p99_hedged_ms"`
	SGP50Unhedged      *float64 `json:"sg_p50_unhedged_ms"`
	SGP99Unhedged      *float64 `json:"sg_p99_unhedged_ms"`
	SGExtraPct         *float64 `json:"sg_extra_requests_pct"`
	SGFanoutOverhead   *float64 `json:"sg_fanout_overhead_ms"`
	SGExtraUnhedgedPct float64  `json:"sg_extra_requests_unhedged_pct,omitempty"`
	SGDirectP50        float64  `json:"sg_direct_p50_ms,omitempty"`
	SGRootFastP50      float64  `json:"sg_root_no_slow_leaf_p50_ms,omitempty"`
	// The p99 with no slow leaf and no hedging: the tail the machine itself gives (its load),
	// below which no hedging can bring the hedged p99.
	SGRootFastP99  float64 `json:"sg_root_no_slow_leaf_p99_ms,omitempty"`
	SGRequests     int     `json:"sg_requests,omitempty"`
	SGSeconds      float64 `json:"sg_part_s,omitempty"`
	SGHedgeDelay   float64 `json:"sg_hedge_delay_ms,omitempty"`
	SGHedgesDenied float64 `json:"sg_hedges_denied,omitempty"`
	SGPercentile   int     `json:"sg_hedge_percentile,omitempty"`
}

// sgLeaf is one in-process leaf.
type sgLeaf struct {
	srv      *http.Server
	addr     string
	slow     atomic.Bool // slow for sgSlowRate of its requests
	requests atomic.Int64
}

func startSGLeaf() (*sgLeaf, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &sgLeaf{addr: ln.Addr().String()}
	l.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		d := sgWork
		if l.slow.Load() && rand.Float64() < sgSlowRate {
			d = sgSlow
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"n":1}`)
	})}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// sgRun is one configuration's figures.
type sgRun struct {
	p50, p99     float64
	extraPct     float64
	hedgeDelayMs float64 // the root's learned delay at the end
	denied       float64 // hedges the budget refused
}

func (b *bench) measureScatter(ctx context.Context) error {
	bin, err := filepath.Abs(b.opts.patternsBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (make patterns-image builds it)", err)
	}
	var leaves [][]*sgLeaf
	var items []string
	for range sgShards {
		var shard []*sgLeaf
		var addrs []string
		for range sgReplicas {
			l, err := startSGLeaf()
			if err != nil {
				return err
			}
			defer l.srv.Close()
			shard = append(shard, l)
			addrs = append(addrs, l.addr)
		}
		leaves = append(leaves, shard)
		items = append(items, strings.Join(addrs, "|"))
	}
	mergeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	merge := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})}
	go func() { _ = merge.Serve(mergeLn) }()
	defer merge.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 10 * time.Second}
	n := b.opts.sgRequests
	start := time.Now()

	total := func() int64 {
		var s int64
		for _, sh := range leaves {
			for _, l := range sh {
				s += l.requests.Load()
			}
		}
		return s
	}
	// runRoot starts a root with the given hedging, sends warm-up then n requests, and stops it.
	runRoot := func(hedge bool) (sgRun, error) {
		port, err := localPort()
		if err != nil {
			return sgRun{}, err
		}
		mport, err := localPort()
		if err != nil {
			return sgRun{}, err
		}
		args := []string{"scatter-gather", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--metrics-address", "127.0.0.1:" + strconv.Itoa(mport),
			"--mode", "partitioned", "--leaves", strings.Join(items, ","), "--merge", "http://" + mergeLn.Addr().String() + "/merge",
			"--deadline", "2s", "--hedge=" + strconv.FormatBool(hedge), "--hedge-percentile", strconv.Itoa(b.opts.sgPercentile)}
		logf, err := os.Create(filepath.Join(b.dir, fmt.Sprintf("scatter-root-hedge-%t.log", hedge)))
		if err != nil {
			return sgRun{}, err
		}
		defer logf.Close()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = io.Discard, logf
		if err := cmd.Start(); err != nil {
			return sgRun{}, err
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		url := fmt.Sprintf("http://127.0.0.1:%d/q", port)
		if err := waitHTTP(ctx, client, url); err != nil {
			return sgRun{}, fmt.Errorf("root: %w", err)
		}
		ask := func() (time.Duration, error) {
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return 0, fmt.Errorf("root: %s", resp.Status)
			}
			return time.Since(t0), nil
		}
		for range sgWarmup {
			if _, err := ask(); err != nil {
				return sgRun{}, err
			}
		}
		before := total()
		lat := make([]time.Duration, 0, n)
		for range n {
			d, err := ask()
			if err != nil {
				return sgRun{}, err
			}
			lat = append(lat, d)
		}
		// Hedges' losers are cancelled at once, but a leaf counts a request when it arrives: all
		// have arrived by the time the winner's answer is merged, except a hedge sent in the same
		// instant; a short pause lets those land.
		time.Sleep(100 * time.Millisecond)
		extra := float64(total()-before-int64(n*sgShards)) / float64(n*sgShards) * 100
		run := sgRun{p50: msPct(lat, 50), p99: msPct(lat, 99), extraPct: extra}
		if m, err := scrapeMetrics(client, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)); err == nil {
			run.hedgeDelayMs, run.denied = m["scatter_hedge_delay_seconds"]*1000, m["scatter_hedges_denied_total"]
		}
		return run, nil
	}
	// direct: the same client fans out to one replica per shard itself.
	direct := func() ([]time.Duration, error) {
		one := func() (time.Duration, error) {
			t0 := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, sgShards)
			for i, sh := range leaves {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := client.Get("http://" + sh[rand.IntN(len(sh))].addr + "/q")
					if err != nil {
						errs[i] = err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}()
			}
			wg.Wait()
			return time.Since(t0), errors.Join(errs...)
		}
		for range sgWarmup {
			if _, err := one(); err != nil {
				return nil, err
			}
		}
		lat := make([]time.Duration, 0, n)
		for range n {
			d, err := one()
			if err != nil {
				return nil, err
			}
			lat = append(lat, d)
		}
		return lat, nil
	}

	// The overhead first, with every leaf fast; then the slow leaf on.
	fast, err := runRoot(false)
	if err != nil {
		return fmt.Errorf("root, no slow leaf: %w", err)
	}
	dl, err := direct()
	if err != nil {
		return fmt.Errorf("direct fan-out: %w", err)
	}
	leaves[3][0].slow.Store(true)
	unhedged, err := runRoot(false)
	if err != nil {
		return fmt.Errorf("root, unhedged: %w", err)
	}
	hedged, err := runRoot(true)
	if err != nil {
		return fmt.Errorf("root, hedged: %w", err)
	}
	r := &b.res
	r.SGP50Hedged, r.SGP99Hedged = ptr(hedged.p50), ptr(hedged.p99)
	r.SGP50Unhedged, r.SGP99Unhedged = ptr(unhedged.p50), ptr(unhedged.p99)
	r.SGExtraPct = ptr(hedged.extraPct)
	r.SGExtraUnhedgedPct = unhedged.extraPct
	r.SGDirectP50 = msPct(dl, 50)
	r.SGRootFastP50, r.SGRootFastP99 = fast.p50, fast.p99
	r.SGFanoutOverhead = ptr(fast.p50 - r.SGDirectP50)
	r.SGRequests = n
	r.SGHedgeDelay, r.SGHedgesDenied, r.SGPercentile = hedged.hedgeDelayMs, hedged.denied, b.opts.sgPercentile
	r.SGSeconds = time.Since(start).Seconds()
	return nil
}

func msPct(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return float64(s[min(max(i, 0), len(s)-1)].Microseconds()) / 1000
}

// waitHTTP waits until url answers at all (any status).
func waitHTTP(ctx context.Context, c *http.Client, url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrapeMetrics reads the unlabelled series of a Prometheus text page.
func scrapeMetrics(c *http.Client, url string) (map[string]float64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !strings.HasPrefix(line, "#") && !strings.Contains(f[0], "{") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out, nil
}
