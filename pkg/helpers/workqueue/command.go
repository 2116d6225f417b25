// Package workqueue is the work queue pattern's framework: a helper (podd-patterns workqueue, a
// native sidecar of each worker pod) that leases items from a queue and commits their outputs,
// and a runner (podd-patterns wq-run, the prefix of the user's command in the worker container)
// that runs the user's program on each item, a fresh process per item. The queue's embedded
// backend is a spool folder on the host with atomic renames (package spool); a lease is the flock
// of its claimer, so the kernel ends it when its holder dies. Queues shared by several hosts use
// the etcd backend (package etcdqueue, linked into the image variant with the etcd client only),
// behind the same Queue interface. See specs/patterns/work-queue.md.
package workqueue

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// Defaults of the flags.
const (
	DefaultWorkDir = "/podd-wq"
	DefaultListen  = ":9468"
)

// Command is `podd-patterns workqueue`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "workqueue",
		Usage: "the work queue's helper: leases items from a spool, mounts them for the worker container and commits their outputs exactly once",
		Description: "The worker container runs the user's command under `podd-patterns wq-run --` (the helper copies\n" +
			"the program into --work-dir, a volume both containers mount). See specs/patterns/work-queue.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "backend", Value: BackendSpool, Usage: "spool (a folder of one host, --spool) or etcd (a queue shared by several hosts, --etcd-endpoints and --queue; image " + EtcdImageHint + ")"},
			&cli.StringFlag{Name: "spool", Usage: "the queue's spool folder (a hostPath or PersistentVolumeClaim mounted in the helper; spool backend)"},
			&cli.StringFlag{Name: "etcd-endpoints", Usage: "the etcd cluster's client URLs, comma-separated (etcd backend)"},
			&cli.StringFlag{Name: "etcd-ca-file", Usage: "PEM file of the CA that signed the etcd members' certificates (TLS; etcd backend)"},
			&cli.StringFlag{Name: "etcd-cert-file", Usage: "PEM file of the helper's client certificate (TLS client auth, with --etcd-key-file)"},
			&cli.StringFlag{Name: "etcd-key-file", Usage: "PEM file of the client certificate's key (with --etcd-cert-file)"},
			&cli.StringFlag{Name: "queue", Usage: "the queue's name: its keys are under /podd/queues/<queue>/ (etcd backend)"},
			&cli.DurationFlag{Name: "lease-ttl", Value: DefaultLeaseTTL, Usage: "the etcd lease of this helper's attempts, kept alive while it lives: a dead host's items return this long after its last keepalive (whole seconds, 2s to 1h; etcd backend)"},
			&cli.StringFlag{Name: "work-dir", Value: DefaultWorkDir, Usage: "the folder shared with the worker container (an emptyDir)"},
			&cli.StringSliceFlag{Name: "source-dir", Usage: "a folder whose files are items (by file name), read again every --poll"},
			&cli.StringSliceFlag{Name: "source-lines", Usage: "a file whose lines are items (<base name>-<line number>), read again every --poll"},
			&cli.StringSliceFlag{Name: "source-url", Usage: "an http(s) URL answering lines, one item each (<base name of its path>-<line number>), fetched again every --poll"},
			&cli.IntFlag{Name: "max-attempts", Value: spool.DefaultPolicy.MaxAttempts, Usage: "attempts of an item before it is a dead letter"},
			&cli.DurationFlag{Name: "backoff", Value: spool.DefaultPolicy.Backoff, Usage: "wait before the second attempt, doubled for each further one"},
			&cli.DurationFlag{Name: "max-backoff", Value: spool.DefaultPolicy.MaxBackoff, Usage: "the longest wait between attempts"},
			&cli.IntFlag{Name: "poison-exit-code", Value: spool.DefaultPolicy.PoisonExitCode, Usage: "the user program's exit code that sends an item straight to the dead letters"},
			&cli.StringFlag{Name: "until", Value: "empty", Usage: "empty (the worker ends once nothing is pending) or drained (it waits for new items until `podctl queue drain`)"},
			&cli.DurationFlag{Name: "poll", Value: 500 * time.Millisecond, Usage: "how often to read the sources, look for claimable items and take back dead workers' leases"},
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port of /healthz and /metrics"},
			&cli.StringFlag{Name: "socket", Value: DefaultSocket, Usage: "the pod's own podd API socket, read for the worker container's exit and OOM kills (absent: not read)"},
			&cli.StringFlag{Name: "run", Value: RunFresh, Usage: "fresh (each item in a fresh copy of the worker container, which podd runs; a fresh process where no podd socket is) or long-lived (each item a fresh process in the worker container)"},
		},
		Action: runHelper,
	}
}

