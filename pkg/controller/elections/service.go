package elections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/pod"
)

// Pods is what the service needs of podd's pods: all of them, and a channel closed at the next
// change of any (the supervisor's, which knows at once when a container exits or turns unready).
type Pods interface {
	List(ctx context.Context, namespace string) ([]*pod.Pod, error)
	Changed() <-chan struct{}
}

// Fencer is what the service needs of the supervisor to enforce a lost leadership on a pod's
// containers (pkg/daemon implements it over containerd). A container that is not running has
// nothing to enforce: each method returns nil for it.
type Fencer interface {
	// Freeze pauses the container (the cgroup freezer) and returns once it is frozen.
	Freeze(ctx context.Context, namespace, pod, container string) error
	// Thaw resumes a frozen container.
	Thaw(ctx context.Context, namespace, pod, container string) error
	// Signal sends sig to the container's main process.
	Signal(ctx context.Context, namespace, pod, container string, sig syscall.Signal) error
	// Stop stops the container as podd stops any (SIGTERM or its stop signal, the pod's grace
	// period, SIGKILL) and returns once it exited; its restartPolicy then applies.
	Stop(ctx context.Context, namespace, pod, container string) error
}

// Tokens stores each election's last token (pkg/store).
type Tokens interface {
	PutElectionToken(namespace, name string, token uint64) error
	ElectionTokens() (map[string]uint64, error)
}

// CampaignRequest is the body of POST /elections/{name}/campaign.
type CampaignRequest struct {
	// TTLMillis is the lease's time to live (DefaultTTL when 0).
	TTLMillis int64 `json:"ttlMillis,omitempty"`
	// Wait: a long poll until granted, instead of 409 when someone else leads.
	Wait bool `json:"wait,omitempty"`
	// Guard names the pod's containers this leadership depends on (default: its regular
	// containers); "none" alone guards nothing.
	Guard []string `json:"guard,omitempty"`
}

// TokenRequest is the body of renew and resign.
type TokenRequest struct {
	Token     uint64 `json:"token"`
	TTLMillis int64  `json:"ttlMillis,omitempty"`
}

// Grant is the answer to a granted campaign or a renew.
type Grant struct {
	Election  string    `json:"election"`
	Leader    string    `json:"leader"`
	Token     uint64    `json:"token"`
	TTLMillis int64     `json:"ttlMillis"`
	Since     time.Time `json:"since"`
	Deadline  time.Time `json:"deadline"`
}

func grantOf(l *Lease) *Grant {
	return &Grant{Election: l.Election, Leader: l.Pod, Token: l.Token, TTLMillis: l.TTL.Milliseconds(), Since: l.Since, Deadline: l.Deadline}
}

// NotLeaderError is a campaign, renew or resign refused: someone else leads (View), or the pod
// may not lead now (Reason).
type NotLeaderError struct {
	View   View
	Reason string
}

func (e *NotLeaderError) Error() string {
	msg := fmt.Sprintf("pod is not the leader of election %s", e.View.Name)
	if e.View.Leader != "" {
		msg += fmt.Sprintf(" (pod %s leads with token %d)", e.View.Leader, e.View.Token)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *NotLeaderError) Unwrap() error { return errdefs.ErrConflict }

type result struct {
	lease *Lease
	err   error
}

// Service runs the Machine for podd: pods' changes in, grants and losses out as events, long
// polls answered, watchers told.
type Service struct {
	pods   Pods
	events *events.Recorder
	log    *slog.Logger
	fencer Fencer
	// ctx ends the enforcement under way (Run's).
	ctx context.Context

	mu      sync.Mutex
	m       *Machine
	byUID   map[string]*pod.Pod
	waiters map[uint64]chan result
	changed chan struct{} // closed at any change of any election
	wake    chan struct{}
}

// NewService loads the stored tokens; nobody leads until a campaign.
func NewService(pods Pods, tokens Tokens, ev *events.Recorder, log *slog.Logger, now func() time.Time) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	stored, err := tokens.ElectionTokens()
	if err != nil {
		return nil, fmt.Errorf("elections: read the stored tokens: %w", err)
	}
	return &Service{
		pods: pods, events: ev, log: log, ctx: context.Background(),
		m:       NewMachine(now, stored, tokens.PutElectionToken),
		byUID:   map[string]*pod.Pod{},
		waiters: map[uint64]chan result{},
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}, nil
}

// WithFencer lets the service enforce lost leaderships (podd.io/leader-fence). Without one, a
// fence asked for cannot be enforced, and the election is not granted to anyone else.
func (s *Service) WithFencer(f Fencer) *Service {
	s.fencer = f
	return s
}

