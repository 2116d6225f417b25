package runtime

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	containerd "github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	grpcerrs "github.com/containerd/containerd/errdefs"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/podd-dev/podd/pkg/supervisor"
)

// Exits are watched through one subscription to containerd's task events for every container,
// not through a task.Wait each: a Wait is a gRPC stream and goroutines per container for as long
// as it runs (a quarter of podd's heap and three goroutines per container with 50 pods). An idle
// container costs an entry in a map here and nothing else.
//
// A stream loses what was published while it was down. Nothing is missed all the same because:
//   - a container is registered before its task can exit: before Start, or, on adoption, before
//     its state is read once (it may have ended while podd was down);
//   - after each (re)connect, once containerd has proven that the new subscription receives (a
//     marker event podd publishes comes back through it), the registered containers' tasks are
//     read from one task listing: whatever ended before that listing shows as stopped in it (the
//     shim marks a process stopped before it publishes its exit), whatever ends later comes
//     through the stream;
//   - a task missing from the listing is asked for alone: gone (NotFound) is an exit of unknown
//     status, as a lost task always was; any other answer keeps it watched and the check is
//     repeated. A running task is never reported as exited.
//
// Each container instance gets at most one exit.

const (
	topicExit = "/tasks/exit"
	topicOOM  = "/tasks/oom"
	// topicSync carries the marker that proves a new subscription receives.
	topicSync = "/podd/exits/sync"
	// syncTimeout: a marker not back by then means the stream is not working; subscribe again.
	syncTimeout = 30 * time.Second
)

// exitWatch holds the watched container instances; one goroutine (Runtime.exitEvents) feeds it.
type exitWatch struct {
	mu sync.Mutex
	// watched: container ID → the instances watched (one, but for a moment two when a task of
	// the ID replaces another; each exit event names its process, see initExit).
	watched map[string][]*watched
	once    sync.Once
	cancel  context.CancelFunc
	seq     atomic.Uint64 // markers
	// ready is closed once a stream has first proven that it receives (and has resynced what
	// was watched by then): ListContainers waits for it, so that its one listing of the tasks is
	// the only one a restart needs.
	ready     chan struct{}
	readyOnce sync.Once
}

// watched is one container instance whose exit is awaited.
type watched struct {
	id string
	// pid is the instance's init process; 0 while unknown (an adoption before its state is read):
	// any exit of the container's init process is then its.
	pid   uint32
	exit  chan supervisor.ExitStatus // buffered: delivery never blocks the dispatcher
	kills chan int                   // unbuffered: a count is sent only to a receiver waiting for it
	oom   *oomTracker
	// grace runs from an OOM event until the kill is reported as another process's (see oomGrace).
	grace *time.Timer
	done  bool
	// unwatch stops the context's hook that forgets the instance when its watcher gives up.
	unwatch func() bool
	// onExit and onKills replace exit and kills once the supervisor asks to be called (see
	// supervisor.Process.Notify): then no goroutine of anyone waits on an idle container.
	onExit  func(supervisor.ExitStatus)
	onKills func(int)
	// calls are the callbacks due, made in order by one short-lived goroutine (sending).
	calls   []func()
	sending bool
}

// watch registers the container instance before its task can exit. The exit is delivered only if
// it really happened; a cancelled ctx (podd shutting down) forgets the instance and delivers
// nothing.
func (r *Runtime) watch(ctx context.Context, id string, pid uint32, oom *oomTracker) *watched {
	r.startExits(ctx)
	return r.exits.add(ctx, id, pid, oom)
}

// startExits starts the subscription, once, for as long as the runtime is open.
func (r *Runtime) startExits(ctx context.Context) {
	x := &r.exits
	x.once.Do(func() {
		x.watched = map[string][]*watched{}
		x.ready = make(chan struct{})
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		x.mu.Lock()
		x.cancel = cancel
		x.mu.Unlock()
		go r.exitEvents(sctx)
	})
}

func (x *exitWatch) add(ctx context.Context, id string, pid uint32, oom *oomTracker) *watched {
	w := &watched{id: id, pid: pid, exit: make(chan supervisor.ExitStatus, 1), kills: make(chan int), oom: oom}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.watched[id] = append(x.watched[id], w)
	// Set under the lock: a delivery (which stops it) cannot come before it is set.
	w.unwatch = context.AfterFunc(ctx, func() { x.forget(w) })
	return w
}

