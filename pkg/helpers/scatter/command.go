package scatter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// Defaults of the flags.
const (
	DefaultListen  = ":9480"
	DefaultMetrics = ":9481"
	DefaultMerge   = "http://127.0.0.1:8080/merge"
)

// Command is `podd-patterns scatter-gather`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "scatter-gather",
		Usage: "the root of a scatter/gather: fans a request out to leaves found by DNS, hedges, merges through the pod's merge endpoint",
		Description: "Leaves are the addresses that --leaves names resolve to (a Service's name resolves to its ready pods),\n" +
			"looked up for every request (or every --resolve-ttl). See specs/patterns/scatter-gather.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port where clients send requests (any path)"},
			&cli.StringFlag{Name: "metrics-address", Value: DefaultMetrics, Usage: "host:port of /metrics, /healthz and /leaves (each leaf's recent latency)"},
			&cli.StringFlag{Name: "mode", Value: string(Partitioned), Usage: "partitioned (each --leaves item is a shard, its addresses the shard's replicas) or broadcast (each address is a leaf)"},
			&cli.StringSliceFlag{Name: "leaves", Usage: "host:port of the leaves, repeat or comma-separate; partitioned: one item per shard, several names of one shard joined by |", Required: true},
			&cli.StringFlag{Name: "merge", Value: DefaultMerge, Usage: "URL the answers are POSTed to (the merge container, on localhost); empty: the client gets the merge input itself"},
			&cli.DurationFlag{Name: "deadline", Value: time.Second, Usage: "a request's overall deadline (a caller's shorter " + TimeoutHeader + " wins)"},
			&cli.DurationFlag{Name: "leaf-timeout", Usage: "each shard's own timeout, from its first request (default: the deadline)"},
			&cli.DurationFlag{Name: "merge-timeout", Value: time.Second, Usage: "the merge call's timeout"},
			&cli.StringFlag{Name: "min-responses", Value: "100%", Usage: "shards that must answer: a count (8), a percentage (80%) or a fraction (0.8); fewer: the request fails; fewer than all: partial"},
			&cli.BoolFlag{Name: "stop-at-min", Usage: "answer as soon as --min-responses shards have, cancelling the others (they are flagged missing: cancelled)"},
			&cli.BoolFlag{Name: "hedge", Value: true, Usage: "hedge a shard's request to another replica after the hedge delay (partitioned mode)"},
			&cli.DurationFlag{Name: "hedge-delay", Usage: "a fixed hedge delay (default: learned, the --hedge-percentile of recent leaf latencies)"},
			&cli.IntFlag{Name: "hedge-percentile", Value: 95, Usage: "the learned hedge delay's percentile of recent leaf latencies (50 to 99)"},
			&cli.DurationFlag{Name: "hedge-min-delay", Value: time.Millisecond, Usage: "the learned hedge delay's floor"},
			&cli.IntFlag{Name: "hedge-budget", Value: 5, Usage: "hedges at most this percentage of the primary requests (plus a reserve of 10), 0 to 100"},
			&cli.IntFlag{Name: "hedge-window", Value: 1000, Usage: "leaf latencies the learned delay is taken from (the last ones); no hedge before 50 of them"},
			&cli.DurationFlag{Name: "resolve-ttl", Usage: "reuse the leaves' addresses this long (default 0: resolved for every request, so a scale-up joins the next one)"},
			&cli.IntFlag{Name: "max-body-bytes", Value: 8 << 20, Usage: "the largest request, leaf answer or merge answer"},
		},
		Action: run,
	}
}

// ConfigFromFlags checks the flags; every error names its flag.
func configFromFlags(c *cli.Context) (Config, error) {
	cfg := Config{
		Mode: Mode(c.String("mode")), Merge: c.String("merge"), Deadline: c.Duration("deadline"), LeafTimeout: c.Duration("leaf-timeout"),
		MergeTimeout: c.Duration("merge-timeout"), StopAtQuorum: c.Bool("stop-at-min"), Hedge: c.Bool("hedge"),
		HedgePolicy: HedgePolicy{Fixed: c.Duration("hedge-delay"), Percentile: float64(c.Int("hedge-percentile")), Floor: c.Duration("hedge-min-delay"), MinSamples: minSamples},
		HedgeBudget: float64(c.Int("hedge-budget")) / 100, Window: c.Int("hedge-window"), ResolveTTL: c.Duration("resolve-ttl"), MaxBody: int64(c.Int("max-body-bytes")),
	}
	return cfg, checkConfig(&cfg, c.StringSlice("leaves"), c.String("min-responses"), c.Int("hedge-percentile"), c.Int("hedge-budget"))
}

