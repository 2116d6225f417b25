// Package elector is `podd-patterns elector`: leader election as a sidecar (Burns & Oppenheimer,
// HotCloud 2016). The elector campaigns for its pod through a backend (podd's pod socket: the
// "local" backend) and serves the outcome on localhost over plain HTTP, so an application in any
// language knows whether it leads, with a fencing token to hand to the resources it writes.
package elector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrNotLeader: the backend refused (someone else leads, or the token is stale).
var ErrNotLeader = errors.New("not the leader")

// Grant is a backend's answer to a granted campaign or renew.
type Grant struct {
	Leader string
	Token  uint64
	TTL    time.Duration
}

// Observed is the backend's view of an election (who leads, with which token).
type Observed struct {
	Leader string
	Token  uint64
	// Last is the last token the election issued, when the backend says (podd does): a vacancy
	// whose Last is a token held means that grant was taken away.
	Last uint64
}

// takes says whether the view o takes away the grant of token: a higher token granted, or the
// election vacant after that token was issued.
func (o Observed) takes(token uint64) bool {
	return o.Token > token || o.Leader == "" && o.Last > 0 && o.Last >= token
}

// Backend is where the elections are held.
type Backend interface {
	// Self names the candidate (the pod).
	Self(ctx context.Context) (string, error)
	// Campaign asks for the lead; with wait it blocks until granted or ctx ends, without it
	// answers ErrNotLeader when someone else leads.
	Campaign(ctx context.Context, election string, ttl time.Duration, wait bool) (Grant, error)
	Renew(ctx context.Context, election string, token uint64, ttl time.Duration) (Grant, error)
	Resign(ctx context.Context, election string, token uint64) error
	// Ack acknowledges a lost lease (its token): what podd froze of the pod on that loss
	// (podd.io/leader-fence: freeze) is thawed. Nothing frozen is not an error.
	Ack(ctx context.Context, election string, token uint64) error
	// Observe calls fn with the election's leader now and at each change, until ctx ends or the
	// stream breaks.
	Observe(ctx context.Context, election string, fn func(Observed)) error
}

// Config is the elector's settings (the command's flags).
type Config struct {
	Elections []string
	TTL       time.Duration
	// Margin: leadership is declared lost at the lease's local deadline minus Margin.
	Margin time.Duration
	// Manual: no campaign of its own; the application calls becomeLeader, renewLeadership and
	// resign.
	Manual bool
	// Gate, when set, is the application's readiness: auto mode campaigns only while it is
	// ready and resigns when it is not (nil: podd gates the local backend's elections itself).
	Gate Gate
	// OnLost, when set, is called (in a goroutine of its own) once per grant lost other than by
	// the application's resign or the elector's stop: at the self-fencing deadline, a refused
	// renew, a deposition, or an unready application (--signal).
	OnLost func(election string, token uint64)
	Log    *slog.Logger
	Now    func() time.Time
}

// Status is what GET / and GET /elections/{name} answer.
type Status struct {
	Election string    `json:"election"`
	Leader   string    `json:"leader"`
	Self     string    `json:"self"`
	IsLeader bool      `json:"isLeader"`
	Token    uint64    `json:"token"`
	Since    time.Time `json:"since,omitzero"`
	// Deadline is when this elector stops saying it leads unless renewed (self-fencing).
	Deadline time.Time `json:"deadline,omitzero"`
}

type state struct {
	observed Observed
	// The grant held, when holding is set: deadline is measured from before the request.
	holding  bool
	token    uint64
	since    time.Time
	deadline time.Time
	fence    *time.Timer
	resign   chan struct{}
	// lost is the token of a lease lost (not resigned) and not acknowledged yet, 0 for none.
	lost uint64
	// told is the last token OnLost was called for.
	told uint64
}

