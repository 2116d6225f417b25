package pod

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/signals"
)

// ctr is the worker's view of one container of the pod. Fields read by the API are written with
// the manager's lock held.
type ctr struct {
	idx        int
	name       string
	id         string // current instance, "" before the first create
	attempt    int
	running    bool
	launching  bool
	exited     chan struct{} // closed when the running instance exits
	stopSignal string
	status     ContainerStatus
	// set from a previous podd's containers when the worker starts
	adopt     bool
	recovered bool // the instance had exited: the restart policy decides
}

// Events a worker handles, one at a time, on its own goroutine.
type (
	evLaunched struct {
		idx, attempt int
		id           string
		proc         *Process
		img          *ImageConfig
		reason       string
		err          error
	}
	evExited struct {
		idx, attempt int
		st           ExitStatus
	}
	evRestart struct {
		idx, attempt int
		retry        bool // a failed launch tried again: same attempt, no restart counted
	}
	evSandboxRetry struct{}
	evStop         struct {
		grace  *int64
		remove bool
		reply  chan error
	}
)

// worker supervises one pod: it converges the pod's containers towards the desired state on
// events — a launch finished, a process exited, a timer fired, a stop was asked — never by polling.
type worker struct {
	m      *Manager
	rec    *Record
	ctrs   []*ctr
	stale  []string // containers of earlier instances, removed when the worker starts
	events chan any
	done   chan struct{}

	sb           *Sandbox
	stopping     bool
	removing     bool
	stopDeadline time.Time
	waiters      []chan error
}