// Run follows the pods and the leases' deadlines until ctx ends.
func (s *Service) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := s.pods.Changed()
		pods, err := s.pods.List(ctx, "")
		s.mu.Lock()
		if err == nil {
			states := make([]PodState, 0, len(pods))
			s.byUID = make(map[string]*pod.Pod, len(pods))
			for _, p := range pods {
				s.byUID[p.Metadata.UID] = p
				states = append(states, stateOf(p))
			}
			s.apply(s.m.Observe(states))
		} else {
			s.log.Warn("elections: list pods", "err", err)
		}
		s.apply(s.m.Tick())
		next, ok := s.m.NextTick()
		s.mu.Unlock()
		timer.Stop()
		if ok {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-changed:
		case <-timer.C:
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}

// stateOf reads what the machine needs of a pod.
func stateOf(p *pod.Pod) PodState {
	st := PodState{UID: p.Metadata.UID, Namespace: p.Metadata.Namespace, Name: p.Metadata.Name,
		Running:    p.Status.Phase == pod.PodRunning && p.Metadata.DeletionTimestamp == nil,
		Containers: map[string]ContainerState{}}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		st.Containers[cs.Name] = ContainerState{Ready: cs.Ready && cs.State.Running != nil,
			Instance: cs.ContainerID + "#" + strconv.Itoa(int(cs.RestartCount))}
	}
	return st
}