// tellLost calls OnLost for the grant held in s, once. e.mu is held.
func (e *Elector) tellLost(name string, s *state) {
	if e.cfg.OnLost == nil || s.token == 0 || s.told == s.token {
		return
	}
	s.told = s.token
	go e.cfg.OnLost(name, s.token)
}

// Elector holds the elections of one pod.
type Elector struct {
	cfg  Config
	b    Backend
	self string

	mu      sync.Mutex
	st      map[string]*state
	changed chan struct{}
}

// New returns an elector for the candidate self.
func New(cfg Config, b Backend, self string) (*Elector, error) {
	if len(cfg.Elections) == 0 {
		return nil, errors.New("--election: at least one is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Margin <= 0 {
		cfg.Margin = cfg.TTL / 10
	}
	e := &Elector{cfg: cfg, b: b, self: self, st: map[string]*state{}, changed: make(chan struct{})}
	for _, name := range cfg.Elections {
		if _, dup := e.st[name]; dup {
			return nil, fmt.Errorf("--election: %q given twice", name)
		}
		e.st[name] = &state{resign: make(chan struct{}, 1)}
	}
	return e, nil
}

// notify wakes the watchers. e.mu is held.
func (e *Elector) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Status is an election's status now: this elector leads only while it holds a grant whose local
// deadline minus the margin has not passed, whether or not it can reach the backend.
func (e *Elector) Status(name string) (Status, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status(name)
}

func (e *Elector) status(name string) (Status, bool) {
	s, ok := e.st[name]
	if !ok {
		return Status{}, false
	}
	out := Status{Election: name, Self: e.self, Leader: s.observed.Leader, Token: s.observed.Token}
	if e.leads(s) {
		out.IsLeader, out.Leader, out.Token, out.Since, out.Deadline = true, e.self, s.token, s.since, s.deadline.Add(-e.cfg.Margin)
	} else if out.Leader == e.self {
		// The backend's view may still name this pod; it does not lead as far as it can tell.
		out.Leader = ""
	}
	return out, true
}

func (e *Elector) leads(s *state) bool {
	return s.holding && e.cfg.Now().Before(s.deadline.Add(-e.cfg.Margin))
}

// hold records a grant or renew, its deadline measured from sent (before the request).
func (e *Elector) hold(name string, g Grant, sent time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st[name]
	if s.observed.takes(g.Token) {
		// A renew answered before the backend granted a newer token to someone else (or took
		// this one away), read after its watch said so: this elector was deposed meanwhile.
		return
	}
	fresh := !s.holding || s.token != g.Token
	s.holding, s.token = true, g.Token
	if fresh {
		s.since = e.cfg.Now()
		e.cfg.Log.Info("leader", "election", name, "token", g.Token)
	}
	ttl := g.TTL
	if ttl <= 0 {
		ttl = e.cfg.TTL
	}
	s.deadline = sent.Add(ttl)
	if s.fence != nil {
		s.fence.Stop()
	}
	// Tell the watchers when the self-fencing deadline passes without a renew.
	s.fence = time.AfterFunc(time.Until(s.deadline.Add(-e.cfg.Margin)), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if s.holding && !e.leads(s) {
			e.cfg.Log.Warn("leadership lost: lease deadline passed without a renew", "election", name, "token", s.token)
			e.tellLost(name, s)
			e.notify()
		}
	})
	e.notify()
}

// Reasons the elector drops a grant; the last two are losses, which the pod acknowledges.
const (
	whyStopping = "stopping"
	whyResigned = "resigned"
	whyUnready  = "the application is not ready"
	whyExpired  = "lease deadline passed without a renew"
	whyRefused  = "the backend refused the renew"
)

// drop forgets the grant held.
func (e *Elector) drop(name, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st[name]
	if !s.holding {
		return
	}
	e.cfg.Log.Info("not leader", "election", name, "token", s.token, "why", why)
	if why == whyExpired || why == whyRefused {
		s.lost = s.token
	}
	if why == whyExpired || why == whyRefused || why == whyUnready {
		e.tellLost(name, s)
	}
	s.holding = false
	if s.fence != nil {
		s.fence.Stop()
	}
	e.notify()
}