func (x *exitWatch) process(w *watched, pid uint32) *supervisor.Process {
	return &supervisor.Process{Pid: pid, Exit: w.exit, OOMKills: w.kills, Notify: func(exit func(supervisor.ExitStatus), kills func(int)) {
		x.notify(w, exit, kills)
	}}
}

// notify switches the instance from its channels to callbacks. An exit delivered already is
// passed on.
func (x *exitWatch) notify(w *watched, exit func(supervisor.ExitStatus), kills func(int)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w.onExit, w.onKills = exit, kills
	select {
	case st := <-w.exit:
		x.callLocked(w, func() { exit(st) })
	default:
	}
}

// callLocked makes a callback of the instance's in a goroutine (callbacks may block: the
// supervisor's worker may be busy), after those due before it.
func (x *exitWatch) callLocked(w *watched, f func()) {
	w.calls = append(w.calls, f)
	if w.sending {
		return
	}
	w.sending = true
	go func() {
		for {
			x.mu.Lock()
			if len(w.calls) == 0 {
				w.sending = false
				x.mu.Unlock()
				return
			}
			f := w.calls[0]
			w.calls = w.calls[1:]
			x.mu.Unlock()
			f()
		}
	}()
}

// forget stops watching the instance without delivering anything.
func (x *exitWatch) forget(w *watched) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetLocked(w)
}

func (x *exitWatch) forgetLocked(w *watched) {
	w.done = true
	if w.unwatch != nil {
		// Else the context's hook, and the instance with it, lived as long as the context.
		w.unwatch()
	}
	if w.grace != nil {
		w.grace.Stop()
		w.grace = nil
	}
	ws := x.watched[w.id]
	for i, o := range ws {
		if o == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(x.watched, w.id)
	} else {
		x.watched[w.id] = ws
	}
}

// deliverLocked hands the instance its one exit, marked OOMKilled when the OOM killer ended it.
func (x *exitWatch) deliverLocked(w *watched, st supervisor.ExitStatus) {
	if w.done {
		return
	}
	x.forgetLocked(w)
	st.OOMKilled = st.Code >= 0 && w.oom.exitOOM(uint32(st.Code))
	if exit := w.onExit; exit != nil {
		x.callLocked(w, func() { exit(st) })
		return
	}
	w.exit <- st
}

// deliver is deliverLocked for callers outside the dispatcher (an adoption's first read).
func (x *exitWatch) deliver(w *watched, st supervisor.ExitStatus) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.deliverLocked(w, st)
}

// setPid records the instance's init process once an adoption has read it.
func (x *exitWatch) setPid(w *watched, pid uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if w.pid == 0 {
		w.pid = pid
	}
}

// initExit tells whether the event is the exit of the instance whose init process is pid (0:
// not known yet): an exec'd process's exit is not the container's, and an exit of an earlier
// task of the same container ID (a late event) is not this instance's.
func initExit(ev *apievents.TaskExit, pid uint32) bool {
	return ev.ID == ev.ContainerID && (pid == 0 || ev.Pid == pid)
}

// exited applies a /tasks/exit event.
func (x *exitWatch) exited(ev *apievents.TaskExit) {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := supervisor.ExitStatus{Code: int32(ev.ExitStatus)}
	if ev.ExitedAt != nil {
		st.ExitedAt = ev.ExitedAt.AsTime()
	}
	for _, w := range slices.Clone(x.watched[ev.ContainerID]) {
		if initExit(ev, w.pid) {
			x.deliverLocked(w, st)
		}
	}
}

// oomed applies a /tasks/oom event: the kill counts as another process's unless the instance's
// exit follows within oomGrace.
func (x *exitWatch) oomed(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, w := range x.watched[id] {
		if w.grace == nil {
			x.graceLocked(w, oomGrace)
		}
	}
}

func (x *exitWatch) graceLocked(w *watched, d time.Duration) {
	w.grace = time.AfterFunc(d, func() { x.graceOver(w) })
}