// apply reports changes: events, long polls, watchers, and Run's timer. s.mu is held.
func (s *Service) apply(changes []Change) {
	if len(changes) == 0 {
		return
	}
	for _, c := range changes {
		switch c.Kind {
		case Granted:
			s.event(c.Lease.UID, pod.EventNormal, "LeaderElected", "pod %s became leader of election %s with token %d", c.Lease.Pod, c.Election, c.Lease.Token)
			s.answer(c.Waiter, result{lease: &c.Lease})
		case Lost:
			typ := pod.EventWarning
			if c.Reason == ReasonResigned {
				typ = pod.EventNormal
			}
			msg := c.Reason
			if c.Detail != "" {
				msg += ": " + c.Detail
			}
			s.event(c.Lease.UID, typ, "LeaderLost", "pod %s lost the lead of election %s (token %d): %s", c.Lease.Pod, c.Election, c.Lease.Token, msg)
		case Enforce:
			go s.enforce(s.ctx, c)
		case Thaw:
			go s.thaw(s.ctx, c)
		case Withdrawn:
			s.answer(c.Waiter, result{err: &NotLeaderError{View: s.m.View(c.Namespace, c.Election), Reason: "campaign withdrawn: " + c.Reason}})
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enforce freezes, stops or signals the guarded containers of the lost lease c.Lease, retrying
// until done (or no longer awaited: its pod stopped), then lets the machine grant the next.
func (s *Service) enforce(ctx context.Context, c Change) {
	l := c.Lease
	verb := map[string]string{pod.FenceFreeze: "froze", pod.FenceStop: "stopped", pod.FenceSignal: "signalled"}[l.Fence.Mode]
	if l.Fence.Mode == pod.FenceSignal {
		verb += " (" + l.Fence.Signal.String() + ")"
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := s.fence(ctx, l)
		s.mu.Lock()
		if err == nil {
			s.log.Info("elections: fenced the lost leader", "namespace", l.Namespace, "pod", l.Pod, "election", c.Election, "token", l.Token, "fence", l.Fence.Mode, "containers", l.Guard, "took", time.Since(start))
			s.event(l.UID, pod.EventWarning, "LeaderFenced", "%s containers %s of pod %s after it lost the lead of election %s (token %d): %s",
				verb, strings.Join(l.Guard, ","), l.Pod, c.Election, l.Token, c.Reason)
			if l.Fence.Mode != pod.FenceSignal {
				s.apply(s.m.Enforced(c.Namespace, c.Election, l))
			}
			s.mu.Unlock()
			return
		}
		awaited := s.m.Pending(c.Namespace, c.Election, l.Token)
		if attempt == 1 || attempt%10 == 0 {
			s.event(l.UID, pod.EventWarning, "LeaderFenceFailed", "could not %s containers %s of pod %s after it lost the lead of election %s (token %d), attempt %d: %v; nobody else is granted the election until it is done",
				l.Fence.Mode, strings.Join(l.Guard, ","), l.Pod, c.Election, l.Token, attempt, err)
		}
		s.mu.Unlock()
		s.log.Warn("elections: fence the lost leader", "namespace", l.Namespace, "pod", l.Pod, "election", c.Election, "token", l.Token, "fence", l.Fence.Mode, "attempt", attempt, "err", err)
		if (!awaited && l.Fence.Mode != pod.FenceSignal) || (l.Fence.Mode == pod.FenceSignal && attempt >= 3) {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Service) fence(ctx context.Context, l Lease) error {
	if s.fencer == nil {
		return errors.New("this podd cannot enforce a leader fence")
	}
	for _, name := range l.Guard {
		var err error
		switch l.Fence.Mode {
		case pod.FenceFreeze:
			err = s.fencer.Freeze(ctx, l.Namespace, l.Pod, name)
		case pod.FenceStop:
			err = s.fencer.Stop(ctx, l.Namespace, l.Pod, name)
		case pod.FenceSignal:
			err = s.fencer.Signal(ctx, l.Namespace, l.Pod, name, l.Fence.Signal)
		}
		if err != nil {
			return fmt.Errorf("container %q: %w", name, err)
		}
	}
	return nil
}

// thaw resumes the frozen guarded containers of c.Lease (a few tries: a pod that is gone has
// nothing to thaw).
func (s *Service) thaw(ctx context.Context, c Change) {
	l := c.Lease
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		err = nil
		if s.fencer == nil {
			err = errors.New("this podd cannot thaw")
		}
		for _, name := range l.Guard {
			if err == nil {
				if e := s.fencer.Thaw(ctx, l.Namespace, l.Pod, name); e != nil && !errdefs.IsNotFound(e) {
					err = fmt.Errorf("container %q: %w", name, e)
				}
			}
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.log.Warn("elections: thaw", "namespace", l.Namespace, "pod", l.Pod, "election", c.Election, "token", l.Token, "err", err)
		s.event(l.UID, pod.EventWarning, "LeaderThawFailed", "could not thaw containers %s of pod %s (election %s, token %d): %v", strings.Join(l.Guard, ","), l.Pod, c.Election, l.Token, err)
		return
	}
	s.log.Info("elections: thawed", "namespace", l.Namespace, "pod", l.Pod, "election", c.Election, "token", l.Token, "reason", c.Reason)
	s.event(l.UID, pod.EventNormal, "LeaderThawed", "thawed containers %s of pod %s (election %s, token %d): %s", strings.Join(l.Guard, ","), l.Pod, c.Election, l.Token, c.Reason)
}

// quietThaw resumes c's guarded containers in case they are paused; an event only when it fails.
func (s *Service) quietThaw(ctx context.Context, c Candidate) {
	if s.fencer == nil {
		return
	}
	for _, name := range c.Guard {
		if err := s.fencer.Thaw(ctx, c.Namespace, c.Pod, name); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("elections: thaw at a campaign", "namespace", c.Namespace, "pod", c.Pod, "container", name, "err", err)
		}
	}
}

// AckRequest is the body of POST /elections/{name}/ack.
type AckRequest struct {
	Token uint64 `json:"token"`
}

// AckResponse says whether the ack thawed (or will thaw) something.
type AckResponse struct {
	Election string `json:"election"`
	Token    uint64 `json:"token"`
	Thawed   bool   `json:"thawed"`
}

// Ack is the asker's acknowledgement of its lost lead (of that token): what podd froze of it is
// thawed. Acknowledging a loss that froze nothing (or twice) is not an error.
func (s *Service) Ack(asker *pod.Pod, name string, req AckRequest) (*AckResponse, error) {
	if req.Token == 0 {
		return nil, fmt.Errorf("token: must be the lost lease's token (a positive number): %w", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.m.Ack(asker.Metadata.Namespace, name, asker.Metadata.UID, req.Token)
	s.apply(cs)
	return &AckResponse{Election: name, Token: req.Token, Thawed: ok}, nil
}

func (s *Service) answer(id uint64, r result) {
	if ch, ok := s.waiters[id]; ok {
		ch <- r // buffered, one answer each
		delete(s.waiters, id)
	}
}

func (s *Service) event(uid, typ, reason, format string, args ...any) {
	if s.events == nil {
		return
	}
	if p := s.byUID[uid]; p != nil {
		s.events.Pod(p, "", typ, reason, format, args...)
	}
}

// validate checks a campaign's name, ttl and guard against the asking pod.
func validate(asker *pod.Pod, name string, req CampaignRequest) (Candidate, error) {
	var errs pod.ErrorList
	errs.CheckDNS1123Label("election", name)
	if len(errs) > 0 {
		return Candidate{}, errs[0]
	}
	ttl := time.Duration(req.TTLMillis) * time.Millisecond
	if req.TTLMillis == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return Candidate{}, fmt.Errorf("ttlMillis: %d is out of range [%d, %d]: %w", req.TTLMillis, MinTTL.Milliseconds(), MaxTTL.Milliseconds(), errdefs.ErrInvalidArgument)
	}
	c := Candidate{UID: asker.Metadata.UID, Namespace: asker.Metadata.Namespace, Pod: asker.Metadata.Name, TTL: ttl,
		Fence: pod.LeaderFenceOf(asker)}
	known := map[string]bool{}
	for _, ct := range asker.Spec.InitContainers {
		known[ct.Name] = true
	}
	for _, ct := range asker.Spec.Containers {
		known[ct.Name] = true
	}
	switch {
	case len(req.Guard) == 1 && req.Guard[0] == "none":
	case len(req.Guard) == 0:
		for _, ct := range asker.Spec.Containers {
			c.Guard = append(c.Guard, ct.Name)
		}
	default:
		for i, g := range req.Guard {
			if !known[g] {
				return Candidate{}, fmt.Errorf("guard[%d]: %q is not a container of pod %s: %w", i, g, asker.Metadata.Name, errdefs.ErrInvalidArgument)
			}
			c.Guard = append(c.Guard, g)
		}
	}
	return c, nil
}

func (s *Service) notLeader(namespace, name string, err error) error {
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		return err
	}
	if errors.Is(err, ErrTooMany) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNotEligible) {
		reason := ""
		if errors.Is(err, ErrNotEligible) {
			reason = err.Error()
		}
		return &NotLeaderError{View: s.m.View(namespace, name), Reason: reason}
	}
	return err
}

// Campaign asks, for the pod asker, for the lead of election name in its namespace.
func (s *Service) Campaign(ctx context.Context, asker *pod.Pod, name string, req CampaignRequest) (*Grant, error) {
	c, err := validate(asker, name, req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.byUID[asker.Metadata.UID] = asker
	s.m.SetPod(stateOf(asker))
	lease, id, changes, err := s.m.Campaign(name, c, req.Wait)
	if c.Fence.Mode == pod.FenceFreeze && !slices.ContainsFunc(changes, func(ch Change) bool { return ch.Kind == Thaw }) {
		// A campaign acknowledges any loss: what a podd before a restart froze of the pod (and
		// this podd has no record of) is resumed too. Resuming a container that is not paused
		// does nothing.
		go s.quietThaw(s.ctx, c)
	}
	if lease != nil && err == nil {
		changes = append(changes, Change{Kind: Granted, Namespace: c.Namespace, Election: name, Lease: *lease})
	}
	s.apply(changes)
	if err != nil || lease != nil {
		err = s.notLeader(c.Namespace, name, err)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return grantOf(lease), nil
	}
	ch := make(chan result, 1)
	s.waiters[id] = ch
	s.mu.Unlock()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return grantOf(r.lease), nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.waiters, id)
		if !s.m.Withdraw(c.Namespace, name, id) {
			// Granted as the client went away: nobody holds it, so pass it on.
			select {
			case r := <-ch:
				if r.lease != nil {
					cs, _ := s.m.Resign(c.Namespace, name, c.UID, r.lease.Token)
					s.apply(cs)
				}
			default:
			}
		}
		s.apply([]Change{}) // candidates changed
		return nil, ctx.Err()
	}
}

// Renew extends the asker's lease.
func (s *Service) Renew(asker *pod.Pod, name string, req TokenRequest) (*Grant, error) {
	ttl := time.Duration(req.TTLMillis) * time.Millisecond
	if req.TTLMillis != 0 && (ttl < MinTTL || ttl > MaxTTL) {
		return nil, fmt.Errorf("ttlMillis: %d is out of range [%d, %d]: %w", req.TTLMillis, MinTTL.Milliseconds(), MaxTTL.Milliseconds(), errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.m.Renew(asker.Metadata.Namespace, name, asker.Metadata.UID, req.Token, ttl)
	if err != nil {
		return nil, s.notLeader(asker.Metadata.Namespace, name, err)
	}
	s.apply([]Change{})
	return grantOf(l), nil
}

// Resign gives the asker's lead up.
func (s *Service) Resign(asker *pod.Pod, name string, req TokenRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.m.Resign(asker.Metadata.Namespace, name, asker.Metadata.UID, req.Token)
	if err != nil {
		return s.notLeader(asker.Metadata.Namespace, name, err)
	}
	s.apply(cs)
	return nil
}

// Get shows one election.
func (s *Service) Get(namespace, name string) View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.View(namespace, name)
}

// List shows the elections of namespace ("" for all).
func (s *Service) List(namespace string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.List(namespace)
}

// Watch calls fn with the election's view now and at each change of its leader, token or
// candidates, until ctx ends or fn fails.
func (s *Service) Watch(ctx context.Context, namespace, name string, fn func(View) error) error {
	var last *View
	for {
		s.mu.Lock()
		v := s.m.View(namespace, name)
		ch := s.changed
		s.mu.Unlock()
		if last == nil || !sameView(*last, v) {
			if err := fn(v); err != nil {
				return err
			}
			last = &v
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

// sameView ignores the deadline, which every renew moves.
func sameView(a, b View) bool {
	return a.Leader == b.Leader && a.Token == b.Token && a.Since.Equal(b.Since) && a.LastToken == b.LastToken && slices.Equal(a.Candidates, b.Candidates)
}
