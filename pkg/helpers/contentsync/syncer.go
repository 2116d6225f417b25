package contentsync

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podd-dev/podd/pkg/dirwatch"
	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// Options configure a Syncer.
type Options struct {
	Publisher     *Publisher
	Source        Source
	Limits        Limits
	Period        time.Duration
	HealthPeriods int // /healthz fails when the last success is older than this many periods
	SignalProcess string
	Signal        syscall.Signal
	Webhook       *Webhook
	Listen        string // host:port of /metrics and /healthz; "" for none
	Logger        *slog.Logger
	// Wake, when set, wakes the loop between periods (the inotify watch of a dir source).
	Wake <-chan struct{}
}

// Syncer keeps the published tree in step with the source.
type Syncer struct {
	o       Options
	log     *slog.Logger
	started time.Time
	current string
	// refusedNow: the source's content is one that was refused; a look that finds it unchanged
	// (a 304) is then no success for /healthz and the last-success time.
	refusedNow bool
	metrics    *metrics
	ln         net.Listener
}

// New prepares the root (removing what a killed run left) and opens the listener; nothing is
// fetched yet.
func New(o Options) (*Syncer, error) {
	cur, err := o.Publisher.Init()
	if err != nil {
		return nil, err
	}
	s := &Syncer{o: o, log: o.Logger, started: time.Now(), current: cur, metrics: newMetrics()}
	if cur != "" {
		s.metrics.setVersion(cur)
	}
	if o.Listen != "" {
		if s.ln, err = net.Listen("tcp", o.Listen); err != nil {
			return nil, fmt.Errorf("--listen: %w", err)
		}
	}
	return s, nil
}

// Addr is the listener's address, nil without one.
func (s *Syncer) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Current is the id of the published version.
func (s *Syncer) Current() string { return s.current }

// Outcomes of one sync.
const (
	Published = "published"
	Unchanged = "unchanged"
	Refused   = "refused"
	Failed    = "failed"
)

// SyncOnce fetches the source once and publishes what changed, then notifies. An error is a
// refusal or a failure; the published tree is then as it was. A cancelled ctx aborts the fetch
// and removes what it had written.
func (s *Syncer) SyncOnce(ctx context.Context) (string, error) {
	start := time.Now()
	b, err := s.o.Source.Fetch(ctx, s.current, func() (*Builder, error) { return s.o.Publisher.Stage(s.o.Limits) })
	if err == nil && b != nil && ctx.Err() != nil {
		b.Discard()
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return Failed, ctx.Err()
		}
		if IsRefused(err) {
			s.o.Source.Settle()
			s.refusedNow = true
			s.metrics.check(Refused)
			s.log.Error("content refused, nothing changed", "source", s.o.Source.String(), "version", s.current, "err", err)
			return Refused, err
		}
		s.metrics.check(Failed)
		s.log.Warn("sync failed, nothing changed", "source", s.o.Source.String(), "version", s.current, "err", err)
		return Failed, err
	}
	if b == nil {
		s.o.Source.Settle()
		if _, ok := s.o.Source.(*DirSource); ok {
			// A folder's nil is "the same as the published version" (an HTTP source's is a 304:
			// the same as the content last fetched, which may have been refused).
			s.refusedNow = false
		}
		if s.refusedNow {
			s.metrics.check(Unchanged)
			s.log.Debug("unchanged, still the refused content", "source", s.o.Source.String(), "version", s.current)
			return Unchanged, nil
		}
		s.success(Unchanged)
		s.log.Debug("unchanged", "source", s.o.Source.String(), "version", s.current)
		return Unchanged, nil
	}
	bytes, entries := b.Bytes(), b.Entries()
	id, changed, err := s.o.Publisher.Commit(b)
	if err != nil {
		if IsRefused(err) {
			s.o.Source.Settle()
			s.refusedNow = true
			s.metrics.check(Refused)
			s.log.Error("content refused, nothing changed", "source", s.o.Source.String(), "version", s.current, "err", err)
			return Refused, err
		}
		s.metrics.check(Failed)
		s.log.Warn("publish failed, nothing changed", "version", s.current, "err", err)
		return Failed, err
	}
	s.o.Source.Settle()
	s.refusedNow = false
	if !changed {
		s.success(Unchanged)
		s.log.Debug("unchanged (same content)", "source", s.o.Source.String(), "version", id)
		return Unchanged, nil
	}
	previous := s.current
	s.current = id
	s.metrics.setVersion(id)
	s.success(Published)
	s.log.Info("published", "source", s.o.Source.String(), "version", id, "previous", previous,
		"bytes", bytes, "entries", entries, "took", time.Since(start).Round(time.Millisecond).String())
	s.notify(ctx, id)
	return Published, nil
}