func newWorker(m *Manager, rec *Record, found []ContainerRecord) *worker {
	w := &worker{m: m, rec: rec, events: make(chan any, 16), done: make(chan struct{})}
	latest := map[string]ContainerRecord{}
	for _, f := range found {
		if cur, ok := latest[f.Name]; ok {
			older := f
			if f.Attempt > cur.Attempt {
				older, latest[f.Name] = cur, f
			}
			w.stale = append(w.stale, older.ID)
			continue
		}
		latest[f.Name] = f
	}
	for i, spec := range rec.Pod.Spec.Containers {
		c := &ctr{idx: i, name: spec.Name, status: ContainerStatus{
			Name:  spec.Name,
			Image: spec.Image,
			State: ContainerState{Waiting: &ContainerStateWaiting{Reason: ReasonContainerCreating}},
		}}
		if f, ok := latest[spec.Name]; ok {
			delete(latest, spec.Name)
			c.id, c.attempt, c.stopSignal = f.ID, f.Attempt, f.StopSignal
			c.status.ContainerID = "containerd://" + f.ID
			c.status.ImageID = f.ImageID
			c.status.RestartCount = int32(f.Attempt)
			switch f.State {
			case RecordRunning:
				c.adopt = true
			case RecordStopped:
				c.recovered = true
				c.status.State = ContainerState{Terminated: &ContainerStateTerminated{
					ExitCode: f.Exit.Code, Reason: terminatedReason(f.Exit.Code), FinishedAt: timePtr(f.Exit.ExitedAt),
				}}
			}
		}
		w.ctrs = append(w.ctrs, c)
	}
	for _, f := range latest { // containers no longer in the spec
		w.stale = append(w.stale, f.ID)
	}
	w.updateLocked()
	return w
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (w *worker) log() []any {
	return []any{"pod", w.rec.Pod.Metadata.Namespace + "/" + w.rec.Pod.Metadata.Name}
}

// post delivers an event unless the worker or podd is gone.
func (w *worker) post(ctx context.Context, ev any) {
	select {
	case w.events <- ev:
	case <-w.done:
	case <-ctx.Done():
	}
}

// request sends a stop (or remove) and waits for the worker to finish it.
func (w *worker) request(ctx context.Context, ev evStop) error {
	ev.reply = make(chan error, 1)
	select {
	case w.events <- ev:
	case <-w.done:
		return fmt.Errorf("pod %q not found: %w", w.rec.Pod.Metadata.Name, errdefs.ErrNotFound)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ev.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *worker) run(ctx context.Context) {
	defer w.m.wg.Done()
	for _, id := range w.stale {
		if err := w.m.rt.RemoveContainer(ctx, id); err != nil {
			w.m.log.Warn("remove stale container", append(w.log(), "container", id, "err", err)...)
		}
	}
	for _, c := range w.ctrs {
		if c.adopt {
			w.adopt(ctx, c)
		}
	}
	switch {
	case w.rec.Deleting:
		w.beginStop(ctx, evStop{remove: true})
	case !w.rec.Stopped:
		w.startAll(ctx)
	}
	for {
		select {
		case ev := <-w.events:
			if w.handle(ctx, ev) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *worker) adopt(ctx context.Context, c *ctr) {
	proc, err := w.m.rt.AdoptContainer(ctx, c.id)
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if err != nil {
		w.m.log.Warn("cannot adopt container; it counts as exited", append(w.log(), "container", c.name, "err", err)...)
		c.recovered = true
		c.status.State = ContainerState{Terminated: &ContainerStateTerminated{ExitCode: 255, Reason: ReasonError, Message: err.Error()}}
		return
	}
	w.runningLocked(ctx, c, c.attempt, proc)
	w.updateLocked()
}

// startAll sets up the sandbox and launches every container that is not running.
func (w *worker) startAll(ctx context.Context) {
	sb, err := w.m.rt.SetupSandbox(ctx, w.rec.Pod)
	if err != nil {
		w.m.log.Warn("pod sandbox setup failed", append(w.log(), "err", err)...)
		w.m.mu.Lock()
		for _, c := range w.ctrs {
			if !c.running {
				c.status.State = ContainerState{Waiting: &ContainerStateWaiting{Reason: ReasonCreateContainerConfigError, Message: err.Error()}}
			}
		}
		w.updateLocked()
		w.m.mu.Unlock()
		time.AfterFunc(w.m.opts.RetryDelay, func() { w.post(ctx, evSandboxRetry{}) })
		return
	}
	w.sb = sb
	for _, c := range w.ctrs {
		switch {
		case c.running || c.launching:
		case c.recovered:
			c.recovered = false
			if t := c.status.State.Terminated; t != nil && shouldRestart(w.rec.Pod.Spec.RestartPolicy, t.ExitCode) {
				w.restart(ctx, c, false)
			}
		default:
			w.launch(ctx, c, "")
		}
	}
}

// launch pulls, creates and starts one instance of a container off the worker goroutine.
func (w *worker) launch(ctx context.Context, c *ctr, previous string) {
	w.m.mu.Lock()
	c.launching = true
	c.status.State = ContainerState{Waiting: &ContainerStateWaiting{Reason: ReasonContainerCreating}}
	w.updateLocked()
	w.m.mu.Unlock()
	p, sb, idx, attempt := w.rec.Pod, w.sb, c.idx, c.attempt
	spec := p.Spec.Containers[idx]
	go func() {
		ev := evLaunched{idx: idx, attempt: attempt}
		defer func() { w.post(ctx, ev) }()
		if previous != "" {
			if err := w.m.rt.RemoveContainer(ctx, previous); err != nil {
				w.m.log.Warn("remove previous instance", append(w.log(), "container", spec.Name, "err", err)...)
			}
		}
		img, err := w.m.rt.EnsureImage(ctx, spec.Image, spec.ImagePullPolicy)
		if err != nil {
			ev.reason, ev.err = ReasonErrImagePull, err
			if errdefs.IsNotFound(err) && spec.ImagePullPolicy == PullNever {
				ev.reason = ReasonErrImageNeverPull
			}
			return
		}
		ev.img = img
		plan, err := BuildPlan(p, idx, img, sb, attempt, w.m.opts.LogRoot)
		if err != nil {
			ev.reason, ev.err = ReasonCreateContainerConfigError, err
			return
		}
		id, err := w.m.rt.CreateContainer(ctx, sb, plan)
		if err != nil {
			ev.reason, ev.err = ReasonCreateContainerError, err
			return
		}
		ev.id = id
		proc, err := w.m.rt.StartContainer(ctx, id)
		if err != nil {
			ev.reason, ev.err = ReasonRunContainerError, err
			return
		}
		ev.proc = proc
	}()
}

// runningLocked records a started or adopted instance and watches for its exit.
func (w *worker) runningLocked(ctx context.Context, c *ctr, attempt int, proc *Process) {
	c.running = true
	c.exited = make(chan struct{})
	started := proc.StartedAt
	c.status.State = ContainerState{Running: &ContainerStateRunning{StartedAt: timePtr(started)}}
	c.status.Ready = true
	t := true
	c.status.Started = &t
	idx := c.idx
	go func() {
		select {
		case st := <-proc.Exit:
			w.post(ctx, evExited{idx: idx, attempt: attempt, st: st})
		case <-ctx.Done():
		}
	}()
}

// handle applies one event; it returns true when the worker is done (the pod was removed).
func (w *worker) handle(ctx context.Context, ev any) bool {
	switch ev := ev.(type) {
	case evLaunched:
		w.launched(ctx, ev)
	case evExited:
		w.exited(ctx, ev)
	case evRestart:
		c := w.ctrs[ev.idx]
		if !w.stopping && !w.rec.Stopped && c.attempt == ev.attempt && !c.running && !c.launching {
			w.restart(ctx, c, ev.retry)
		}
	case evSandboxRetry:
		if !w.stopping && !w.rec.Stopped && w.sb == nil {
			w.startAll(ctx)
		}
	case evStop:
		w.beginStop(ctx, ev)
	}
	return w.finishStop(ctx)
}

func (w *worker) launched(ctx context.Context, ev evLaunched) {
	c := w.ctrs[ev.idx]
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	c.launching = false
	if ev.id != "" {
		c.id = ev.id
		c.status.ContainerID = "containerd://" + ev.id
	}
	if ev.img != nil {
		c.stopSignal = ev.img.StopSignal
		c.status.ImageID = ev.img.ID
	}
	if ev.err != nil {
		w.m.log.Warn("container failed to start", append(w.log(), "container", c.name, "reason", ev.reason, "err", ev.err)...)
		c.status.State = ContainerState{Waiting: &ContainerStateWaiting{Reason: ev.reason, Message: ev.err.Error()}}
		w.updateLocked()
		if !w.stopping && !w.rec.Stopped {
			attempt := c.attempt
			time.AfterFunc(w.m.opts.RetryDelay, func() { w.post(ctx, evRestart{idx: c.idx, attempt: attempt, retry: true}) })
		}
		return
	}
	w.m.log.Info("container started", append(w.log(), "container", c.name, "attempt", c.attempt, "pid", ev.proc.Pid)...)
	w.runningLocked(ctx, c, ev.attempt, ev.proc)
	w.updateLocked()
	if w.stopping {
		w.stopOne(ctx, c)
	}
}

func (w *worker) exited(ctx context.Context, ev evExited) {
	c := w.ctrs[ev.idx]
	if ev.attempt != c.attempt || !c.running {
		return
	}
	w.m.mu.Lock()
	c.running = false
	close(c.exited)
	var startedAt *time.Time
	if r := c.status.State.Running; r != nil {
		startedAt = r.StartedAt
	}
	c.status.State = ContainerState{Terminated: &ContainerStateTerminated{
		ExitCode:   ev.st.Code,
		Reason:     terminatedReason(ev.st.Code),
		StartedAt:  startedAt,
		FinishedAt: timePtr(ev.st.ExitedAt),
	}}
	c.status.Ready = false
	w.updateLocked()
	w.m.mu.Unlock()
	w.m.log.Info("container exited", append(w.log(), "container", c.name, "exit_code", ev.st.Code)...)
	if !w.stopping && !w.rec.Stopped && shouldRestart(w.rec.Pod.Spec.RestartPolicy, ev.st.Code) {
		attempt := c.attempt
		time.AfterFunc(w.m.opts.RestartDelay, func() { w.post(ctx, evRestart{idx: c.idx, attempt: attempt}) })
	}
}

// restart launches the next instance of a container (or the same one again after a failed launch).
func (w *worker) restart(ctx context.Context, c *ctr, retry bool) {
	previous := ""
	if !retry {
		w.m.mu.Lock()
		c.status.LastState = c.status.State
		c.status.RestartCount++
		previous = c.id
		c.attempt++
		w.m.mu.Unlock()
	}
	if w.sb == nil {
		w.startAll(ctx)
		return
	}
	w.launch(ctx, c, previous)
}

// beginStop records the stop durably, then applies the stop contract to every running container.
// A second stop with a shorter grace shortens the first, as in Kubernetes.
func (w *worker) beginStop(ctx context.Context, ev evStop) {
	before := *w.rec
	w.rec.Stopped = true
	w.rec.Deleting = w.rec.Deleting || ev.remove
	if w.rec.Stopped != before.Stopped || w.rec.Deleting != before.Deleting {
		if err := w.m.opts.Store.Put(ctx, w.rec); err != nil {
			*w.rec = before
			if ev.reply != nil {
				ev.reply <- fmt.Errorf("store pod: %w", err)
			}
			return
		}
	}
	if ev.reply != nil {
		w.waiters = append(w.waiters, ev.reply)
	}
	w.removing = w.removing || ev.remove
	grace := time.Duration(*w.rec.Pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if ev.grace != nil {
		grace = time.Duration(*ev.grace) * time.Second
	}
	deadline := time.Now().Add(grace)
	if w.stopping && !deadline.Before(w.stopDeadline) {
		return
	}
	w.stopping = true
	w.stopDeadline = deadline
	w.m.log.Info("stopping pod", append(w.log(), "grace", grace, "remove", w.removing)...)
	w.m.mu.Lock()
	w.updateLocked()
	w.m.mu.Unlock()
	for _, c := range w.ctrs {
		if c.running {
			w.stopOne(ctx, c)
		}
	}
}

// stopOne applies the stop contract — stop signal, grace, SIGKILL — to one container; its exit
// arrives as an ordinary event.
func (w *worker) stopOne(ctx context.Context, c *ctr) {
	sig, err := signals.Parse(c.stopSignal)
	if c.stopSignal == "" || err != nil {
		sig, _ = signals.Parse("SIGTERM")
	}
	target := &stopTarget{rt: w.m.rt, id: c.id, exited: c.exited}
	grace := time.Until(w.stopDeadline)
	name := c.name
	go func() {
		if _, err := signals.Stop(ctx, target, sig, grace); err != nil && ctx.Err() == nil {
			w.m.log.Warn("stop container", append(w.log(), "container", name, "err", err)...)
		}
	}()
}

type stopTarget struct {
	rt     Runtime
	id     string
	exited chan struct{}
}

func (t *stopTarget) Signal(ctx context.Context, sig syscall.Signal) error {
	return t.rt.SignalContainer(ctx, t.id, signals.Name(sig))
}

func (t *stopTarget) Exited() <-chan struct{} { return t.exited }

// finishStop completes a stop once nothing runs or launches any more; for a removal it removes
// everything of the pod and reports true.
func (w *worker) finishStop(ctx context.Context) bool {
	if !w.stopping {
		return false
	}
	for _, c := range w.ctrs {
		if c.running || c.launching {
			return false
		}
	}
	w.stopping = false
	if w.removing {
		if err := w.cleanup(ctx); err != nil {
			w.m.log.Warn("remove pod", append(w.log(), "err", err)...)
			w.reply(err)
			w.removing = false
			return false
		}
		w.m.mu.Lock()
		delete(w.m.pods, key(w.rec.Pod.Metadata.Namespace, w.rec.Pod.Metadata.Name))
		close(w.done)
		w.m.notifyLocked()
		w.m.mu.Unlock()
		w.m.log.Info("pod removed", w.log()...)
		w.reply(nil)
		return true
	}
	w.m.mu.Lock()
	w.updateLocked()
	w.m.mu.Unlock()
	w.m.log.Info("pod stopped", w.log()...)
	w.reply(nil)
	return false
}

func (w *worker) reply(err error) {
	for _, r := range w.waiters {
		r <- err
	}
	w.waiters = nil
}

// cleanup removes every container of the pod (earlier instances too), its sandbox, its logs and
// finally its record: until that last step, a restarted podd finds the removal unfinished.
func (w *worker) cleanup(ctx context.Context) error {
	uid := w.rec.Pod.Metadata.UID
	all, err := w.m.rt.ListContainers(ctx)
	if err != nil {
		return err
	}
	for _, c := range all {
		if c.PodUID == uid {
			if err := w.m.rt.RemoveContainer(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	if err := w.m.rt.TeardownSandbox(ctx, uid); err != nil {
		return err
	}
	if err := os.RemoveAll(LogDir(w.m.opts.LogRoot, w.rec.Pod)); err != nil {
		return fmt.Errorf("remove logs: %w", err)
	}
	return w.m.opts.Store.Delete(ctx, uid)
}

// updateLocked recomputes the pod's status from its containers and wakes the waiters.
func (w *worker) updateLocked() {
	p := w.rec.Pod
	st := &p.Status
	st.ContainerStatuses = make([]ContainerStatus, len(w.ctrs))
	for i, c := range w.ctrs {
		st.ContainerStatuses[i] = c.status
		if st.StartTime == nil && c.status.State.Running != nil {
			st.StartTime = c.status.State.Running.StartedAt
		}
	}
	st.Phase = Phase(p.Spec.RestartPolicy, w.rec.Stopped && !w.stopping, st.ContainerStatuses)
	st.Conditions = Conditions(st.Phase, st.ContainerStatuses, st.Conditions, time.Now().UTC().Truncate(time.Second))
	st.Reason, st.Message = "", ""
	switch {
	case w.rec.Deleting:
		st.Reason = "Terminating"
	case w.stopping:
		st.Reason = "Stopping"
	case w.rec.Stopped:
		st.Reason, st.Message = ReasonStopped, "stopped by request"
	}
	if w.m.changed != nil {
		w.m.notifyLocked()
	}
}

// snapshotLocked copies the pod for a reader; states are replaced, never changed in place, so
// copying the slices is enough.
func (w *worker) snapshotLocked() *Pod {
	p := *w.rec.Pod
	p.Status.ContainerStatuses = append([]ContainerStatus(nil), p.Status.ContainerStatuses...)
	p.Status.Conditions = append([]PodCondition(nil), p.Status.Conditions...)
	return &p
}
