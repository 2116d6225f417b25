// Package fencedstore is `podd-patterns fenced-store`: a tiny HTTP key-value store that honours
// fencing tokens, the resource side of leader election. A write carries the writer's token
// (X-Fencing-Token, the elector's "token"); a write whose token is lower than the highest the
// store has seen is refused (409), so a deposed leader that still believes it leads cannot
// overwrite what its successor wrote.
package fencedstore

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// TokenHeader carries a write's fencing token.
const TokenHeader = "X-Fencing-Token"

// MaxValue bounds a value's size.
const MaxValue = 1 << 20

// Store is the key-value store.
type Store struct {
	mu      sync.Mutex
	highest uint64
	values  map[string][]byte
	tokens  map[string]uint64

	reg      *prometheus.Registry
	accepted prometheus.Counter
	rejected prometheus.Counter
	high     prometheus.Gauge
}

// New returns an empty store.
func New() *Store {
	s := &Store{values: map[string][]byte{}, tokens: map[string]uint64{}, reg: prometheus.NewRegistry(),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "fenced_store_writes_accepted_total", Help: "Writes whose token was at least the highest seen."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "fenced_store_writes_rejected_total", Help: "Writes refused: token below the highest seen."}),
		high:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "fenced_store_highest_token", Help: "The highest fencing token seen."}),
	}
	s.reg.MustRegister(s.accepted, s.rejected, s.high)
	return s
}

// Put stores value under key when token is at least the highest seen; false when refused.
func (s *Store) Put(key string, value []byte, token uint64) (highest uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		s.rejected.Inc()
		return s.highest, false
	}
	s.highest = token
	s.values[key] = value
	s.tokens[key] = token
	s.accepted.Inc()
	s.high.Set(float64(token))
	return token, true
}

// Handler serves PUT /k/{key} (header X-Fencing-Token), GET /k/{key} and GET /metrics.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /k/{key}", func(w http.ResponseWriter, r *http.Request) {
		token, err := strconv.ParseUint(r.Header.Get(TokenHeader), 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("%s: %q: want the writer's fencing token, a whole number", TokenHeader, r.Header.Get(TokenHeader)), http.StatusBadRequest)
			return
		}
		value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxValue))
		if err != nil {
			http.Error(w, fmt.Sprintf("value: %v (at most %d bytes)", err, MaxValue), http.StatusRequestEntityTooLarge)
			return
		}
		highest, ok := s.Put(r.PathValue("key"), value, token)
		w.Header().Set(TokenHeader, strconv.FormatUint(highest, 10))
		if !ok {
			http.Error(w, fmt.Sprintf("fenced: token %d is below the highest seen, %d", token, highest), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /k/{key}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		v, ok := s.values[r.PathValue("key")]
		tok := s.tokens[r.PathValue("key")]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "no such key", http.StatusNotFound)
			return
		}
		w.Header().Set(TokenHeader, strconv.FormatUint(tok, 10))
		w.Write(v)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

// Command is `podd-patterns fenced-store`.
func Command() *cli.Command {
	return &cli.Command{
		Name:        "fenced-store",
		Usage:       "a tiny HTTP key-value store that refuses writes whose fencing token is below the highest seen",
		Description: "PUT /k/{key} with header X-Fencing-Token: N; GET /k/{key}; GET /metrics. See specs/patterns/elector.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":8080", Usage: "host:port of the store's HTTP API"},
		},
		Action: func(c *cli.Context) error {
			log := helper.Logger(c, "fenced-store")
			ctx, stop := helper.SignalContext(c.Context)
			defer stop()
			ln, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			srv := &http.Server{Handler: New().Handler(), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			log.Info("serving", "listen", ln.Addr().String())
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdown)
			log.Info("stopped")
			return nil
		},
	}
}