// graceOver reports the OOM kills that no exit of the instance followed. The count goes only to
// a receiver that waits for it (the supervisor waits on Exit and OOMKills together): one that is
// busy gets it a little later, and a count is never left behind in a buffer beside the exit.
func (x *exitWatch) graceOver(w *watched) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if w.done {
		return
	}
	w.grace = nil
	n := w.oom.more()
	if n == 0 {
		return
	}
	if kills := w.onKills; kills != nil {
		w.oom.reported += n
		x.callLocked(w, func() { kills(int(n)) })
		return
	}
	select {
	case w.kills <- int(n):
		w.oom.reported += n
	default:
		x.graceLocked(w, 100*time.Millisecond)
	}
}

// verdict is what a task's state, read from containerd, says of a watched instance.
type verdict int

const (
	verdictRunning verdict = iota // still there: keep watching
	verdictExited                 // ended: deliver the status
	verdictLookUp                 // absent from the listing: ask for the task alone
)

// decide judges a watched instance (init process pid, 0 if not known) by its task's state, nil
// when the task is not in a listing.
func decide(pid uint32, p *tasktypes.Process) (verdict, supervisor.ExitStatus) {
	if p == nil {
		return verdictLookUp, supervisor.ExitStatus{}
	}
	if pid != 0 && p.Pid != 0 && p.Pid != pid {
		// Another task of the same container took the place of the one watched: that one ended,
		// how is not known any more.
		return verdictExited, unknownExit()
	}
	if p.Status != tasktypes.Status_STOPPED {
		// Created, running, paused, pausing, or a state a newer containerd adds: not an exit.
		return verdictRunning, supervisor.ExitStatus{}
	}
	st := supervisor.ExitStatus{Code: int32(p.ExitStatus)}
	if p.ExitedAt != nil {
		st.ExitedAt = p.ExitedAt.AsTime()
	}
	return verdictExited, st
}

// decideGone judges an instance by the answer to a look-up of its task alone.
func decideGone(pid uint32, p *tasktypes.Process, err error) (verdict, supervisor.ExitStatus, error) {
	switch {
	case errdefs.IsNotFound(err):
		return verdictExited, unknownExit(), nil
	case err != nil:
		return verdictRunning, supervisor.ExitStatus{}, err
	case p == nil:
		return verdictRunning, supervisor.ExitStatus{}, fmt.Errorf("no process in the answer: %w", errdefs.ErrUnknown)
	}
	v, st := decide(pid, p)
	return v, st, nil
}

// unknownExit is the exit of a task that is gone: containerd no longer knows its status.
func unknownExit() supervisor.ExitStatus {
	return supervisor.ExitStatus{Code: int32(containerd.UnknownExitStatus), ExitedAt: time.Now()}
}

// resync delivers the exits that happened while the stream could not tell: list reads every task
// in one call, get one task. It judges only the instances registered before the listing began
// (the later ones are the live stream's: resync runs once it receives), so that a listing never
// speaks of a task newer than it saw. It returns an error when an instance could not be judged
// (a failed listing, a look-up that failed otherwise than NotFound): the caller tries again.
func (x *exitWatch) resync(list func() ([]*tasktypes.Process, error), get func(id string) (*tasktypes.Process, error)) error {
	x.mu.Lock()
	var before []*watched
	for _, ws := range x.watched {
		before = append(before, ws...)
	}
	x.mu.Unlock()
	if len(before) == 0 {
		return nil
	}
	procs, err := list()
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	byID := make(map[string]*tasktypes.Process, len(procs))
	for _, p := range procs {
		byID[p.ID] = p
	}
	var lookUp []*watched
	x.mu.Lock()
	for _, w := range before {
		if w.done {
			continue
		}
		switch v, st := decide(w.pid, byID[w.id]); v {
		case verdictExited:
			x.deliverLocked(w, st)
		case verdictLookUp:
			lookUp = append(lookUp, w)
		}
	}
	x.mu.Unlock()
	var failed error
	for _, w := range lookUp {
		p, gerr := get(w.id)
		x.mu.Lock()
		v, st, derr := decideGone(w.pid, p, gerr)
		if w.done {
			derr = nil
		} else if v == verdictExited {
			x.deliverLocked(w, st)
		}
		x.mu.Unlock()
		if derr != nil && failed == nil {
			failed = fmt.Errorf("task %s: %w", w.id, derr)
		}
	}
	return failed
}