// observe records the backend's view. A grant of a higher token than the one held, or a vacancy
// after the token held was issued, means this elector was deposed (podd releases a leader at once
// when a guarded container dies or turns unready, and grants the next waiter once the deposed
// elector acknowledged): it stops saying it leads now, not at its next renew. It returns whether
// this view deposed it.
func (e *Elector) observe(name string, o Observed) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st[name]
	if s.observed == o {
		return false
	}
	s.observed = o
	deposed := s.holding && o.takes(s.token)
	if deposed {
		e.cfg.Log.Info("not leader", "election", name, "token", s.token, "why", "the backend took the lead away", "leader", o.Leader, "leaderToken", o.Token)
		s.lost = s.token // a loss podd imposed: acknowledged like a refused renew
		s.holding = false
		if s.fence != nil {
			s.fence.Stop()
		}
		e.tellLost(name, s)
	}
	e.notify()
	return deposed
}

// held returns the token held, when this elector leads.
func (e *Elector) held(name string) (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st[name]
	return s.token, e.leads(s)
}

// Run campaigns (auto mode) and follows each election's leader until ctx ends; then it resigns
// what it holds, so that the next candidate is granted at once.
func (e *Elector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range e.cfg.Elections {
		wg.Add(1)
		go func() { defer wg.Done(); e.follow(ctx, name) }()
		if !e.cfg.Manual {
			wg.Add(1)
			go func() { defer wg.Done(); e.campaign(ctx, name) }()
		}
	}
	wg.Wait()
	for _, name := range e.cfg.Elections {
		if token, ok := e.held(name); ok {
			// Stop saying it leads before the backend may grant another: never two at once.
			e.drop(name, whyStopping)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			if err := e.b.Resign(rctx, name, token); err != nil {
				e.cfg.Log.Warn("resign on exit", "election", name, "err", err)
			}
			cancel()
		}
	}
}