// RunCommand is `podd-patterns wq-run -- CMD ARGS...`.
func RunCommand() *cli.Command {
	return &cli.Command{
		Name:      "wq-run",
		Usage:     "the work queue's runner: runs CMD on each item the helper leases, with WORK_ITEM, WORK_INPUT, WORK_OUTPUT set",
		ArgsUsage: "-- CMD [ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "work-dir", Value: DefaultWorkDir, Usage: "the folder shared with the helper"},
			&cli.DurationFlag{Name: "connect-timeout", Value: 5 * time.Minute, Usage: "how long to wait for the helper"},
			&cli.IntFlag{Name: "tail-bytes", Value: 4096, Usage: "the end of a failed attempt's output kept with the item"},
			&cli.StringFlag{Name: "socket", Value: DefaultSocket, Usage: "the pod's own podd API socket, which runs the fresh copies of this container (the helper's --run fresh)"},
		},
		Action: func(cliContext *cli.Context) error {
			ctx, stop := helper.SignalContext(cliContext.Context)
			defer stop()
			err := RunWorker(ctx, RunnerConfig{
				WorkDir: cliContext.String("work-dir"), Command: cliContext.Args().Slice(),
				ConnectTimeout: cliContext.Duration("connect-timeout"), TailBytes: cliContext.Int("tail-bytes"),
				Socket: cliContext.String("socket"), Stdout: os.Stdout, Stderr: os.Stderr,
			})
			if err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
}

func configFromFlags(c *cli.Context) (Config, error) {
	cfg := Config{
		Spool: c.String("spool"), WorkDir: c.String("work-dir"),
		SourceDirs: c.StringSlice("source-dir"), SourceLines: c.StringSlice("source-lines"),
		SourceURLs: c.StringSlice("source-url"),
		Policy: spool.Policy{MaxAttempts: c.Int("max-attempts"), Backoff: c.Duration("backoff"),
			MaxBackoff: c.Duration("max-backoff"), PoisonExitCode: c.Int("poison-exit-code")},
		Until: c.String("until"), Poll: c.Duration("poll"), Socket: c.String("socket"),
		Run: c.String("run"),
	}
	if err := backendError(c.String("backend"), c.IsSet); err != nil {
		return cfg, err
	}
	if c.String("backend") == BackendEtcd {
		eps, err := helper.EtcdEndpoints(c.String("etcd-endpoints"))
		if err != nil {
			return cfg, err
		}
		cfg.Etcd = &EtcdConfig{Endpoints: eps, Queue: c.String("queue"), LeaseTTL: c.Duration("lease-ttl"),
			CAFile: c.String("etcd-ca-file"), CertFile: c.String("etcd-cert-file"), KeyFile: c.String("etcd-key-file")}
		// The TLS files are read now: each unreadable one is named.
		if _, err := helper.EtcdTLS(cfg.Etcd.CAFile, cfg.Etcd.CertFile, cfg.Etcd.KeyFile); err != nil {
			return cfg, err
		}
		if err := CheckQueueName(cfg.Etcd.Queue); err != nil {
			return cfg, err
		}
		if err := CheckLeaseTTL(cfg.Etcd.LeaseTTL); err != nil {
			return cfg, err
		}
	}
	switch {
	case cfg.Etcd == nil && !filepath.IsAbs(cfg.Spool):
		return cfg, fmt.Errorf("--spool: %q must be an absolute path", cfg.Spool)
	case !filepath.IsAbs(cfg.WorkDir):
		return cfg, fmt.Errorf("--work-dir: %q must be an absolute path", cfg.WorkDir)
	case cfg.Policy.MaxAttempts < 1:
		return cfg, fmt.Errorf("--max-attempts: %d must be at least 1", cfg.Policy.MaxAttempts)
	case cfg.Policy.Backoff < 0 || cfg.Policy.MaxBackoff < cfg.Policy.Backoff:
		return cfg, fmt.Errorf("--backoff %s, --max-backoff %s: want 0 ≤ backoff ≤ max-backoff", cfg.Policy.Backoff, cfg.Policy.MaxBackoff)
	case cfg.Policy.PoisonExitCode < 1 || cfg.Policy.PoisonExitCode > 255:
		return cfg, fmt.Errorf("--poison-exit-code: %d must be 1 to 255", cfg.Policy.PoisonExitCode)
	case cfg.Run != RunFresh && cfg.Run != RunLongLived:
		return cfg, fmt.Errorf("--run: %q must be %s or %s", cfg.Run, RunFresh, RunLongLived)
	case cfg.Until != "empty" && cfg.Until != "drained":
		return cfg, fmt.Errorf("--until: %q must be empty or drained", cfg.Until)
	case cfg.Poll < 10*time.Millisecond:
		return cfg, fmt.Errorf("--poll: %s is below 10ms", cfg.Poll)
	}
	for i, raw := range cfg.SourceURLs {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("--source-url[%d]: %q is not an http(s) URL", i, raw)
		}
	}
	host, _ := os.Hostname()
	cfg.Holder = fmt.Sprintf("%s/%d", host, os.Getpid())
	return cfg, nil
}

func runHelper(c *cli.Context) error {
	cfg, err := configFromFlags(c)
	if err != nil {
		return err
	}
	if cfg.Binary, err = os.Executable(); err != nil {
		return fmt.Errorf("find the runner's program: %w", err)
	}
	log := helper.Logger(c, "workqueue")
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	h, err := NewHelper(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := h.queue.Close(); err != nil {
			log.Warn("close the queue", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(h.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.Ready() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("serving", "backend", c.String("backend"), "spool", cfg.Spool, "queue", c.String("queue"), "work-dir", cfg.WorkDir, "listen", ln.Addr().String())
	err = h.Run(ctx)
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return err
}