// exitEvents keeps the one subscription to the task events of podd's namespace, subscribing
// again after any break, until podd closes the runtime.
func (r *Runtime) exitEvents(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for !r.closed.Load() && ctx.Err() == nil {
		synced, err := r.exitStream(ctx)
		if r.closed.Load() || ctx.Err() != nil {
			return
		}
		if synced {
			// A stream that worked broke: say so once, not at each try while containerd is away.
			backoff = 100 * time.Millisecond
			r.log.Warn("task event subscription ended; subscribing again", "err", err)
		} else {
			r.log.Debug("task event subscription failed; trying again", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// exitStream runs one subscription until it breaks; synced tells whether it had got as far as a
// resync (the stream worked).
func (r *Runtime) exitStream(ctx context.Context) (synced bool, err error) {
	x := &r.exits
	ctx, cancel := context.WithCancel(r.ns(ctx))
	defer cancel()
	ns := r.cfg.Namespace
	evs, errs := r.client.Subscribe(ctx,
		fmt.Sprintf(`namespace==%q,topic==%q`, ns, topicExit),
		fmt.Sprintf(`namespace==%q,topic==%q`, ns, topicOOM),
		fmt.Sprintf(`namespace==%q,topic==%q`, ns, topicSync))
	// The subscription is made on containerd's side some time after Subscribe returns: a marker
	// published before then is lost. It is published again until one comes back.
	token := fmt.Sprintf("%d-%d", os.Getpid(), x.seq.Add(1))
	publish := func() error {
		if err := r.client.EventService().Publish(ctx, topicSync, wrapperspb.String(token)); err != nil {
			return fmt.Errorf("publish the sync marker: %w", err)
		}
		return nil
	}
	if err := publish(); err != nil {
		return false, err
	}
	republishIn := 20 * time.Millisecond
	republish := time.After(republishIn)
	syncBy := time.NewTimer(syncTimeout)
	defer syncBy.Stop()
	var retry <-chan time.Time
	retryIn := 100 * time.Millisecond
	resync := func() {
		err := x.resync(r.listTasks(ctx), r.getTask(ctx))
		if err == nil {
			retry, retryIn = nil, 100*time.Millisecond
			return
		}
		r.log.Warn("cannot read the state of watched tasks; trying again", "err", err, "in", retryIn)
		retry = time.After(retryIn)
		retryIn = min(2*retryIn, 5*time.Second)
	}
	for {
		select {
		case env := <-evs:
			v, uerr := typeurl.UnmarshalAny(env.Event)
			if uerr != nil {
				continue
			}
			switch ev := v.(type) {
			case *apievents.TaskExit:
				x.exited(ev)
			case *apievents.TaskOOM:
				x.oomed(ev.ContainerID)
			case *wrapperspb.StringValue:
				if env.Topic == topicSync && ev.GetValue() == token && !synced {
					synced, republish = true, nil
					syncBy.Stop()
					r.log.Debug("task event stream receives; reading the watched tasks' states")
					resync()
					x.readyOnce.Do(func() { close(x.ready) })
				}
			}
		case <-republish:
			republish = nil
			if synced {
				break
			}
			if err := publish(); err != nil {
				return false, err
			}
			republishIn = min(2*republishIn, time.Second)
			republish = time.After(republishIn)
		case <-retry:
			resync()
		case err := <-errs:
			if err == nil {
				err = fmt.Errorf("the stream closed: %w", errdefs.ErrUnavailable)
			}
			return synced, err
		case <-syncBy.C:
			if !synced {
				return false, fmt.Errorf("the sync marker did not come back in %v: %w", syncTimeout, errdefs.ErrUnavailable)
			}
		}
	}
}

// listTasks and getTask read tasks' states for a resync.
func (r *Runtime) listTasks(ctx context.Context) func() ([]*tasktypes.Process, error) {
	return func() ([]*tasktypes.Process, error) {
		resp, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
		if err != nil {
			return nil, grpcerrs.FromGRPC(err)
		}
		return resp.Tasks, nil
	}
}

func (r *Runtime) getTask(ctx context.Context) func(id string) (*tasktypes.Process, error) {
	return func(id string) (*tasktypes.Process, error) {
		resp, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
		if err != nil {
			return nil, grpcerrs.FromGRPC(err)
		}
		return resp.Process, nil
	}
}
