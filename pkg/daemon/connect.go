package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/runtime"
)

// Reconnection to a containerd that is not up yet: podd started before it (boot order) or while
// it restarts. podd waits, retrying with a doubling delay up to connectMaxDelay, and serves only
// once containerd answers; only a configuration error fails at once.
const (
	connectFirstDelay = 100 * time.Millisecond
	connectMaxDelay   = 5 * time.Second
	// connectLogEvery bounds the log noise of a long wait: one line at first, then one per period.
	connectLogEvery = 30 * time.Second
)

// connect returns a runtime on containerd, waiting for containerd as long as ctx lasts.
func connect(ctx context.Context, cfg runtime.Config, log *slog.Logger) (*runtime.Runtime, error) {
	delay := connectFirstDelay
	began := time.Now()
	var logged time.Time
	for attempt := 1; ; attempt++ {
		// The containerd client blocks up to its 10s timeout on a socket that nobody serves,
		// whatever ctx says: a plain dial first keeps the wait responsive to ctx and quick to
		// notice containerd's return.
		err := probeSocket(ctx, cfg.Address)
		var rt *runtime.Runtime
		if err == nil {
			rt, err = runtime.New(ctx, cfg, log)
		}
		if err == nil {
			if attempt > 1 {
				log.Info("containerd answers", "address", cfg.Address, "waited", time.Since(began).Round(time.Millisecond))
			}
			return rt, nil
		}
		if !errdefs.IsUnavailable(err) {
			return nil, err
		}
		if logged.IsZero() || time.Since(logged) >= connectLogEvery {
			log.Warn("containerd is not available; waiting for it", "address", cfg.Address, "attempt", attempt, "err", err)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, connectMaxDelay)
	}
}

// probeSocket dials containerd's socket once; ErrUnavailable when nothing answers there.
func probeSocket(ctx context.Context, address string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", strings.TrimPrefix(address, "unix://"))
	if err != nil {
		return fmt.Errorf("dial containerd at %s: %w: %w", address, errdefs.ErrUnavailable, err)
	}
	return conn.Close()
}
