// Package elections is podd's local leader election: the pods of one host campaign through their
// own API sockets, and podd, which sees every container's life directly, arbitrates. Machine is
// the pure state machine (clock injected, no goroutines); Service wraps it with a lock, the
// store of tokens, the pods' changes, events and long polls.
package elections

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// Limits of a lease's time to live.
const (
	MinTTL     = 100 * time.Millisecond
	MaxTTL     = time.Hour
	DefaultTTL = 10 * time.Second
	// MaxPerNamespace bounds the elections of one namespace: each one's last token is kept for
	// good (so that its tokens never go back), and a pod must not fill podd's store with names.
	MaxPerNamespace = 1024
)

// Reasons a leader loses its lease (Change.Reason, and the events' messages).
const (
	ReasonResigned          = "Resigned"
	ReasonExpired           = "Expired"
	ReasonContainerNotReady = "ContainerNotReady"
	ReasonContainerRestart  = "ContainerRestarted"
	ReasonPodGone           = "PodGone"
	ReasonPodNotRunning     = "PodNotRunning"
	ReasonSuperseded        = "Superseded"
	// Why a frozen leader is thawed (Change.Reason of a Thaw).
	ReasonAcknowledged = "Acknowledged"
	ReasonCampaigned   = "Campaigned"
)

// ErrNotLeader: a renew or resign whose token is not the election's current one.
var ErrNotLeader = errors.New("not the leader")

// ErrNotEligible: the candidate's pod is not running or a guarded container is not ready.
var ErrNotEligible = errors.New("not eligible")

// ErrTooMany: a new election beyond MaxPerNamespace.
var ErrTooMany = errors.New("too many elections")

// ContainerState is what the machine needs of a container: ready, and which instance it is (its
// container ID and restart count), so that a restart between two observations is not missed.
type ContainerState struct {
	Ready    bool
	Instance string
}

// PodState is what the machine needs of a pod.
type PodState struct {
	UID, Namespace, Name string
	// Running: phase Running and not being deleted.
	Running    bool
	Containers map[string]ContainerState
}

// Candidate is a pod campaigning in one election.
type Candidate struct {
	UID, Namespace, Pod string
	// Guard names the pod's containers this leadership depends on.
	Guard []string
	TTL   time.Duration
	// Fence is what podd does to the guarded containers when it takes the lead away (the pod's
	// podd.io/leader-fence annotation at the campaign).
	Fence pod.LeaderFence
}

// Lease is a leader's grant.
type Lease struct {
	Candidate
	Election string
	Token    uint64
	Since    time.Time
	Deadline time.Time
	// instances of the guarded containers at the grant.
	instances map[string]string
}

// ChangeKind says what a Change is.
type ChangeKind int

const (
	// Granted: a candidate became leader (Waiter is the long poll that asked, 0 for none).
	Granted ChangeKind = iota + 1
	// Lost: the leader lost its lease (Reason, Detail).
	Lost
	// Withdrawn: a waiting candidate was dropped (its pod is gone, or superseded).
	Withdrawn
	// Enforce: the lead was taken away from Lease's pod (Reason) and its pod asked for a fence:
	// freeze, stop or signal its guarded containers. For freeze and stop nobody is granted the
	// election until Enforced is called with that lease's token.
	Enforce
	// Thaw: resume Lease's frozen guarded containers (Reason: acknowledged, campaigned again,
	// pod stopping).
	Thaw
)

// Change is one thing that happened, for the events and the waiting requests.
type Change struct {
	Kind      ChangeKind
	Namespace string
	Election  string
	Lease     Lease
	Waiter    uint64
	Reason    string
	Detail    string
}