// minSamples: no learned hedge before this many leaf latencies.
const minSamples = 50

func checkConfig(cfg *Config, leaves []string, minResponses string, percentile, budget int) error {
	if cfg.Mode != Partitioned && cfg.Mode != Broadcast {
		return fmt.Errorf("--mode: %q must be partitioned or broadcast", cfg.Mode)
	}
	var err error
	if cfg.Entries, err = ParseEntries(leaves, cfg.Mode); err != nil {
		return err
	}
	if cfg.Quorum, err = ParseQuorum(minResponses); err != nil {
		return fmt.Errorf("--min-responses: %w", err)
	}
	if cfg.Merge != "" {
		u, err := url.Parse(cfg.Merge)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--merge: %q is not an http(s) URL", cfg.Merge)
		}
	}
	switch {
	case cfg.Deadline <= 0:
		return errors.New("--deadline: must be above 0")
	case cfg.LeafTimeout < 0:
		return errors.New("--leaf-timeout: must not be negative")
	case cfg.MergeTimeout <= 0:
		return errors.New("--merge-timeout: must be above 0")
	case cfg.HedgePolicy.Fixed < 0:
		return errors.New("--hedge-delay: must not be negative")
	case percentile < 50 || percentile > 99:
		return fmt.Errorf("--hedge-percentile: %d is out of range [50, 99]", percentile)
	case cfg.HedgePolicy.Floor < 0:
		return errors.New("--hedge-min-delay: must not be negative")
	case budget < 0 || budget > 100:
		return fmt.Errorf("--hedge-budget: %d is out of range [0, 100]", budget)
	case cfg.Window < minSamples || cfg.Window > 100000:
		return fmt.Errorf("--hedge-window: %d is out of range [%d, 100000]", cfg.Window, minSamples)
	case cfg.ResolveTTL < 0:
		return errors.New("--resolve-ttl: must not be negative")
	case cfg.MaxBody < 1:
		return errors.New("--max-body-bytes: must be at least 1")
	}
	return nil
}

func run(cliContext *cli.Context) error {
	cfg, err := configFromFlags(cliContext)
	if err != nil {
		return err
	}
	log := helper.Logger(cliContext, "scatter-gather")
	ctx, stop := helper.SignalContext(cliContext.Context)
	defer stop()
	root := NewRoot(cfg, net.DefaultResolver.LookupHost, log)

	ln, err := net.Listen("tcp", cliContext.String("listen"))
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	mln, err := net.Listen("tcp", cliContext.String("metrics-address"))
	if err != nil {
		ln.Close()
		return fmt.Errorf("--metrics-address: %w", err)
	}
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}
	admin := &http.Server{Handler: root.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- admin.Serve(mln) }()
	log.Info("serving", "listen", ln.Addr().String(), "metrics", mln.Addr().String(), "mode", string(cfg.Mode),
		"leaves", cliContext.StringSlice("leaves"), "merge", cfg.Merge, "minResponses", cfg.Quorum.String(), "hedge", cfg.Hedge)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Requests in flight end within their deadline; give them that long.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Deadline+cfg.MergeTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = admin.Shutdown(sctx)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// AdminHandler serves /metrics, /healthz and /leaves.
func (r *Root) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /leaves", func(w http.ResponseWriter, _ *http.Request) {
		d, learned := r.cfg.HedgePolicy.Delay(r.window)
		writeJSON(w, http.StatusOK, map[string]any{"hedgeDelayMs": ms(d), "hedgeDelayKnown": learned, "leaves": r.leaves.list()})
	})
	return mux
}
