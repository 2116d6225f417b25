package elector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
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
			"The etcd backend campaigns in an etcd cluster, for candidates on several hosts.\n" +
			"See specs/patterns/elector.md.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "election", Usage: "an election's name (repeat: one per shard); the first is GET /'s", Required: true},
			&cli.StringFlag{Name: "backend", Value: "local", Usage: "local (podd arbitrates, through --socket) or etcd (an etcd cluster arbitrates, through --etcd-endpoints)"},
			&cli.StringFlag{Name: "socket", Value: DefaultSocket, Usage: "the pod's own podd API socket (the local backend's arbiter; on etcd, where the application's readiness is read)"},
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port of the elector's HTTP API"},
			&cli.DurationFlag{Name: "ttl", Value: DefaultTTL, DefaultText: "2s; 5s on etcd", Usage: "the lease's time to live; renewed every ttl/3 (100ms to 1h; on etcd whole seconds, 2s to 1h)"},
			&cli.DurationFlag{Name: "margin", Usage: "leadership is declared lost at the lease's local deadline minus this (default: 10% of --ttl)"},
			&cli.StringFlag{Name: "mode", Value: "auto", Usage: "auto (campaign and renew continuously) or manual (the application calls becomeLeader, renewLeadership, resign)"},
			&cli.StringSliceFlag{Name: "app-container", Usage: "a container whose readiness the leadership depends on (repeat; default: the pod's regular containers; on etcd read through --socket)"},
			&cli.StringFlag{Name: "signal", Usage: "a signal (HUP, USR1, … or a number) sent to --signal-process when this elector loses a lead it did not resign (needs shareProcessNamespace: true)"},
			&cli.StringFlag{Name: "signal-process", Usage: "the application's process (its name, as content-sync's) that --signal goes to"},
			&cli.StringFlag{Name: "etcd-endpoints", Value: DefaultEtcdEndpoints, Usage: "the etcd cluster's client URLs, comma-separated (etcd backend)"},
			&cli.StringFlag{Name: "etcd-ca-file", Usage: "PEM file of the CA that signed the etcd members' certificates (TLS; etcd backend)"},
			&cli.StringFlag{Name: "etcd-cert-file", Usage: "PEM file of the elector's client certificate (TLS client auth, with --etcd-key-file)"},
			&cli.StringFlag{Name: "etcd-key-file", Usage: "PEM file of the client certificate's key (with --etcd-cert-file)"},
			&cli.StringFlag{Name: "etcd-prefix", Value: DefaultEtcdPrefix, Usage: "the etcd keys' prefix: an election's keys are <prefix><election>/<lease> (etcd backend)"},
			&cli.StringFlag{Name: "name", Usage: "the candidate's name, as the other electors see it (etcd backend; default: the host name, which is the pod's name)"},
		},
		Action: run,
	}
}

// etcdOnly: the etcd backend's flags, refused with the local one.
var etcdOnly = []string{"etcd-endpoints", "etcd-ca-file", "etcd-cert-file", "etcd-key-file", "etcd-prefix", "name"}

// configFromFlags checks the flags; etcd is the etcd backend's settings with --backend etcd.
func configFromFlags(c *cli.Context) (Config, *EtcdConfig, error) {
	cfg := Config{Elections: c.StringSlice("election"), TTL: c.Duration("ttl"), Margin: c.Duration("margin")}
	var etcd *EtcdConfig
	switch b := c.String("backend"); b {
	case "local":
		for _, f := range etcdOnly {
			if c.IsSet(f) {
				return cfg, nil, fmt.Errorf("--%s: only with --backend etcd", f)
			}
		}
		if cfg.TTL < minTTL || cfg.TTL > maxTTL {
			return cfg, nil, fmt.Errorf("--ttl: %s is out of range [%s, %s]", cfg.TTL, minTTL, maxTTL)
		}
	case "etcd":
		if !c.IsSet("ttl") {
			cfg.TTL = DefaultEtcdTTL
		}
		var err error
		if etcd, err = etcdFromFlags(c, cfg.TTL); err != nil {
			return cfg, nil, err
		}
	default:
		return cfg, nil, fmt.Errorf("--backend: %q is not available (local or etcd)", b)
	}
	if cfg.Margin < 0 || cfg.Margin >= cfg.TTL/3 {
		return cfg, nil, fmt.Errorf("--margin: %s must be at least 0 and below a third of --ttl (%s)", cfg.Margin, cfg.TTL/3)
	}
	if len(cfg.Elections) > maxElections {
		return cfg, nil, fmt.Errorf("--election: %d given, at most %d (each holds two of the 32 connections podd serves on the pod's socket)", len(cfg.Elections), maxElections)
	}
	for i, name := range cfg.Elections {
		if err := checkName(name); err != nil {
			return cfg, nil, fmt.Errorf("--election[%d]: %q: %w", i, name, err)
		}
	}
	if c.IsSet("signal") != c.IsSet("signal-process") {
		return cfg, nil, errors.New("--signal and --signal-process: give both or neither")
	}
	if c.IsSet("signal") {
		if _, err := helper.ParseSignal(c.String("signal")); err != nil {
			return cfg, nil, err
		}
	}
	switch c.String("mode") {
	case "auto":
	case "manual":
		cfg.Manual = true
	default:
		return cfg, nil, fmt.Errorf("--mode: %q must be auto or manual", c.String("mode"))
	}
	return cfg, etcd, nil
}

