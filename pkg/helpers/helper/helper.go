// Package helper is what every pattern helper of cmd/podd-patterns shares: structured logging to
// stdout, a context that ends on SIGTERM or SIGINT (so a helper flushes and exits within its
// pod's grace period), and the error that makes a command exit non-zero.
package helper

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Logger logs JSON lines to stdout, where podd's logger collects a container's output; every
// line names the helper.
func Logger(cliContext *cli.Context, name string) *slog.Logger {
	level := slog.LevelInfo
	if cliContext.Bool("debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})).With("helper", name)
}

// SignalContext ends on SIGTERM or SIGINT: the stop contract's first signal.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGINT)
}
