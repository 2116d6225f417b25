package ambassador

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// DefaultMetricsAddress is where /metrics is served unless --metrics-address says otherwise
// (nutcracker's stats port).
const DefaultMetricsAddress = ":22222"

// Command is `podd-patterns ambassador`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "ambassador",
		Usage: "a redis/memcache proxy on localhost that shards keys over a pool as nutcracker (twemproxy) does",
		Description: "Give a nutcracker configuration file (--config), or one pool with the flags.\n" +
			"See specs/patterns/ambassador.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "a nutcracker YAML configuration (pools by name); the pool flags below are then refused"},
			&cli.StringFlag{Name: "listen", Usage: "host:port of a single pool given by flags", Value: ""},
			&cli.StringFlag{Name: "protocol", Usage: "redis or memcache", Value: "redis"},
			&cli.StringSliceFlag{Name: "server", Usage: "a member, \"host:port:weight [name]\" (repeat)"},
			&cli.StringFlag{Name: "servers-file", Usage: "a file of members, one a line, re-read when it changes"},
			&cli.StringFlag{Name: "servers-dns", Usage: "NAME:PORT, every address NAME resolves to a member, re-resolved every --dns-interval"},
			&cli.IntFlag{Name: "dns-interval", Usage: "milliseconds between resolutions of --servers-dns", Value: 5000},
			&cli.StringFlag{Name: "hash", Value: DefaultHash, Usage: "nutcracker's hash: setting"},
			&cli.StringFlag{Name: "distribution", Value: DefaultDistribution, Usage: "ketama, modula or random"},
			&cli.StringFlag{Name: "hash-tag", Usage: "two characters, e.g. {}: only the part of a key between them is hashed"},
			&cli.IntFlag{Name: "timeout", Value: -1, Usage: "milliseconds a server has to answer, -1 for none"},
			&cli.BoolFlag{Name: "auto-eject-hosts", Usage: "take a failing server out of the ring for --server-retry-timeout"},
			&cli.IntFlag{Name: "server-failure-limit", Value: DefaultServerFailureLimit, Usage: "consecutive failures that eject a server"},
			&cli.IntFlag{Name: "server-retry-timeout", Value: int(DefaultServerRetryTimeout.Milliseconds()), Usage: "milliseconds an ejected server stays out"},
			&cli.StringFlag{Name: "metrics-address", Value: DefaultMetricsAddress, Usage: "host:port serving /metrics (Prometheus text format); empty: none"},
			&cli.IntFlag{Name: "procs", Value: DefaultProcs, Usage: "threads running the proxy at once (GOMAXPROCS); 1, as nutcracker's single thread, costs the least CPU per request; 0: Go's default (the CPUs, or the container's CPU limit); the GOMAXPROCS variable wins over the default"},
		},
		Action: run,
	}
}

func poolFromFlags(c *cli.Context) (*PoolConfig, error) {
	p := &PoolConfig{
		Name:         "ambassador",
		Listen:       c.String("listen"),
		Hash:         c.String("hash"),
		Distribution: c.String("distribution"),
		HashTag:      c.String("hash-tag"),
		Servers:      c.StringSlice("server"),
		ServersFile:  c.String("servers-file"),
		ServersDNS:   c.String("servers-dns"),
	}
	switch c.String("protocol") {
	case "redis":
		p.Redis = true
	case "memcache":
	default:
		return nil, fmt.Errorf("--protocol: %q must be redis or memcache", c.String("protocol"))
	}
	timeout, limit, retry, dns := c.Int("timeout"), c.Int("server-failure-limit"), c.Int("server-retry-timeout"), c.Int("dns-interval")
	p.Timeout, p.ServerFailureLimit, p.ServerRetryTimeout, p.DNSInterval = &timeout, &limit, &retry, &dns
	p.AutoEjectHosts = c.Bool("auto-eject-hosts")
	if p.Listen == "" {
		return nil, errors.New("--listen: required without --config (e.g. 127.0.0.1:6380)")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	return p, nil
}

// DefaultProcs is --procs: one thread, as nutcracker. Measured with ambassadorbench (redis-benchmark
// -c 50, two cores shared with other work), two threads cost 6-27% more CPU per request and gave
// less throughput, at -P 16 and at -P 1.
const DefaultProcs = 1

// setProcs applies --procs: the flag when given, else the GOMAXPROCS variable when set, else the
// default.
func setProcs(c *cli.Context) error {
	n := c.Int("procs")
	if n < 0 {
		return fmt.Errorf("--procs: %d must be 0 (Go's default) or more", n)
	}
	if !c.IsSet("procs") && os.Getenv("GOMAXPROCS") != "" {
		return nil
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return nil
}

func run(c *cli.Context) error {
	log := helper.Logger(c, "ambassador")
	if err := setProcs(c); err != nil {
		return err
	}
	var pools []*PoolConfig
	if path := c.String("config"); path != "" {
		for _, f := range []string{"listen", "server", "servers-file", "servers-dns", "hash", "distribution", "hash-tag", "timeout", "auto-eject-hosts", "server-failure-limit", "server-retry-timeout", "protocol", "dns-interval"} {
			if c.IsSet(f) {
				return fmt.Errorf("--%s: not with --config (the file says it)", f)
			}
		}
		var err error
		if pools, err = LoadConfig(path); err != nil {
			return err
		}
	} else {
		p, err := poolFromFlags(c)
		if err != nil {
			return err
		}
		pools = []*PoolConfig{p}
	}
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	a, err := New(ctx, pools, Options{MetricsAddress: c.String("metrics-address"), Logger: log})
	if err != nil {
		return err
	}
	for i, p := range pools {
		proto := "memcache"
		if p.Redis {
			proto = "redis"
		}
		log.Info("serving", "procs", runtime.GOMAXPROCS(0), "pool", p.Name, "protocol", proto, "listen", a.Addr(i).String(), "hash", p.Hash, "distribution", p.Distribution)
	}
	if m := a.MetricsAddr(); m != nil {
		log.Info("metrics", "address", m.String())
	}
	return a.Run(ctx)
}