// etcdFromFlags checks the etcd backend's flags (the TLS files are read: each unreadable one is
// named).
func etcdFromFlags(c *cli.Context, ttl time.Duration) (*EtcdConfig, error) {
	if err := checkEtcdTTL(ttl); err != nil {
		return nil, err
	}
	eps, err := helper.EtcdEndpoints(c.String("etcd-endpoints"))
	if err != nil {
		return nil, err
	}
	cfg := &EtcdConfig{Endpoints: eps, CAFile: c.String("etcd-ca-file"), CertFile: c.String("etcd-cert-file"),
		KeyFile: c.String("etcd-key-file"), Prefix: c.String("etcd-prefix"), Name: c.String("name"), TTL: ttl}
	if !strings.HasPrefix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("--etcd-prefix: %q must start with /", cfg.Prefix)
	}
	if cfg.Name == "" {
		if cfg.Name, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("--name: not given, and the host name: %w", err)
		}
	}
	if len(cfg.Name) > 253 || strings.ContainsAny(cfg.Name, "\x00\n") {
		return nil, fmt.Errorf("--name: %q must be 1 to 253 characters, with no NUL or newline", cfg.Name)
	}
	if _, err := cfg.tlsConfig(); err != nil {
		return nil, err
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
	cfg, etcdCfg, err := configFromFlags(c)
	if err != nil {
		return err
	}
	log := helper.Logger(c, "elector")
	cfg.Log = log
	if c.IsSet("signal") {
		sig, _ := helper.ParseSignal(c.String("signal")) // checked by configFromFlags
		proc := c.String("signal-process")
		cfg.OnLost = func(election string, token uint64) {
			if pids, err := helper.SignalProcesses(proc, sig); err != nil {
				log.Warn("signal the application at the loss of the lead", "election", election, "token", token, "err", err)
			} else {
				log.Info("signalled the application at the loss of the lead", "election", election, "token", token, "signal", sig.String(), "pids", pids)
			}
		}
	}
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	local := NewLocal(c.String("socket"), c.StringSlice("app-container"))
	var backend Backend = local
	where := "socket " + c.String("socket")
	if etcdCfg != nil {
		if newEtcd == nil {
			return fmt.Errorf("--backend etcd: this build of the helpers has no etcd backend: the image %s has it (podd injects that image for elector.podd.io/backend: etcd)", EtcdImageHint)
		}
		// The application's readiness gates the campaign, read from podd through the pod's
		// socket, for the containers --app-container names (the injection names the pod's
		// regular containers); without it, an elector outside a pod has no gate.
		switch {
		case cfg.Manual:
		case c.IsSet("app-container"):
			if _, err := os.Stat(c.String("socket")); err != nil {
				return fmt.Errorf("--app-container: the pod's readiness is read through --socket: %w", err)
			}
			gate := NewPodGate(local, c.StringSlice("app-container"))
			go gate.Run(ctx)
			cfg.Gate = gate
		default:
			log.Info("no readiness gate on etcd without --app-container: campaigning regardless of the application")
		}
		eb, err := newEtcd(*etcdCfg)
		if err != nil {
			return err
		}
		defer func() {
			if err := eb.Close(); err != nil {
				log.Warn("close the etcd session", "err", err)
			}
		}()
		backend, where = eb, "etcd "+strings.Join(etcdCfg.Endpoints, ",")
	}
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
		log.Warn("the backend does not answer yet", "backend", where, "err", err)
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
	log.Info("serving", "listen", ln.Addr().String(), "self", self, "elections", cfg.Elections, "ttl", cfg.TTL.String(), "mode", c.String("mode"), "backend", where)
	e.Run(ctx) // until SIGTERM; resigns what it holds
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	log.Info("stopped")
	return nil
}