// follow keeps the backend's view of the leader, reconnecting. In auto mode a loss it learns of
// is acknowledged at once: podd grants the next candidate only then (or at the lost lease's
// deadline), so that no instant sees two electors claim the lead.
func (e *Elector) follow(ctx context.Context, name string) {
	for ctx.Err() == nil {
		err := e.b.Observe(ctx, name, func(o Observed) {
			if e.observe(name, o) && !e.cfg.Manual {
				go func() {
					actx, cancel := context.WithTimeout(ctx, e.cfg.TTL)
					defer cancel()
					if _, err := e.Ack(actx, name); err != nil && ctx.Err() == nil {
						e.cfg.Log.Warn("ack the lost lease", "election", name, "err", err)
					}
				}()
			}
		})
		if ctx.Err() != nil {
			return
		}
		e.cfg.Log.Debug("observe", "election", name, "err", err)
		sleep(ctx, 200*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// grant asks for the lead and returns the grant with the instant its deadline counts from. A
// grant that came later than a third of the ttl after the request (a long poll that waited) is
// renewed at once: podd's lease started at the grant, an unknown instant after the request, and
// counting from the request would make the elector say "not leader" until its next renew.
func (e *Elector) grant(ctx context.Context, name string, wait bool) (Grant, time.Time, error) {
	sent := e.cfg.Now()
	g, err := e.b.Campaign(ctx, name, e.cfg.TTL, wait)
	if err != nil || e.cfg.Now().Sub(sent) < e.cfg.TTL/3 {
		return g, sent, err
	}
	sent = e.cfg.Now()
	rctx, cancel := context.WithTimeout(ctx, e.cfg.TTL)
	defer cancel()
	granted := g.Token
	g, err = e.b.Renew(rctx, name, granted, e.cfg.TTL)
	if errors.Is(err, ErrNotLeader) {
		// Granted and lost before this elector could use it (it was paused between the
		// grant and its renew): a loss like any other, which the pod acknowledges.
		e.mu.Lock()
		e.st[name].lost = granted
		e.mu.Unlock()
		e.cfg.Log.Info("not leader", "election", name, "token", granted, "why", "the grant was lost before its first renew")
	}
	return g, sent, err
}

// campaign is auto mode: campaign (a long poll), then renew at ttl/3 until the lead is lost or
// resigned, and again. With a gate, only while the application is ready.
func (e *Elector) campaign(ctx context.Context, name string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// The watchers were told of a loss when it was dropped: acknowledge it at once, so that
		// what podd froze of the pod (podd.io/leader-fence: freeze) is thawed.
		if _, err := e.Ack(ctx, name); err != nil && ctx.Err() == nil {
			e.cfg.Log.Warn("ack the lost lease", "election", name, "err", err)
		}
		if !e.waitReady(ctx) {
			return
		}
		cctx, unready, cancel := e.whileReady(ctx)
		g, sent, err := e.grant(cctx, name, true)
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return
			}
			if cctx.Err() != nil {
				continue // the application turned unready: the campaign was withdrawn
			}
			e.cfg.Log.Warn("campaign", "election", name, "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, max(e.cfg.TTL, time.Second))
			continue
		}
		backoff = 100 * time.Millisecond
		e.hold(name, g, sent)
		e.renewLoop(ctx, name, g.Token, unready)
		cancel()
	}
}

// waitReady waits until the gate (if any) says ready; false when ctx ended first.
func (e *Elector) waitReady(ctx context.Context) bool {
	if e.cfg.Gate == nil {
		return true
	}
	for {
		ok, ch := e.cfg.Gate.Ready()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// whileReady is ctx, ended too when the gate turns unready; unready is closed at that turn (nil
// without a gate).
func (e *Elector) whileReady(ctx context.Context) (context.Context, <-chan struct{}, context.CancelFunc) {
	cctx, cancel := context.WithCancel(ctx)
	if e.cfg.Gate == nil {
		return cctx, nil, cancel
	}
	unready := make(chan struct{})
	go func() {
		for {
			ok, ch := e.cfg.Gate.Ready()
			if !ok {
				close(unready)
				cancel()
				return
			}
			select {
			case <-ch:
			case <-cctx.Done():
				return
			}
		}
	}()
	return cctx, unready, cancel
}

// renewLoop renews the grant of token until it is lost, resigned (by request, or because the
// application turned unready), or ctx ends.
func (e *Elector) renewLoop(ctx context.Context, name string, token uint64, unready <-chan struct{}) {
	interval := e.cfg.TTL / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	resign := e.st[name].resign
	for {
		select {
		case <-ctx.Done():
			return // Run resigns
		case <-resign:
			e.resign(ctx, name, token, whyResigned)
			return
		case <-unready:
			e.resign(ctx, name, token, whyUnready)
			return
		case <-t.C:
		}
		if _, ok := e.held(name); !ok {
			e.drop(name, whyExpired)
			return
		}
		sent := e.cfg.Now()
		rctx, cancel := context.WithTimeout(ctx, e.cfg.TTL)
		g, err := e.b.Renew(rctx, name, token, e.cfg.TTL)
		cancel()
		switch {
		case errors.Is(err, ErrNotLeader):
			e.drop(name, whyRefused)
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			e.cfg.Log.Warn("renew", "election", name, "err", err)
			t.Reset(min(interval, 100*time.Millisecond))
		default:
			e.hold(name, g, sent)
			t.Reset(interval)
		}
	}
}

// resign stops saying it leads, and then tells the backend, which may grant the next candidate
// at once: in this order no instant sees two leaders.
func (e *Elector) resign(ctx context.Context, name string, token uint64, why string) {
	e.drop(name, why)
	rctx, cancel := context.WithTimeout(ctx, e.cfg.TTL)
	defer cancel()
	if err := e.b.Resign(rctx, name, token); err != nil {
		e.cfg.Log.Warn("resign", "election", name, "err", err)
	}
}

// BecomeLeader: in manual mode a campaign (a long poll with wait); in auto mode, with wait, it
// waits until this elector leads. The status after it.
func (e *Elector) BecomeLeader(ctx context.Context, name string, wait bool) (Status, error) {
	if !e.cfg.Manual {
		for {
			e.mu.Lock()
			st, _ := e.status(name)
			ch := e.changed
			e.mu.Unlock()
			if st.IsLeader || !wait {
				return st, nil
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return st, ctx.Err()
			}
		}
	}
	g, sent, err := e.grant(ctx, name, wait)
	if err != nil && !errors.Is(err, ErrNotLeader) {
		return Status{}, err
	}
	// podd takes a campaign as the acknowledgement of a lost lease.
	e.mu.Lock()
	e.st[name].lost = 0
	e.mu.Unlock()
	if err == nil {
		e.hold(name, g, sent)
	}
	st, _ := e.Status(name)
	return st, nil
}

// Ack acknowledges the lease this elector lost (in manual mode, also one whose deadline passed
// without a renew), so that podd thaws what it froze of the pod; whether there was one.
func (e *Elector) Ack(ctx context.Context, name string) (bool, error) {
	e.mu.Lock()
	s := e.st[name]
	token := s.lost
	expired := token == 0 && s.holding && !e.leads(s)
	if expired {
		token = s.token
	}
	e.mu.Unlock()
	if token == 0 {
		return false, nil
	}
	if expired {
		e.drop(name, whyExpired)
	}
	if err := e.b.Ack(ctx, name, token); err != nil {
		return false, err
	}
	e.mu.Lock()
	if s.lost == token {
		s.lost = 0
	}
	e.mu.Unlock()
	e.cfg.Log.Info("acknowledged the lost lease", "election", name, "token", token)
	return true, nil
}

// RenewLeadership renews now; the status after it.
func (e *Elector) RenewLeadership(ctx context.Context, name string) (Status, error) {
	token, ok := e.held(name)
	if ok {
		sent := e.cfg.Now()
		g, err := e.b.Renew(ctx, name, token, e.cfg.TTL)
		switch {
		case errors.Is(err, ErrNotLeader):
			e.drop(name, whyRefused)
		case err != nil:
			return Status{}, err
		default:
			e.hold(name, g, sent)
		}
	}
	st, _ := e.Status(name)
	return st, nil
}

// Resign gives the lead up (auto mode campaigns again, behind the other candidates).
func (e *Elector) Resign(ctx context.Context, name string) (Status, error) {
	token, ok := e.held(name)
	if ok {
		if !e.cfg.Manual {
			select {
			case e.st[name].resign <- struct{}{}:
			default:
			}
			for { // until the renew loop has resigned
				e.mu.Lock()
				holding, ch := e.st[name].holding && e.st[name].token == token, e.changed
				e.mu.Unlock()
				if !holding {
					break
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return Status{}, ctx.Err()
				}
			}
		} else {
			// Not leading from now on, whatever the backend answers (its lease ends anyway).
			e.drop(name, whyResigned)
			if err := e.b.Resign(ctx, name, token); err != nil && !errors.Is(err, ErrNotLeader) {
				return Status{}, err
			}
		}
	}
	st, _ := e.Status(name)
	return st, nil
}

// Watch calls fn with the status now and at each change, until ctx ends or fn fails.
func (e *Elector) Watch(ctx context.Context, name string, fn func(Status) error) error {
	var last *Status
	for {
		e.mu.Lock()
		st, _ := e.status(name)
		ch := e.changed
		e.mu.Unlock()
		if last == nil || last.Leader != st.Leader || last.IsLeader != st.IsLeader || last.Token != st.Token {
			if err := fn(st); err != nil {
				return err
			}
			last = &st
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}
