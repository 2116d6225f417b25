package elector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// Defaults of the flags.
const (
	DefaultListen = "127.0.0.1:4040"
	DefaultTTL    = 2 * time.Second
	minTTL        = 100 * time.Millisecond
	maxTTL        = time.Hour
	// maxElections: each election holds two connections to the pod's socket (a long poll and a
	// watch), and podd serves at most 32 at once on it, for every container of the pod.
	maxElections = 8
)

// Command is `podd-patterns elector`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "elector",
		Usage: "leader election as a sidecar: campaigns for its pod and says on localhost whether it leads, with a fencing token",
		Description: "The local backend (default) asks podd through the pod's own API socket (annotation podd.io/api-socket).\n" +
			"See specs/patterns/elector.md.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "election", Usage: "an election's name (repeat: one per shard); the first is GET /'s", Required: true},
			&cli.StringFlag{Name: "backend", Value: "local", Usage: "local (podd arbitrates, through --socket)"},
			&cli.StringFlag{Name: "socket", Value: DefaultSocket, Usage: "the pod's own podd API socket (local backend)"},
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port of the elector's HTTP API"},
			&cli.DurationFlag{Name: "ttl", Value: DefaultTTL, Usage: "the lease's time to live; renewed every ttl/3 (100ms to 1h)"},
			&cli.DurationFlag{Name: "margin", Usage: "leadership is declared lost at the lease's local deadline minus this (default: 10% of --ttl)"},
			&cli.StringFlag{Name: "mode", Value: "auto", Usage: "auto (campaign and renew continuously) or manual (the application calls becomeLeader, renewLeadership, resign)"},
			&cli.StringSliceFlag{Name: "app-container", Usage: "a container whose readiness the leadership depends on (repeat; default: the pod's regular containers)"},
		},
		Action: run,
	}
}

// configFromFlags checks the flags.
func configFromFlags(c *cli.Context) (Config, error) {
	cfg := Config{Elections: c.StringSlice("election"), TTL: c.Duration("ttl"), Margin: c.Duration("margin")}
	if cfg.TTL < minTTL || cfg.TTL > maxTTL {
		return cfg, fmt.Errorf("--ttl: %s is out of range [%s, %s]", cfg.TTL, minTTL, maxTTL)
	}
	if cfg.Margin < 0 || cfg.Margin >= cfg.TTL/3 {
		return cfg, fmt.Errorf("--margin: %s must be at least 0 and below a third of --ttl (%s)", cfg.Margin, cfg.TTL/3)
	}
	if len(cfg.Elections) > maxElections {
		return cfg, fmt.Errorf("--election: %d given, at most %d (each holds two of the 32 connections podd serves on the pod's socket)", len(cfg.Elections), maxElections)
	}
	for i, name := range cfg.Elections {
		if err := checkName(name); err != nil {
			return cfg, fmt.Errorf("--election[%d]: %q: %w", i, name, err)
		}
	}
	switch c.String("mode") {
	case "auto":
	case "manual":
		cfg.Manual = true
	default:
		return cfg, fmt.Errorf("--mode: %q must be auto or manual", c.String("mode"))
	}
	if b := c.String("backend"); b != "local" {
		return cfg, fmt.Errorf("--backend: %q is not available (local only in this version; etcd is not built yet)", b)
	}
	return cfg, nil
}

// checkName: a DNS-1123 label, as podd asks of an election's name.
func checkName(name string) error {
	if len(name) == 0 || len(name) > 63 {
		return errors.New("must be 1 to 63 characters")
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '-' || i == 0 || i == len(name)-1) {
			return errors.New("must be lower-case letters, digits and '-', starting and ending with a letter or digit")
		}
	}
	return nil
}

func run(c *cli.Context) error {
	cfg, err := configFromFlags(c)
	if err != nil {
		return err
	}
	log := helper.Logger(c, "elector")
	cfg.Log = log
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	backend := NewLocal(c.String("socket"), c.StringSlice("app-container"))
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	// Who we are, from podd: tried until podd answers (it may be restarting).
	var self string
	for {
		if self, err = backend.Self(ctx); err == nil {
			break
		}
		log.Warn("podd's pod socket does not answer yet", "socket", c.String("socket"), "err", err)
		sleep(ctx, time.Second)
		if ctx.Err() != nil {
			ln.Close()
			return nil
		}
	}
	e, err := New(cfg, backend, self)
	if err != nil {
		ln.Close()
		return err
	}
	// Requests end with SIGTERM: the watches and long polls too, so that the shutdown is prompt.
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go srv.Serve(ln)
	log.Info("serving", "listen", ln.Addr().String(), "self", self, "elections", cfg.Elections, "ttl", cfg.TTL.String(), "mode", c.String("mode"))
	e.Run(ctx) // until SIGTERM; resigns what it holds
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	log.Info("stopped")
	return nil
}
