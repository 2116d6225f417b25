// Command podd is the pod daemon: it runs Kubernetes Pods on this host through containerd and
// serves podctl over a unix socket.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/daemon"
	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pod"
)

// gcPercent is podd's GOGC unless the environment sets one. podd's live heap is small (about 7 MiB
// with 50 pods) and it allocates little once pods run, so collecting at +25% instead of Go's +100%
// costs little CPU and keeps the heap goal, and the RSS, lower: with 50 pods podd's anonymous RSS
// went from 18.1 to 13.3 MiB (make bench). Not for the loggers: it made them bigger.
const gcPercent = 25

func main() {
	// A container's shim starts podd as the container's logger (containerd's binary log driver):
	// decided before anything else, so that the logger sets up nothing of the daemon.
	if len(os.Args) == 3 && os.Args[1] == logs.LoggerArg {
		os.Exit(runLogger(os.Args[2]))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	app := &cli.App{
		Name:    "podd",
		Usage:   "run Kubernetes Pods on this host with containerd",
		Version: api.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "containerd-address", Value: "/run/containerd/containerd.sock", Usage: "containerd's socket"},
			&cli.StringFlag{Name: "namespace", Value: "podd", Usage: "containerd namespace for everything podd creates"},
			&cli.StringFlag{Name: "root", Value: "/var/lib/podd", Usage: "persistent state: store, volumes, logs"},
			&cli.StringFlag{Name: "state", Value: "/run/podd", Usage: "volatile state: namespaces, runtime files"},
			&cli.StringFlag{Name: "socket", Value: "/run/podd/podd.sock", Usage: "API socket"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-max-size", Value: "10Mi", Usage: "a container log file is rotated before it grows beyond this size (a quantity: 10Mi, 500Ki)"},
			&cli.IntFlag{Name: "log-max-files", Value: logs.DefaultMaxFiles, Usage: "log files kept per container instance, the current one included (at least 2)"},
			&cli.DurationFlag{Name: "restart-backoff-base", Value: 10 * time.Second, Usage: "delay before a container's first restart; doubles on each further one"},
			&cli.DurationFlag{Name: "restart-backoff-max", Value: 5 * time.Minute, Usage: "longest delay between restarts"},
			// For profiling only (make bench): net/http/pprof on this address, e.g. 127.0.0.1:6060.
			&cli.StringFlag{Name: "pprof-address", Hidden: true, Usage: "serve net/http/pprof on this TCP address"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "podd:", err)
		os.Exit(1)
	}
}

func run(cliContext *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cliContext.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	maxSize, err := pod.ParseQuantity(cliContext.String("log-max-size"))
	if err != nil || maxSize.Value() <= 0 {
		return fmt.Errorf("--log-max-size %q: want a size above 0, such as 10Mi", cliContext.String("log-max-size"))
	}
	maxFiles := cliContext.Int("log-max-files")
	if maxFiles < 2 {
		return fmt.Errorf("--log-max-files %d: want at least 2 (the current file and one rotated)", maxFiles)
	}
	// The shims start this very binary as the containers' logger.
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find podd's own binary for the container loggers: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if addr := cliContext.String("pprof-address"); addr != "" {
		if err := servePprof(addr, log); err != nil {
			return err
		}
	}
	return daemon.Run(ctx, daemon.Config{
		ContainerdAddress: cliContext.String("containerd-address"),
		Namespace:         cliContext.String("namespace"),
		Root:              cliContext.String("root"),
		State:             cliContext.String("state"),
		Socket:            cliContext.String("socket"),
		BackoffBase:       cliContext.Duration("restart-backoff-base"),
		BackoffMax:        cliContext.Duration("restart-backoff-max"),
		Version:           api.Version,
		Logger:            self,
		LogMaxSize:        maxSize.Value(),
		LogMaxFiles:       maxFiles,
	}, log)
}
