// Package ambassador is podd's ambassador helper: a proxy on the pod's localhost for the redis
// protocol (RESP) and the memcache text protocol that shards keys over a pool of servers with
// nutcracker's (twemproxy's) distributions and hash functions, so that the same server list puts
// every key on the same server as nutcracker does. It splits multi-key requests (MGET, MSET, DEL,
// UNLINK, EXISTS, TOUCH, memcache get/gets of many keys) over the servers and merges the replies,
// forwards pipelined requests in one write per server, applies per-request timeouts, ejects
// failing servers and re-admits them as nutcracker's auto_eject_hosts does, follows a pool whose
// members come from a file or a DNS name, and serves its metrics in the Prometheus text format.
// See specs/patterns/ambassador.md.
package ambassador

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure a Proxy beyond its pools.
type Options struct {
	// MetricsAddress serves /metrics when not empty.
	MetricsAddress string
	// Resolver resolves servers_dns names; nil: net.DefaultResolver.
	Resolver *net.Resolver
	// FilePoll is how often a servers_file is checked for changes (default 1 s).
	FilePoll time.Duration
	Logger   *slog.Logger
}

// Proxy is one pool's listener and its clients.
type Proxy struct {
	pool    *pool
	timeout time.Duration
	ln      net.Listener
}

// Ambassador runs the proxies of every pool of a configuration.
type Ambassador struct {
	opts     Options
	proxies  []*Proxy
	registry *prometheus.Registry
	metrics  net.Listener
	log      *slog.Logger
}

// New checks the pools, reads their initial members (a servers_file must be readable, a
// servers_dns name resolvable) and opens their listeners and the metrics listener; nothing is
// served until Run.
func New(ctx context.Context, pools []*PoolConfig, opts Options) (*Ambassador, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.FilePoll <= 0 {
		opts.FilePoll = time.Second
	}
	a := &Ambassador{opts: opts, registry: prometheus.NewRegistry(), log: opts.Logger}
	ok := false
	defer func() {
		if !ok {
			a.closeListeners()
		}
	}()
	for _, cfg := range pools {
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("pool %q: %w", cfg.Name, err)
		}
		p, err := newPool(cfg, opts.Logger)
		if err != nil {
			return nil, fmt.Errorf("pool %q: %w", cfg.Name, err)
		}
		members, err := a.members(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("pool %q: %w", cfg.Name, err)
		}
		if err := p.setMembers(members); err != nil {
			return nil, fmt.Errorf("pool %q: %w", cfg.Name, err)
		}
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("pool %q: listen: %w", cfg.Name, err)
		}
		a.proxies = append(a.proxies, &Proxy{pool: p, timeout: cfg.TimeoutDuration(), ln: ln})
	}
	var c collector
	for _, p := range a.proxies {
		c.pools = append(c.pools, p.pool.metrics)
	}
	if err := a.registry.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if opts.MetricsAddress != "" {
		ln, err := net.Listen("tcp", opts.MetricsAddress)
		if err != nil {
			return nil, fmt.Errorf("metrics address: %w", err)
		}
		a.metrics = ln
	}
	ok = true
	return a, nil
}

// Addr returns the address pool i listens on.
func (a *Ambassador) Addr(i int) net.Addr { return a.proxies[i].ln.Addr() }

// MetricsAddr returns the metrics listener's address, nil without one.
func (a *Ambassador) MetricsAddr() net.Addr {
	if a.metrics == nil {
		return nil
	}
	return a.metrics.Addr()
}

// Registry is the registry of the pools' metrics.
func (a *Ambassador) Registry() *prometheus.Registry { return a.registry }

func (a *Ambassador) closeListeners() {
	for _, p := range a.proxies {
		p.ln.Close()
	}
	if a.metrics != nil {
		a.metrics.Close()
	}
}

// members reads a pool's members from its source once.
func (a *Ambassador) members(ctx context.Context, cfg *PoolConfig) ([]ServerSpec, error) {
	switch {
	case cfg.ServersFile != "":
		return readServersFile(cfg.ServersFile)
	case cfg.ServersDNS != "":
		return resolveMembers(ctx, a.opts.Resolver, cfg)
	}
	return ParseServers(cfg.Servers)
}

// Run serves until ctx ends, then closes the listeners and every client connection.
func (a *Ambassador) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(a.proxies)+1)
	for _, p := range a.proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.serve(ctx)
		}()
		if p.pool.cfg.ServersFile != "" || p.pool.cfg.ServersDNS != "" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.follow(ctx, p.pool)
			}()
		}
	}
	var srv *http.Server
	if a.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(a.metrics); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	a.closeListeners()
	if srv != nil {
		srv.Close()
	}
	wg.Wait()
	return err
}

// serve accepts clients until ctx ends; then it closes every client connection.
func (p *Proxy) serve(ctx context.Context) error {
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		p.ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.pool.close()
	})
	defer stop()
	defer wg.Wait()
	m := p.pool.metrics
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("pool %q: accept: %w", p.pool.cfg.Name, err)
		}
		if max := p.pool.cfg.ClientConnections; max > 0 && m.clients.Load() >= int64(max) {
			m.refused.Add(1)
			conn.Close()
			continue
		}
		m.clients.Add(1)
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{p: p, pool: p.pool, conn: conn, done: make(chan struct{}, 1)}
			c.serve()
			m.clients.Add(-1)
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
		}()
		if ctx.Err() != nil {
			conn.Close()
		}
	}
}
