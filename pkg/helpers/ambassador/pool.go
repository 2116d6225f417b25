package ambassador

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// server is one member of a pool, shared by every client connection. Its counters are read by
// the metrics collector.
type server struct {
	id   int // small and stable while the server is a member: the index of clients' connections
	spec ServerSpec
	addr string

	removed atomic.Bool // no longer a member: its connection is closed once idle

	mu   sync.Mutex // the connection's queue
	conn *sconn     // the connection every client shares; nil until needed, or after it failed

	// under mu: a connection attempt under way (closed when it ends), and the failed attempts
	dialing   chan struct{}
	dialFails uint64
	dialErr   error

	// health, under pool.mu
	failures  int
	nextRetry time.Time // ejected until then (zero: in the ring)

	requests atomic.Uint64 // requests (or parts of split requests) sent
	errors   atomic.Uint64 // requests answered with an error because of this server
	ejects   atomic.Uint64
	failing  atomic.Int32 // consecutive failures, for pool.ok to skip the lock
}

// snapshot is what a client reads per batch: the ring and the servers its indexes name.
type snapshot struct {
	ring        *Ring
	servers     []*server
	gen         uint64
	nextRebuild int64 // unix nanoseconds at which an ejected server comes back; 0: none
}

// pool holds a pool's members, their health and the current ring.
type pool struct {
	cfg     *PoolConfig
	hash    HashFunc
	log     *slog.Logger
	metrics *poolMetrics

	snap   atomic.Pointer[snapshot]
	closed atomic.Bool // shutting down: no new server connections
	ctx    context.Context
	cancel context.CancelFunc // ends connection attempts under way at shutdown

	mu      sync.Mutex
	members []*server // in nutcracker's order
	nextID  int
	freeIDs []int
	gen     uint64
}

func newPool(cfg *PoolConfig, log *slog.Logger) (*pool, error) {
	h, err := LookupHash(cfg.Hash)
	if err != nil {
		return nil, err
	}
	p := &pool{cfg: cfg, hash: h, log: log}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.metrics = newPoolMetrics(p)
	if err := p.setMembers(nil); err != nil {
		return nil, err
	}
	return p, nil
}

// setMembers replaces the pool's members with specs: a server whose name, address and weight are
// unchanged keeps its state (and clients their connections to it).
func (p *pool) setMembers(specs []ServerSpec) error {
	specs = append([]ServerSpec(nil), specs...)
	sortServers(specs)
	p.mu.Lock()
	defer p.mu.Unlock()
	old := map[ServerSpec]*server{}
	for _, s := range p.members {
		old[s.spec] = s
	}
	members := make([]*server, 0, len(specs))
	for _, sp := range specs {
		if s, ok := old[sp]; ok {
			delete(old, sp)
			members = append(members, s)
			continue
		}
		s := &server{spec: sp, addr: sp.Addr()}
		if n := len(p.freeIDs); n > 0 {
			s.id, p.freeIDs = p.freeIDs[n-1], p.freeIDs[:n-1]
		} else {
			s.id = p.nextID
			p.nextID++
		}
		members = append(members, s)
	}
	for _, s := range old {
		s.removed.Store(true)
		s.closeIdle()
		p.freeIDs = append(p.freeIDs, s.id)
	}
	// An id is reused only by a later generation; a client that still holds a connection under
	// it sees the generation change first and closes connections of removed servers.
	p.members = members
	return p.rebuildLocked(time.Now())
}

// rebuildLocked builds the ring over the members that are not ejected at now.
func (p *pool) rebuildLocked(now time.Time) error {
	rs := make([]ringServer, len(p.members))
	var next int64
	for i, s := range p.members {
		live := true
		if p.cfg.AutoEjectHosts && !s.nextRetry.IsZero() {
			if now.Before(s.nextRetry) {
				live = false
				if t := s.nextRetry.UnixNano(); next == 0 || t < next {
					next = t
				}
			} else {
				s.nextRetry = time.Time{}
			}
		}
		rs[i] = ringServer{name: s.spec.Name, weight: s.spec.Weight, live: live}
	}
	var ring *Ring
	if len(rs) == 0 {
		ring = &Ring{dist: p.cfg.Distribution, singleIdx: -1}
	} else {
		var err error
		if ring, err = buildRing(p.cfg.Distribution, p.hash, p.cfg.HashTag, rs); err != nil {
			return err
		}
	}
	p.gen++
	p.snap.Store(&snapshot{ring: ring, servers: append([]*server(nil), p.members...), gen: p.gen, nextRebuild: next})
	return nil
}

// close closes every server connection and opens no new one: requests still queued are answered
// with errors.
func (p *pool) close() {
	p.closed.Store(true)
	p.cancel()
	p.mu.Lock()
	members := append([]*server(nil), p.members...)
	p.mu.Unlock()
	for _, s := range members {
		s.closeConn()
	}
}

// current returns the snapshot for a batch starting at now, first re-admitting servers whose
// retry timeout has passed.
func (p *pool) current(now int64) *snapshot {
	s := p.snap.Load()
	if s.nextRebuild != 0 && now >= s.nextRebuild {
		p.mu.Lock()
		if s2 := p.snap.Load(); s2.nextRebuild != 0 && now >= s2.nextRebuild {
			if err := p.rebuildLocked(time.Unix(0, now)); err != nil {
				p.log.Error("rebuilding the ring", "pool", p.cfg.Name, "err", err)
			} else {
				p.log.Info("servers re-admitted after server_retry_timeout", "pool", p.cfg.Name, "live", p.snap.Load().ring.Live())
			}
		}
		p.mu.Unlock()
		s = p.snap.Load()
	}
	return s
}

// failure records a failed exchange with s (refused or broken connection, timeout): with
// auto_eject_hosts, the server_failure_limit-th consecutive one ejects s from the ring for
// server_retry_timeout, as nutcracker does.
func (p *pool) failure(s *server) {
	s.failing.Add(1)
	if !p.cfg.AutoEjectHosts {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.removed.Load() || !s.nextRetry.IsZero() {
		return
	}
	s.failures++
	if s.failures < p.cfg.failureLimit() {
		return
	}
	s.failures = 0
	s.failing.Store(0)
	now := time.Now()
	s.nextRetry = now.Add(p.cfg.retryTimeout())
	s.ejects.Add(1)
	p.log.Warn("server ejected", "pool", p.cfg.Name, "server", s.addr, "name", s.spec.Name, "for", p.cfg.retryTimeout())
	if err := p.rebuildLocked(now); err != nil {
		p.log.Error("rebuilding the ring", "pool", p.cfg.Name, "err", err)
	}
}

// ok records an answer from s: its consecutive failures start again from 0.
func (p *pool) ok(s *server) {
	if s.failing.Load() == 0 {
		return
	}
	s.failing.Store(0)
	p.mu.Lock()
	s.failures = 0
	p.mu.Unlock()
}

// ejected reports whether s is out of the ring now.
func (p *pool) ejected(s *server) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !s.nextRetry.IsZero() && time.Now().Before(s.nextRetry)
}
