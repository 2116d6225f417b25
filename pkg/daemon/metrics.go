package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/podd-dev/podd/pkg/metrics"
)

// serveMetrics serves /metrics on addr and returns the API handler instrumented for latency, and
// a function that stops the metrics server.
func serveMetrics(ctx context.Context, addr string, src metrics.Source, apiHandler http.Handler, log *slog.Logger) (func(), http.Handler, error) {
	m := metrics.New(ctx, src, log)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "address", ln.Addr().String())
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return stop, m.InstrumentAPI(apiHandler), nil
}
