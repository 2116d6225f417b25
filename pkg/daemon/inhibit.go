package daemon

import (
	"context"
	"io"
	"log/slog"

	"github.com/coreos/go-systemd/v22/login1"
)

// logind is what podd needs of systemd-logind for graceful host shutdown.
type logind interface {
	// Inhibit takes a lock; closing it releases the lock.
	Inhibit(what, who, why, mode string) (io.Closer, error)
	// PrepareForShutdown delivers logind's PrepareForShutdown signal: true when a shutdown
	// begins, false when it was cancelled.
	PrepareForShutdown() <-chan bool
	Close()
}

type login1Conn struct {
	conn *login1.Conn
	sigs chan bool
}

func dialLogind() (logind, error) {
	conn, err := login1.New()
	if err != nil {
		return nil, err
	}
	raw := conn.Subscribe("PrepareForShutdown")
	sigs := make(chan bool, 1)
	go func() {
		for s := range raw {
			if s == nil || s.Name != "org.freedesktop.login1.Manager.PrepareForShutdown" || len(s.Body) != 1 {
				continue
			}
			if start, ok := s.Body[0].(bool); ok {
				sigs <- start
			}
		}
		close(sigs)
	}()
	return &login1Conn{conn: conn, sigs: sigs}, nil
}

func (c *login1Conn) Inhibit(what, who, why, mode string) (io.Closer, error) {
	return c.conn.Inhibit(what, who, why, mode)
}

func (c *login1Conn) PrepareForShutdown() <-chan bool { return c.sigs }
func (c *login1Conn) Close()                          { c.conn.Close() }

// inhibitShutdown holds a logind "delay" inhibitor lock on shutdown for as long as ctx lives, so
// that a host shutdown waits (up to logind's InhibitDelayMaxSec) while podd stops every pod with
// its grace period; then podd releases the lock and the shutdown goes on. A cancelled shutdown
// starts the pods again (resumeAll) and takes the lock again. Without logind (no systemd, no system bus) it logs once and returns.
func inhibitShutdown(ctx context.Context, ld logind, log *slog.Logger, stopAll func(context.Context) error, resumeAll func(context.Context)) {
	defer ld.Close()
	take := func() io.Closer {
		lock, err := ld.Inhibit("shutdown", "podd", "podd stops its pods within their grace periods", "delay")
		if err != nil {
			log.Warn("take logind's shutdown inhibitor lock: a host shutdown will not wait for the pods' grace periods", "err", err)
			return nil
		}
		return lock
	}
	lock := take()
	stopped := false
	defer func() {
		if lock != nil {
			lock.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case start, ok := <-ld.PrepareForShutdown():
			if !ok {
				return
			}
			if !start {
				if stopped {
					log.Info("host shutdown cancelled: the pods start again")
					resumeAll(ctx)
					stopped = false
				}
				if lock == nil {
					lock = take()
				}
				continue
			}
			log.Info("host shutdown: stopping every pod within its grace period")
			if err := stopAll(ctx); err != nil {
				log.Warn("stop pods for host shutdown", "err", err)
			}
			stopped = true
			if lock != nil {
				lock.Close()
				lock = nil
			}
			log.Info("pods stopped; host shutdown may go on")
		}
	}
}