func (s *Syncer) success(outcome string) {
	s.metrics.check(outcome)
	s.metrics.lastSuccess.SetToCurrentTime()
	s.metrics.mu.Lock()
	s.metrics.last = time.Now()
	s.metrics.mu.Unlock()
}

// notify signals the main container's process and calls the webhook; their failures are logged
// and counted, and never undo the publication.
func (s *Syncer) notify(ctx context.Context, id string) {
	if s.o.SignalProcess != "" {
		pids, err := helper.SignalProcesses(s.o.SignalProcess, s.o.Signal)
		if err != nil {
			s.metrics.notifyFailures.WithLabelValues("signal").Inc()
			s.log.Warn("signal", "process", s.o.SignalProcess, "signal", s.o.Signal.String(), "pids", pids, "err", err)
		} else {
			s.log.Info("signalled", "process", s.o.SignalProcess, "signal", s.o.Signal.String(), "pids", pids, "version", id)
		}
	}
	if s.o.Webhook != nil {
		attempts, err := s.o.Webhook.Post(ctx, id)
		if err != nil {
			s.metrics.notifyFailures.WithLabelValues("webhook").Inc()
			s.log.Warn("webhook", "url", s.o.Webhook.URL, "attempts", attempts, "err", err)
		} else {
			s.log.Info("webhook called", "url", s.o.Webhook.URL, "attempts", attempts, "version", id)
		}
	}
}

// Healthy reports an error when the last success (or the start, before any) is older than
// HealthPeriods periods.
func (s *Syncer) Healthy(now time.Time) error {
	s.metrics.mu.Lock()
	last := s.metrics.last
	s.metrics.mu.Unlock()
	since, what := last, "last successful sync"
	if last.IsZero() {
		since, what = s.started, "start, and no successful sync yet"
	}
	limit := time.Duration(s.o.HealthPeriods) * s.o.Period
	if age := now.Sub(since); age > limit {
		return fmt.Errorf("%s %s ago, more than %d periods (%v)", what, age.Round(time.Second), s.o.HealthPeriods, limit)
	}
	return nil
}

// Run syncs every period (and at each wake-up) until ctx ends; then it returns nil, having
// aborted a fetch under way without publishing it.
func (s *Syncer) Run(ctx context.Context) error {
	if s.ln != nil {
		srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(s.ln)
		defer srv.Close()
	}
	t := time.NewTicker(s.o.Period)
	defer t.Stop()
	for {
		s.SyncOnce(ctx)
		select {
		case <-ctx.Done():
			s.log.Info("stopping", "version", s.current)
			return nil
		case <-t.C:
		case <-s.o.Wake:
		}
	}
}

// Close closes the listener of a Syncer that will not Run.
func (s *Syncer) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
}

func (s *Syncer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Healthy(time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok %s\n", s.currentVersion())
	})
	return mux
}

func (s *Syncer) currentVersion() string {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	return s.metrics.version
}

// Watch returns a wake-up channel for a dir source (inotify on the folder, where the ..data swap
// happens), nil for other sources or when inotify is not available (the period still applies).
func Watch(src Source, log *slog.Logger) (<-chan struct{}, func()) {
	d, ok := src.(*DirSource)
	if !ok {
		return nil, func() {}
	}
	w, err := dirwatch.New(d.Dir)
	if err != nil {
		log.Warn("no inotify watch, the period alone applies", "dir", d.Dir, "err", err)
		return nil, func() {}
	}
	return w.Events(), w.Close
}
