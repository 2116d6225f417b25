package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// notifier speaks systemd's notify protocol when podd runs as a Type=notify service (NOTIFY_SOCKET
// set) and does nothing otherwise.
type notifier struct {
	log *slog.Logger
	// send is sd_notify; tests replace it.
	send func(state string) (bool, error)
}

func newNotifier(log *slog.Logger) *notifier {
	return &notifier{log: log, send: func(state string) (bool, error) { return sddaemon.SdNotify(false, state) }}
}

func (n *notifier) notify(state string) {
	if _, err := n.send(state); err != nil {
		n.log.Warn("notify systemd", "state", state, "err", err)
	}
}

func (n *notifier) status(format string, args ...any) {
	n.notify("STATUS=" + fmt.Sprintf(format, args...))
}

// watchdog pings systemd's watchdog at half the interval systemd asked for (WATCHDOG_USEC), but
// only while check passes: a wedged supervisor stops the pings, so systemd restarts podd, and the
// pods — which outlive podd — are adopted by the new one. check gets a deadline of half an
// interval, so a hung check also counts as unhealthy.
func (n *notifier) watchdog(ctx context.Context, interval time.Duration, check func(context.Context) error) {
	if interval <= 0 {
		return
	}
	period := interval / 2
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		checkCtx, cancel := context.WithTimeout(ctx, period)
		err := check(checkCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			n.log.Error("supervisor unhealthy: not pinging systemd's watchdog", "err", err)
		default:
			n.notify(sddaemon.SdNotifyWatchdog)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// watchdogInterval is the interval systemd asked for, or 0 when the watchdog is off (or meant for
// another process: WATCHDOG_PID).
func watchdogInterval(log *slog.Logger) time.Duration {
	d, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings", "err", err)
		return 0
	}
	return d
}

// activatedListener returns the API socket systemd passed (socket activation, LISTEN_FDS), or nil
// when podd was started without one. More than one socket is a configuration error.
func activatedListener() (net.Listener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	switch len(lns) {
	case 0:
		return nil, nil
	case 1:
		if lns[0] == nil {
			return nil, fmt.Errorf("socket activation: the socket systemd passed is not a stream socket")
		}
		return lns[0], nil
	default:
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
		return nil, fmt.Errorf("socket activation: systemd passed %d sockets; podd takes exactly one (its API socket)", len(lns))
	}
}