// View is an election as the API shows it.
type View struct {
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	Leader     string    `json:"leader,omitempty"`
	Token      uint64    `json:"token,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	Deadline   time.Time `json:"deadline,omitzero"`
	Candidates []string  `json:"candidates"`
	// LastToken is the last token issued in this election (by any leader, before a restart too).
	LastToken uint64 `json:"lastToken"`
}

type waiter struct {
	id uint64
	c  Candidate
}

type election struct {
	namespace, name string
	leader          *Lease
	queue           []waiter
	// pending is a lost lease whose freeze or stop is under way: no grant until it is done.
	pending *pendingFence
	// frozen are lost leases whose containers are frozen until their pod acknowledges.
	frozen []Lease
	// handover is a lease podd took away while its elector may still say it leads (it learns of
	// the loss from its watch an instant later): nobody is granted the election until that
	// elector acknowledges the loss, or the lease's deadline passes (by then it has fenced
	// itself), or its pod is gone. So no instant sees two electors claim the lead.
	handover *Lease
}

type pendingFence struct {
	lease Lease
	// acked: the pod acknowledged the loss while the freeze was under way (thaw once done).
	acked bool
}

// idle: nothing left to keep of the election but its token.
func (e *election) idle() bool {
	return e.leader == nil && len(e.queue) == 0 && e.pending == nil && len(e.frozen) == 0 && e.handover == nil
}

// handedOver: a loss for that reason leaves an elector that may still claim the lead until it
// learns of it. Not an expiry (the elector fenced itself before podd's deadline), a resign (the
// elector stopped claiming before it asked) or a pod that is gone (its elector with it).
func handedOver(reason string) bool {
	return reason == ReasonContainerNotReady || reason == ReasonContainerRestart || reason == ReasonPodNotRunning
}

// enforcedReason says whether a loss for that reason is enforced on the old leader: it may still
// act (its lease expired, its guarded container turned unready). Not after a resign (it knows),
// nor when its guarded container restarted (the instance that led is gone) or its pod stops.
func enforcedReason(reason string) bool {
	return reason == ReasonExpired || reason == ReasonContainerNotReady
}

// Machine is the elections of one podd. It is not safe for concurrent use.
type Machine struct {
	now func() time.Time
	// save stores an election's last token; a grant is made only once it returned nil.
	save   func(namespace, name string, token uint64) error
	tokens map[string]uint64
	els    map[string]*election
	pods   map[string]PodState
	seq    uint64
	// retry is set when a save failed: the grant is tried again at the next Tick.
	retry bool
}

// NewMachine returns the elections with their last tokens (namespace/name → token, as stored).
// Nobody is leader: after a restart leadership is only won again by a campaign.
func NewMachine(now func() time.Time, tokens map[string]uint64, save func(namespace, name string, token uint64) error) *Machine {
	m := &Machine{now: now, save: save, tokens: map[string]uint64{}, els: map[string]*election{}, pods: map[string]PodState{}}
	for k, v := range tokens {
		m.tokens[k] = v
	}
	return m
}

func key(namespace, name string) string { return namespace + "/" + name }

func (m *Machine) election(namespace, name string) *election {
	k := key(namespace, name)
	e := m.els[k]
	if e == nil {
		e = &election{namespace: namespace, name: name}
		m.els[k] = e
	}
	return e
}

// eligible says why a candidate may not lead now ("" when it may).
func (m *Machine) eligible(c Candidate) string {
	p, ok := m.pods[c.UID]
	if !ok {
		return fmt.Sprintf("pod %s is gone", c.Pod)
	}
	if !p.Running {
		return fmt.Sprintf("pod %s is not running", c.Pod)
	}
	for _, g := range c.Guard {
		if !p.Containers[g].Ready {
			return fmt.Sprintf("container %q of pod %s is not ready", g, c.Pod)
		}
	}
	return ""
}

// SetPod records one pod's state (the asker's, read just before its campaign) without releasing
// anything: Observe does that.
func (m *Machine) SetPod(p PodState) { m.pods[p.UID] = p }

// Campaign asks for the lead of election name in c's namespace. When c leads already its lease
// is renewed (same token). When nobody leads and c is eligible it is granted at once. Otherwise,
// with wait, c is queued (FIFO) and the returned waiter is granted later by a Change; without,
// the answer is ErrNotLeader (or ErrNotEligible).
func (m *Machine) Campaign(name string, c Candidate, wait bool) (lease *Lease, waiterID uint64, changes []Change, err error) {
	if k := key(c.Namespace, name); m.els[k] == nil {
		if _, known := m.tokens[k]; !known && len(m.List(c.Namespace)) >= MaxPerNamespace {
			return nil, 0, nil, fmt.Errorf("election %s: namespace %s has %d elections, the most podd keeps per namespace: %w", name, c.Namespace, MaxPerNamespace, ErrTooMany)
		}
	}
	e := m.election(c.Namespace, name)
	now := m.now()
	// A campaign says the pod has seen its loss: what of it is frozen is thawed, and a handover
	// waiting for it ends.
	handover := e.handover != nil
	changes = append(changes, m.ack(e, c.UID, 0, ReasonCampaigned)...)
	if handover && e.handover == nil {
		changes = append(changes, m.grantNext(e)...)
	}
	if e.leader != nil && e.leader.UID == c.UID {
		e.leader.Deadline = now.Add(c.TTL)
		e.leader.TTL = c.TTL
		l := *e.leader
		return &l, 0, changes, nil
	}
	why := m.eligible(c)
	if e.leader == nil && e.pending == nil && e.handover == nil && why == "" && !m.eligibleAhead(e, c.UID) {
		changes = append(changes, m.dropWaiter(e, c.UID, ReasonSuperseded)...)
		l, err := m.grant(e, c, now)
		if err != nil {
			return nil, 0, changes, err
		}
		return l, 0, changes, nil
	}
	if !wait {
		if why != "" {
			return nil, 0, changes, fmt.Errorf("%s: %w", why, ErrNotEligible)
		}
		return nil, 0, changes, ErrNotLeader
	}
	m.seq++
	id := m.seq
	for i := range e.queue {
		if e.queue[i].c.UID == c.UID { // a new long poll of the same pod keeps its place
			changes = append(changes, Change{Kind: Withdrawn, Namespace: e.namespace, Election: e.name, Waiter: e.queue[i].id, Reason: ReasonSuperseded})
			e.queue[i] = waiter{id: id, c: c}
			return nil, id, changes, nil
		}
	}
	e.queue = append(e.queue, waiter{id: id, c: c})
	return nil, id, changes, nil
}

// eligibleAhead: an eligible waiter other than uid is queued (it goes first).
func (m *Machine) eligibleAhead(e *election, uid string) bool {
	for _, w := range e.queue {
		if w.c.UID != uid && m.eligible(w.c) == "" {
			return true
		}
	}
	return false
}

func (m *Machine) dropWaiter(e *election, uid, reason string) []Change {
	var out []Change
	e.queue = slices.DeleteFunc(e.queue, func(w waiter) bool {
		if w.c.UID == uid {
			out = append(out, Change{Kind: Withdrawn, Namespace: e.namespace, Election: e.name, Waiter: w.id, Reason: reason})
			return true
		}
		return false
	})
	return out
}

// grant makes c leader with the next token, once the token is saved.
func (m *Machine) grant(e *election, c Candidate, now time.Time) (*Lease, error) {
	k := key(e.namespace, e.name)
	token := m.tokens[k] + 1
	if m.save != nil {
		if err := m.save(e.namespace, e.name, token); err != nil {
			return nil, fmt.Errorf("store the token of election %s: %w", k, err)
		}
	}
	m.tokens[k] = token
	inst := map[string]string{}
	if p, ok := m.pods[c.UID]; ok {
		for _, g := range c.Guard {
			inst[g] = p.Containers[g].Instance
		}
	}
	e.leader = &Lease{Candidate: c, Election: e.name, Token: token, Since: now, Deadline: now.Add(c.TTL), instances: inst}
	l := *e.leader
	return &l, nil
}

// Withdraw drops a waiting request (its client went away); false when it was not waiting.
func (m *Machine) Withdraw(namespace, name string, waiterID uint64) bool {
	e := m.els[key(namespace, name)]
	if e == nil {
		return false
	}
	n := len(e.queue)
	e.queue = slices.DeleteFunc(e.queue, func(w waiter) bool { return w.id == waiterID })
	return len(e.queue) < n
}

// Renew extends the leader's lease by ttl (0: the campaign's) from now.
func (m *Machine) Renew(namespace, name, uid string, token uint64, ttl time.Duration) (*Lease, error) {
	e := m.els[key(namespace, name)]
	if e == nil || e.leader == nil || e.leader.UID != uid || e.leader.Token != token {
		return nil, ErrNotLeader
	}
	if ttl > 0 {
		e.leader.TTL = ttl
	}
	e.leader.Deadline = m.now().Add(e.leader.TTL)
	l := *e.leader
	return &l, nil
}

// Resign gives the lead up; the next eligible waiter is granted at once.
func (m *Machine) Resign(namespace, name, uid string, token uint64) ([]Change, error) {
	e := m.els[key(namespace, name)]
	if e == nil || e.leader == nil || e.leader.UID != uid || e.leader.Token != token {
		return nil, ErrNotLeader
	}
	changes := m.release(e, ReasonResigned, "")
	return append(changes, m.grantNext(e)...), nil
}

func (m *Machine) release(e *election, reason, detail string) []Change {
	l := *e.leader
	e.leader = nil
	if handedOver(reason) {
		h := l
		e.handover = &h
	}
	out := []Change{{Kind: Lost, Namespace: e.namespace, Election: e.name, Lease: l, Reason: reason, Detail: detail}}
	if l.Fence.Mode == pod.FenceNone || len(l.Guard) == 0 || !enforcedReason(reason) {
		return out
	}
	if l.Fence.Mode != pod.FenceSignal { // freeze and stop come before the next grant
		e.pending = &pendingFence{lease: l}
	}
	return append(out, Change{Kind: Enforce, Namespace: e.namespace, Election: e.name, Lease: l, Reason: reason, Detail: detail})
}

// Pending says whether the enforcement on the lease of that token is still awaited.
func (m *Machine) Pending(namespace, name string, token uint64) bool {
	e := m.els[key(namespace, name)]
	return e != nil && e.pending != nil && e.pending.lease.Token == token
}

// Enforced records that the freeze or stop of the lost lease l (an Enforce change's) is done: a
// frozen lease waits for its pod's acknowledgement (or is thawed at once when it came meanwhile),
// and the next eligible waiter is granted. A freeze no longer awaited (its pod stopped meanwhile)
// is undone: a Thaw.
func (m *Machine) Enforced(namespace, name string, l Lease) []Change {
	e := m.els[key(namespace, name)]
	if e == nil || e.pending == nil || e.pending.lease.Token != l.Token {
		if l.Fence.Mode == pod.FenceFreeze {
			return []Change{{Kind: Thaw, Namespace: namespace, Election: name, Lease: l, Reason: ReasonPodNotRunning}}
		}
		return nil
	}
	p := e.pending
	e.pending = nil
	var out []Change
	if p.lease.Fence.Mode == pod.FenceFreeze {
		if p.acked {
			out = append(out, Change{Kind: Thaw, Namespace: e.namespace, Election: e.name, Lease: p.lease, Reason: ReasonAcknowledged})
		} else {
			e.frozen = append(e.frozen, p.lease)
		}
	}
	return append(out, m.grantNext(e)...)
}

// Ack is the pod uid's acknowledgement of its lost lease of that token: its frozen containers are
// thawed, and a handover waiting for it ends (the next waiter is granted). False when nothing of
// that pod and token is frozen or being frozen.
func (m *Machine) Ack(namespace, name, uid string, token uint64) ([]Change, bool) {
	e := m.els[key(namespace, name)]
	if e == nil {
		return nil, false
	}
	pending := e.pending != nil && e.pending.lease.UID == uid && e.pending.lease.Token == token
	out := m.ack(e, uid, token, ReasonAcknowledged)
	thawed := pending || len(out) > 0
	return append(out, m.grantNext(e)...), thawed
}

// ack thaws what of pod uid is frozen in e (of that token; 0: any), and marks a freeze under way
// as acknowledged.
func (m *Machine) ack(e *election, uid string, token uint64, reason string) []Change {
	if e.pending != nil && e.pending.lease.UID == uid && (token == 0 || e.pending.lease.Token == token) {
		e.pending.acked = true
	}
	if e.handover != nil && e.handover.UID == uid && (token == 0 || e.handover.Token == token) {
		e.handover = nil
	}
	var out []Change
	e.frozen = slices.DeleteFunc(e.frozen, func(l Lease) bool {
		if l.UID == uid && (token == 0 || l.Token == token) {
			out = append(out, Change{Kind: Thaw, Namespace: e.namespace, Election: e.name, Lease: l, Reason: reason})
			return true
		}
		return false
	})
	return out
}

// grantNext grants the first eligible waiter, when nobody leads and no fence is under way.
func (m *Machine) grantNext(e *election) []Change {
	if e.leader != nil || e.pending != nil || e.handover != nil {
		return nil
	}
	for i, w := range e.queue {
		if m.eligible(w.c) != "" {
			continue
		}
		l, err := m.grant(e, w.c, m.now())
		if err != nil {
			m.retry = true
			return nil
		}
		e.queue = slices.Delete(e.queue, i, i+1)
		return []Change{{Kind: Granted, Namespace: e.namespace, Election: e.name, Lease: *l, Waiter: w.id}}
	}
	return nil
}

// Observe takes the state of every pod: a leader whose pod is gone or not running, or one of
// whose guarded containers is not ready or restarted, loses its lease at once; waiters whose pods
// are gone are dropped; the next eligible waiters are granted.
func (m *Machine) Observe(pods []PodState) []Change {
	m.pods = make(map[string]PodState, len(pods))
	for _, p := range pods {
		m.pods[p.UID] = p
	}
	var changes []Change
	for _, k := range m.keys() {
		e := m.els[k]
		if e.leader != nil {
			if reason, detail := m.lost(e.leader); reason != "" {
				changes = append(changes, m.release(e, reason, detail)...)
			}
		}
		// A fenced pod that stops is not fenced any longer: a freeze under way is given up (and
		// undone by Enforced), what is frozen is thawed so that its containers can stop.
		if e.pending != nil && !m.pods[e.pending.lease.UID].Running {
			e.pending = nil
		}
		if e.handover != nil {
			if _, ok := m.pods[e.handover.UID]; !ok {
				e.handover = nil // its elector is gone with it
			}
		}
		e.frozen = slices.DeleteFunc(e.frozen, func(l Lease) bool {
			if !m.pods[l.UID].Running {
				changes = append(changes, Change{Kind: Thaw, Namespace: e.namespace, Election: e.name, Lease: l, Reason: ReasonPodNotRunning})
				return true
			}
			return false
		})
		e.queue = slices.DeleteFunc(e.queue, func(w waiter) bool {
			if _, ok := m.pods[w.c.UID]; !ok {
				changes = append(changes, Change{Kind: Withdrawn, Namespace: e.namespace, Election: e.name, Waiter: w.id, Reason: ReasonPodGone})
				return true
			}
			return false
		})
		changes = append(changes, m.grantNext(e)...)
	}
	return changes
}

func (m *Machine) lost(l *Lease) (reason, detail string) {
	p, ok := m.pods[l.UID]
	if !ok {
		return ReasonPodGone, fmt.Sprintf("pod %s is gone", l.Pod)
	}
	if !p.Running {
		return ReasonPodNotRunning, fmt.Sprintf("pod %s is not running", l.Pod)
	}
	for _, g := range l.Guard {
		c := p.Containers[g]
		if c.Instance != l.instances[g] {
			return ReasonContainerRestart, fmt.Sprintf("container %q restarted", g)
		}
		if !c.Ready {
			return ReasonContainerNotReady, fmt.Sprintf("container %q is not ready", g)
		}
	}
	return "", ""
}

func (m *Machine) keys() []string {
	ks := make([]string, 0, len(m.els))
	for k := range m.els {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Tick expires the leases whose deadline passed and grants the next waiters.
func (m *Machine) Tick() []Change {
	now := m.now()
	m.retry = false
	var changes []Change
	for _, k := range m.keys() {
		e := m.els[k]
		if e.leader != nil && !now.Before(e.leader.Deadline) {
			changes = append(changes, m.release(e, ReasonExpired, fmt.Sprintf("no renew within %s", e.leader.TTL))...)
		}
		if e.handover != nil && !now.Before(e.handover.Deadline) {
			e.handover = nil // unacknowledged: its elector has fenced itself by now
		}
		changes = append(changes, m.grantNext(e)...)
		if e.idle() {
			delete(m.els, k)
		}
	}
	return changes
}

// NextTick is when Tick has something to do: the earliest deadline (or a retry of a failed
// save, a second from now); false when there is none.
func (m *Machine) NextTick() (time.Time, bool) {
	var next time.Time
	found := false
	if m.retry {
		next, found = m.now().Add(time.Second), true
	}
	for _, e := range m.els {
		if e.leader != nil && (!found || e.leader.Deadline.Before(next)) {
			next, found = e.leader.Deadline, true
		}
		if e.handover != nil && (!found || e.handover.Deadline.Before(next)) {
			next, found = e.handover.Deadline, true
		}
	}
	return next, found
}

// View shows one election (an election nobody campaigns in shows its last token only).
func (m *Machine) View(namespace, name string) View {
	v := View{Namespace: namespace, Name: name, Candidates: []string{}, LastToken: m.tokens[key(namespace, name)]}
	e := m.els[key(namespace, name)]
	if e == nil {
		return v
	}
	if e.leader != nil {
		v.Leader, v.Token, v.Since, v.Deadline = e.leader.Pod, e.leader.Token, e.leader.Since, e.leader.Deadline
	}
	for _, w := range e.queue {
		v.Candidates = append(v.Candidates, w.c.Pod)
	}
	return v
}

// List shows the elections of namespace ("" for all) that have a leader or candidates, or a
// token issued, sorted by namespace and name.
func (m *Machine) List(namespace string) []View {
	seen := map[string]bool{}
	var out []View
	add := func(ns, name string) {
		k := key(ns, name)
		if seen[k] || (namespace != "" && ns != namespace) {
			return
		}
		seen[k] = true
		out = append(out, m.View(ns, name))
	}
	for _, e := range m.els {
		add(e.namespace, e.name)
	}
	for k := range m.tokens {
		ns, name, _ := strings.Cut(k, "/")
		add(ns, name)
	}
	slices.SortFunc(out, func(a, b View) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}
