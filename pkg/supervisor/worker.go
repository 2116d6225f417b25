package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/pod"
)

type ctrKind int

const (
	kindInit    ctrKind = iota // runs to a successful exit before the next one starts
	kindSidecar                // an init container with restartPolicy Always: runs beside the pod
	kindMain
)

// ctr is the worker's view of one container of the pod. The worker's goroutine alone changes it,
// with the worker's lock held for what readers see (state, id, attempt, status).
type ctr struct {
	kind  ctrKind
	name  string
	spec  *pod.Container
	state ctrState

	id       string // current instance, "" before the first create
	attempt  int
	status   pod.ContainerStatus
	exited   chan struct{}    // closed when the running instance exits
	stopSig  syscall.Signal   // the image's STOPSIGNAL, or SIGTERM
	img      *pod.ImageConfig // the running instance's image (nil until a launch of this podd found it)
	started  bool             // the running instance is past postStart and its startup probe
	ready    bool             // the readiness probe's last verdict (true without a readiness probe)
	upOnce   bool             // an instance was started once: a sidecar that was counts as initialized
	finished bool             // an init container that completed: it never runs again

	backoff      time.Duration
	runningSince time.Time
	launchFailed bool   // the last try failed to launch: the next one is a retry, not a restart
	killReason   string // reason and message recorded when the instance we killed exits
	killMessage  string
	stopProbes   context.CancelFunc // ends the current instance's probes
	generation   int                // instances of this attempt that were created and failed to start
	failedID     string             // the last of those, removed before the next try
}

// fire moves the container by ev; false means ev does not apply to its state (a stale event).
func (c *ctr) fire(ev ctrEvent) bool {
	n, ok := c.state.next(ev)
	if ok {
		c.state = n
	}
	return ok
}

// Events a worker handles, one at a time, on its own goroutine.
type (
	evLaunched struct {
		c         *ctr
		attempt   int
		id        string
		proc      *Process
		img       *pod.ImageConfig
		reason    string
		err       error
		postStart error
		// abandoned: a stop came while the launch waited for its turn; nothing was created.
		abandoned bool
	}
	evExited struct {
		c       *ctr
		attempt int
		st      ExitStatus
	}
	evOOM struct {
		c       *ctr
		attempt int
		kills   int
	}
	evRestart struct {
		c       *ctr
		attempt int
	}
	evProbe struct {
		c       *ctr
		attempt int
		kind    string // startup, liveness, readiness
		ok      bool
		grace   *time.Duration
	}
	evSandboxRetry struct{}
	evRemoveRetry  struct{}
	evStop         struct {
		grace  *time.Duration // nil: the pod's terminationGracePeriodSeconds
		remove bool
		// shutdown: podd is shutting down with --stop-pods-on-shutdown (or the host is). The stop
		// is not recorded, so the next podd starts the pod again as its restart policy says.
		shutdown bool
		reply    chan error
	}
	// evPing asks the worker's loop to answer: the watchdog's proof that the loop is alive.
	evPing struct{ done chan struct{} }
	// evResume undoes a shutdown stop: the host's shutdown was cancelled.
	evResume struct{}
	// evKill stops one running container as a failed liveness probe would (the stop contract;
	// the restart policy decides what follows); reply gets the channel closed at its exit.
	evKill struct {
		container, reason, message string
		reply                      chan killReply
	}
)

type killReply struct {
	exited <-chan struct{}
	err    error
}

// worker supervises one pod: it brings the pod's containers towards the desired state on events —
// a launch finished, a process exited, a probe decided, a timer fired, a stop was asked — never by
// polling. Its goroutine alone changes the pod's state; mu guards what readers see of it.
type worker struct {
	m *Manager
	// rec's Pod metadata (name, namespace, UID), spec and Owner are fixed at creation and read
	// without the lock; its labels, annotations, status and flags change under mu.
	rec    *Record
	ctrs   []*ctr // init containers (and sidecars) in order, then the main containers
	stale  []string
	events chan any
	done   chan struct{}
	// qos is the pod's QoS class, derived once from the fixed spec.
	qos pod.QOSClass
	// launchSem bounds the launches of this pod running at once, so that the first containers
	// of a large pod start at once instead of every launch sharing containerd with all others.
	launchSem chan struct{}

	mu    sync.Mutex
	state podState
	goal  podState // what a stop leads to: podCompleted, podStopped or podRemoving
	// halted: stopped for a podd or host shutdown (peHalt). Unlike rec.Stopped it is never
	// stored, so the next podd starts the pod again.
	halted bool

	sb           *pod.Sandbox
	sbRetry      bool // a sandbox retry is scheduled
	stopDeadline time.Time
	waiters      []chan error
	// hooks bounds postStart hooks: a stop cancels them, so a hung hook cannot hold a stop up.
	hooks       context.Context
	cancelHooks context.CancelFunc
	// Set for the workers of a restarted podd: adoptSem bounds the adoptions running at once,
	// adopted is called once this worker has adopted (or given up on) its containers.
	adoptSem chan struct{}
	adopted  func()
	// quiet: a restored pod's first publications (adoption, first step) wake no watcher; the
	// manager wakes them once for all restored pods (Start). Each wake-up makes every watcher —
	// the controllers, the pod sockets, the elections — read every pod again: one per restored
	// pod made a restart quadratic in the number of pods. Only the worker's goroutine uses it.
	quiet bool
	// configWaiter: whether the pod refers to ConfigMaps or Secrets, and a wake-up is pending.
	configWaiter
}

func newWorker(m *Manager, rec *Record, found []ContainerRecord) *worker {
	w := &worker{m: m, rec: rec, events: make(chan any, 16), done: make(chan struct{}),
		qos: pod.PodQOSClass(&rec.Pod.Spec), launchSem: make(chan struct{}, launchConcurrency)}
	w.usesConfig = pod.UsesConfig(rec.Pod)
	latest := map[string]ContainerRecord{}
	for _, f := range found {
		if cur, ok := latest[f.Name]; ok {
			// Two of one attempt: an instance that failed to start and the next try of it.
			older := f
			if f.Attempt > cur.Attempt || f.Attempt == cur.Attempt && f.State != RecordCreated && cur.State == RecordCreated {
				older, latest[f.Name] = cur, f
			}
			w.stale = append(w.stale, older.ID)
			continue
		}
		latest[f.Name] = f
	}
	spec := &rec.Pod.Spec
	add := func(kind ctrKind, c *pod.Container) {
		w.ctrs = append(w.ctrs, &ctr{kind: kind, name: c.Name, spec: c, ready: c.ReadinessProbe == nil, status: pod.ContainerStatus{
			Name:  c.Name,
			Image: c.Image,
			State: pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: pod.ReasonContainerCreating}},
		}})
	}
	for i := range spec.InitContainers {
		kind := kindInit
		if rp := spec.InitContainers[i].RestartPolicy; rp != nil && *rp == pod.RestartAlways {
			kind = kindSidecar
		}
		add(kind, &spec.InitContainers[i])
	}
	mainsExist := false
	for i := range spec.Containers {
		add(kindMain, &spec.Containers[i])
		if _, ok := latest[spec.Containers[i].Name]; ok {
			mainsExist = true
		}
	}
	for _, c := range w.ctrs {
		f, ok := latest[c.name]
		if !ok {
			continue
		}
		delete(latest, c.name)
		// A container created but never started (podd died in between) is launched again: the
		// deterministic ID makes CreateContainer replace the leftover; so must the generation.
		c.id, c.attempt, c.generation, c.stopSig = f.ID, f.Attempt, f.Generation, stopSignal(f.StopSignal)
		c.status.ContainerID = m.containerURI(f.ID)
		c.status.ImageID = f.ImageID
		c.status.RestartCount = int32(f.Attempt)
		switch f.State {
		case RecordRunning:
			c.state = ctrAdopting
		case RecordStopped:
			c.state = ctrExited
			c.status.State = pod.ContainerState{Terminated: &pod.ContainerStateTerminated{
				ExitCode: f.Exit.Code, Reason: pod.TerminatedReason(f.Exit.Code), FinishedAt: timePtr(f.Exit.ExitedAt),
			}}
			if c.kind == kindInit && f.Exit.Code == 0 {
				c.state, c.finished = ctrDone, true
			}
		}
	}
	// Main containers exist only once initialization completed, as the kubelet reasons too.
	for _, c := range w.ctrs {
		if mainsExist && c.kind != kindMain {
			if c.kind == kindInit {
				c.finished = true
				if c.state == ctrNew || c.state == ctrExited {
					c.state = ctrDone
				}
			}
			c.upOnce = true
		}
	}
	for _, f := range latest { // containers no longer in the spec
		w.stale = append(w.stale, f.ID)
	}
	w.refreshLocked()
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

// event records a pod event about a container (nil for the pod). Events are recorded before the
// status change they explain is published, so that whoever sees the change finds its event.
func (w *worker) event(c *ctr, typ, reason, format string, args ...any) {
	name := ""
	if c != nil {
		name = c.name
	}
	w.mu.Lock()
	p := w.rec.Pod
	w.mu.Unlock()
	w.m.events.Pod(p, name, typ, reason, format, args...)
}

// post delivers an event unless the worker or podd is gone.
func (w *worker) post(ctx context.Context, ev any) {
	select {
	case w.events <- ev:
	case <-w.done:
	case <-ctx.Done():
	}
}

func (w *worker) after(ctx context.Context, d time.Duration, ev any) {
	time.AfterFunc(d, func() { w.post(ctx, ev) })
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
	case <-w.done: // removed by another request meanwhile
		if ev.remove {
			return nil
		}
		return fmt.Errorf("pod %q was removed: %w", w.rec.Pod.Metadata.Name, errdefs.ErrNotFound)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *worker) run(ctx context.Context) {
	defer w.m.wg.Done()
	w.hooks, w.cancelHooks = context.WithCancel(ctx)
	defer w.cancelHooks()
	for _, id := range w.stale {
		if err := w.m.rt.RemoveContainer(ctx, id); err != nil {
			w.m.log.Warn("remove stale container", append(w.log(), "container", id, "err", err)...)
		}
	}
	switch {
	case w.rec.Deleting:
		w.adoptAll(ctx)
		w.beginStop(ctx, evStop{remove: true})
	case w.rec.Stopped:
		// podd may have died between recording the stop and finishing it: finish it.
		w.adoptAll(ctx)
		w.beginStop(ctx, evStop{})
	default:
		w.setupSandbox(ctx)
		w.adoptAll(ctx)
		if len(limitedVolumes(w.rec.Pod)) > 0 {
			w.after(ctx, VolumeCheckInterval, evVolumeCheck{})
		}
	}
	gone := w.step(ctx)
	if w.adopted != nil {
		w.quiet = false
		w.adopted()
	}
	if gone {
		return
	}
	for {
		select {
		case ev := <-w.events:
			w.apply(ctx, ev)
			w.drain(ctx)
			if w.step(ctx) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// maxBatch bounds the events applied before the pod is stepped and published once.
const maxBatch = 256

// drain applies the events already waiting, so that a burst of them — a large pod's launches
// finishing, its containers exiting — costs one step and one status publication, not one each:
// stepping looks at every container, so stepping per event made a pod's start and stop quadratic
// in its number of containers.
func (w *worker) drain(ctx context.Context) {
	for i := 0; i < maxBatch; i++ {
		select {
		case ev := <-w.events:
			w.apply(ctx, ev)
		default:
			return
		}
	}
}

func (w *worker) adoptAll(ctx context.Context) {
	for _, c := range w.ctrs {
		if c.state != ctrAdopting {
			continue
		}
		if w.adoptSem != nil {
			w.adoptSem <- struct{}{}
		}
		proc, err := w.m.rt.AdoptContainer(ctx, c.id)
		if w.adoptSem != nil {
			<-w.adoptSem
		}
		w.mu.Lock()
		if err != nil {
			w.m.log.Warn("cannot adopt container; it counts as exited", append(w.log(), "container", c.name, "err", err)...)
			c.fire(ceAdoptFailed)
			c.status.State = pod.ContainerState{Terminated: &pod.ContainerStateTerminated{ExitCode: 255, Reason: pod.ReasonError, Message: err.Error()}}
		} else {
			// A running sidecar or main container had passed its startup before podd restarted.
			c.fire(ceAdopted)
			c.started, c.upOnce = true, true
			w.runningLocked(ctx, c, c.attempt, proc)
		}
		w.mu.Unlock()
	}
	w.publish()
}

func (w *worker) setupSandbox(ctx context.Context) bool {
	if w.sb != nil {
		return true
	}
	t0 := time.Now()
	w.m.sandboxSem <- struct{}{}
	admitted := time.Since(t0)
	sb, err := w.m.sb.SetupSandbox(ctx, w.rec.Pod)
	<-w.m.sandboxSem
	w.m.log.Debug("pod sandbox set up", append(w.log(), "admitted_after", admitted, "ready_after", time.Since(t0), "err", err)...)
	if err != nil {
		w.m.log.Warn("pod sandbox setup failed", append(w.log(), "err", err)...)
		w.event(nil, pod.EventWarning, "FailedMount", "%v", err)
		w.mu.Lock()
		for _, c := range w.ctrs {
			// A finished container keeps showing how it ended; the others wait for the sandbox.
			if !c.state.running() && c.status.State.Terminated == nil {
				c.status.State = pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: pod.ReasonCreateContainerConfigError, Message: err.Error()}}
			}
		}
		w.mu.Unlock()
		if !w.sbRetry {
			w.sbRetry = true
			w.after(ctx, w.m.opts.RetryDelay, evSandboxRetry{})
		}
		return false
	}
	fault.Point(fault.SandboxAfterSetup)
	w.sb = sb
	w.mu.Lock()
	pod.SetAddresses(&w.rec.Pod.Status, sb)
	w.mu.Unlock()
	return true
}

// apply changes the pod's state for one event; step then moves the pod on.
func (w *worker) apply(ctx context.Context, ev any) {
	switch ev := ev.(type) {
	case evPing:
		close(ev.done)
	case evResume:
		w.resume()
	case evKill:
		ev.reply <- w.kill(ctx, ev)
	case evLaunched:
		w.launched(ctx, ev)
	case evExited:
		w.exited(ctx, ev)
	case evOOM:
		w.oomKilled(ev)
	case evRestart:
		c := ev.c
		if w.state == podSyncing && c.attempt == ev.attempt && c.state == ctrBackOff {
			w.restart(ctx, c)
		}
	case evProbe:
		w.probed(ctx, ev)
	case evSandboxRetry:
		w.sbRetry = false
	case evVolumeCheck:
		w.checkVolumes(ctx)
	case evRemoveRetry:
		w.beginStop(ctx, evStop{remove: true})
	case evStop:
		w.beginStop(ctx, ev)
	case evMetadata:
		w.updateMetadata(ctx, ev)
	case evConfigs:
		w.configsChanged(ctx)
	}
}

// step moves the pod after an event: a syncing pod's containers towards the spec, a stopping
// pod's containers towards their end, and a quiet stop to its goal.
func (w *worker) step(ctx context.Context) bool {
	if w.state == podSyncing {
		w.converge(ctx)
		w.checkCompleted(ctx)
	}
	if w.state == podStopping {
		w.stopStep(ctx)
	}
	gone := w.finishStop(ctx)
	w.publish()
	return gone
}

// resume undoes a shutdown's halt: what it stopped starts again as after any exit, per the
// restart policies (converge applies them to the containers left Exited).
func (w *worker) resume() {
	if !w.halted {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n, ok := w.state.next(peResume, w.goal); ok {
		w.state = n
	}
	w.halted = false
}

// converge starts what should run next: the init containers one at a time (a sidecar counts as
// done once started), then every main container at once. The restart policy is applied first to
// the containers that ended while it could not be (found exited at start, stopped by a shutdown).
func (w *worker) converge(ctx context.Context) {
	if !w.setupSandbox(ctx) {
		return
	}
	for _, c := range w.ctrs {
		if c.state == ctrExited {
			w.afterExit(ctx, c, 0)
		}
	}
	if w.failedInit() {
		return
	}
	for _, c := range w.ctrs {
		if c.kind == kindMain {
			break
		}
		if c.kind == kindInit && c.finished || c.kind == kindSidecar && c.started {
			continue
		}
		if c.state == ctrNew {
			w.launch(ctx, c, "")
		}
		return // the next one waits for this one
	}
	for _, c := range w.ctrs {
		if c.kind == kindMain && c.state == ctrNew {
			w.launch(ctx, c, "")
		}
	}
}

// failedInit: a regular init container failed and the pod's policy says never again.
func (w *worker) failedInit() bool {
	if w.rec.Pod.Spec.RestartPolicy != pod.RestartNever {
		return false
	}
	for _, c := range w.ctrs {
		if t := c.status.State.Terminated; c.kind == kindInit && t != nil && t.ExitCode != 0 {
			return true
		}
	}
	return false
}

// launch pulls, creates and starts one instance of a container, and runs its postStart hook,
// off the worker goroutine.
func (w *worker) launch(ctx context.Context, c *ctr, previous string) {
	w.mu.Lock()
	c.fire(ceLaunch)
	c.status.State = pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: pod.ReasonContainerCreating}}
	// A copy: the launch goroutine reads the labels while a metadata update may replace them. Not
	// the containers' statuses, which it does not need: copying them for each launch made a
	// pod's start quadratic in its number of containers.
	p := w.planSnapshotLocked()
	w.mu.Unlock()
	sb, attempt, spec, hooks, generation, qos := w.sb, c.attempt, c.spec, w.hooks, c.generation, w.qos
	go func() {
		ev := evLaunched{c: c, attempt: attempt}
		t0 := time.Now()
		var ensured, created time.Duration
		defer func() {
			w.m.log.Debug("container launched", append(w.log(), "container", spec.Name, "ensured_after", ensured, "created_after", created, "started_after", time.Since(t0), "err", ev.err)...)
			w.post(ctx, ev)
		}()
		select {
		case w.launchSem <- struct{}{}:
			defer func() { <-w.launchSem }()
		case <-hooks.Done(): // stopping: this launch has not begun and never will
			ev.abandoned, ev.err = true, hooks.Err()
			return
		}
		if previous != "" {
			if err := w.m.rt.RemoveContainer(ctx, previous); err != nil {
				w.m.log.Warn("remove previous instance", append(w.log(), "container", spec.Name, "err", err)...)
			}
		}
		img, err := w.m.rt.EnsureImage(ctx, spec.Image, spec.ImagePullPolicy)
		if err != nil {
			ev.reason, ev.err = pod.ReasonErrImagePull, err
			if errdefs.IsNotFound(err) && spec.ImagePullPolicy == pod.PullNever {
				ev.reason = pod.ReasonErrImageNeverPull
			}
			return
		}
		ev.img = img
		ensured = time.Since(t0)
		w.m.events.Pod(p, spec.Name, pod.EventNormal, "Pulled", "Container image %q is present (imagePullPolicy %s)", spec.Image, spec.ImagePullPolicy)
		plan, err := pod.BuildPlan(p, spec, img, sb, attempt, w.m.opts.LogRoot, qos, w.m.configs())
		if err != nil {
			ev.reason, ev.err = pod.ReasonCreateContainerConfigError, err
			return
		}
		plan.Generation = generation
		id, err := w.m.rt.CreateContainer(ctx, sb, plan)
		if err != nil {
			ev.reason, ev.err = pod.ReasonCreateContainerError, err
			return
		}
		ev.id = id
		created = time.Since(t0)
		fault.Point(fault.ContainerAfterCreate)
		w.m.events.Pod(p, spec.Name, pod.EventNormal, "Created", "Created container %s", spec.Name)
		proc, err := w.m.rt.StartContainer(ctx, id)
		if err != nil {
			ev.reason, ev.err = pod.ReasonRunContainerError, err
			return
		}
		ev.proc = proc
		fault.Point(fault.ContainerAfterStart)
		w.m.events.Pod(p, spec.Name, pod.EventNormal, "Started", "Started container %s", spec.Name)
		if spec.Lifecycle != nil && spec.Lifecycle.PostStart != nil {
			ev.postStart = w.runAction(hooks, hookAction(spec.Lifecycle.PostStart), target{id: id, spec: spec, sb: sb})
		}
	}()
}

// runningLocked records a started or adopted instance and watches for its exit. w.mu is held.
func (w *worker) runningLocked(ctx context.Context, c *ctr, attempt int, proc *Process) {
	c.exited = make(chan struct{})
	c.runningSince = time.Now()
	c.status.State = pod.ContainerState{Running: &pod.ContainerStateRunning{StartedAt: timePtr(proc.StartedAt)}}
	if proc.Notify != nil {
		proc.Notify(func(st ExitStatus) {
			w.post(ctx, evExited{c: c, attempt: attempt, st: st})
		}, func(n int) {
			w.post(ctx, evOOM{c: c, attempt: attempt, kills: n})
		})
		w.startProbes(ctx, c, attempt)
		return
	}
	go func() {
		for {
			select {
			case st := <-proc.Exit:
				w.post(ctx, evExited{c: c, attempt: attempt, st: st})
				return
			case n := <-proc.OOMKills:
				w.post(ctx, evOOM{c: c, attempt: attempt, kills: n})
			case <-ctx.Done():
				return
			}
		}
	}()
	w.startProbes(ctx, c, attempt)
}

// down says whether the pod's containers are to stay down: a recorded stop, or a shutdown's.
func (w *worker) down() bool { return w.rec.Stopped || w.halted }

func (w *worker) launched(ctx context.Context, ev evLaunched) {
	c := ev.c
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.id != "" {
		c.id = ev.id
		c.status.ContainerID = w.m.containerURI(ev.id)
	}
	if ev.img != nil {
		c.img = ev.img
		c.stopSig = stopSignal(ev.img.StopSignal)
		c.status.ImageID = ev.img.ID
	}
	if ev.abandoned {
		c.fire(ceLaunchFailed)
		return
	}
	if ev.err != nil {
		c.fire(ceLaunchFailed)
		c.launchFailed = true
		if ev.id != "" && ev.proc == nil {
			// Created and not started: the next try is a new container, this one is removed.
			c.generation++
			c.failedID = ev.id
		}
		w.m.log.Warn("container failed to start", append(w.log(), "container", c.name, "reason", ev.reason, "err", ev.err)...)
		w.m.events.Pod(w.rec.Pod, c.name, pod.EventWarning, "Failed", "Error: %s: %v", ev.reason, ev.err)
		c.status.State = pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: ev.reason, Message: ev.err.Error()}}
		if w.state == podSyncing {
			w.retryLaunchLocked(ctx, c)
		}
		return
	}
	c.fire(ceStarted)
	c.launchFailed = false
	w.m.log.Info("container started", append(w.log(), "container", c.name, "attempt", c.attempt, "pid", ev.proc.Pid)...)
	w.runningLocked(ctx, c, ev.attempt, ev.proc)
	switch {
	case ev.postStart != nil:
		w.m.events.Pod(w.rec.Pod, c.name, pod.EventWarning, "FailedPostStartHook", "PostStartHook failed: %v", ev.postStart)
		w.killLocked(ctx, c, nil, pod.ReasonPostStartHookError, fmt.Sprintf("PostStartHook failed: %v", ev.postStart),
			fmt.Sprintf("FailedPostStartHook: container %s will be killed", c.name))
	case c.spec.StartupProbe == nil:
		c.started, c.upOnce = true, true
	}
	if w.state == podStopping && c.state == ctrRunning && (c.kind != kindSidecar || !w.mainsRunning()) {
		w.killInstanceLocked(ctx, c, w.stopDeadline, "Stopping container "+c.name)
	}
}

// retryLaunchLocked schedules another try of a container that failed to launch. w.mu is held.
func (w *worker) retryLaunchLocked(ctx context.Context, c *ctr) {
	c.fire(ceRestart)
	w.after(ctx, w.m.opts.RetryDelay, evRestart{c: c, attempt: c.attempt})
}

func (w *worker) exited(ctx context.Context, ev evExited) {
	c := ev.c
	if ev.attempt != c.attempt || !c.state.running() {
		return // an instance already replaced, or an exit already seen
	}
	w.mu.Lock()
	c.fire(ceExit)
	c.started = false
	c.ready = c.spec.ReadinessProbe == nil
	if c.stopProbes != nil {
		c.stopProbes()
	}
	close(c.exited)
	var startedAt *time.Time
	if r := c.status.State.Running; r != nil {
		startedAt = r.StartedAt
	}
	reason, message := pod.TerminatedReason(ev.st.Code), ""
	if c.killReason != "" {
		reason, message, c.killReason, c.killMessage = c.killReason, c.killMessage, "", ""
	}
	if ev.st.OOMKilled {
		reason = pod.ReasonOOMKilled
		w.oomEventLocked(c, ev.st.Code)
	}
	c.status.State = pod.ContainerState{Terminated: &pod.ContainerStateTerminated{
		ExitCode:   ev.st.Code,
		Reason:     reason,
		Message:    message,
		StartedAt:  startedAt,
		FinishedAt: timePtr(ev.st.ExitedAt),
	}}
	if c.kind == kindInit && ev.st.Code == 0 {
		c.finished = true
	}
	ran := time.Since(c.runningSince)
	w.mu.Unlock()
	w.m.log.Info("container exited", append(w.log(), "container", c.name, "exit_code", ev.st.Code)...)
	if w.state == podSyncing {
		w.afterExit(ctx, c, ran)
	}
}

// afterExit applies the restart policy to an exited container: a sidecar always restarts, an init
// container as the pod's policy says (OnFailure for Always), a main container as the policy says,
// each after the backoff. A container that failed to launch is tried again after the retry delay.
func (w *worker) afterExit(ctx context.Context, c *ctr, ran time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.launchFailed {
		w.retryLaunchLocked(ctx, c)
		return
	}
	policy := w.rec.Pod.Spec.RestartPolicy
	switch c.kind {
	case kindSidecar:
		policy = pod.RestartAlways
	case kindInit:
		if policy == pod.RestartAlways {
			policy = pod.RestartOnFailure
		}
	}
	code := int32(0)
	if t := c.status.State.Terminated; t != nil {
		code = t.ExitCode
	}
	if c.finished || !pod.ShouldRestart(policy, code) {
		c.fire(ceFinal)
		return
	}
	o := w.m.opts
	if ran >= o.BackoffReset {
		c.backoff = 0
	}
	switch {
	case c.backoff == 0:
		c.backoff = o.BackoffBase
	case c.backoff < o.BackoffMax:
		c.backoff = min(2*c.backoff, o.BackoffMax)
	}
	c.fire(ceRestart)
	w.m.events.Pod(w.rec.Pod, c.name, pod.EventWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.name, w.rec.Pod.Metadata.Name)
	c.status.LastState = c.status.State
	c.status.State = pod.ContainerState{Waiting: &pod.ContainerStateWaiting{
		Reason:  pod.ReasonCrashLoopBackOff,
		Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", c.backoff, c.name, w.rec.Pod.Metadata.Name),
	}}
	w.after(ctx, c.backoff, evRestart{c: c, attempt: c.attempt})
}

// restart launches the next instance of a container (or the same one again after a failed launch).
func (w *worker) restart(ctx context.Context, c *ctr) {
	if !w.setupSandbox(ctx) {
		w.after(ctx, w.m.opts.RetryDelay, evRestart{c: c, attempt: c.attempt})
		return
	}
	previous := ""
	w.mu.Lock()
	if c.launchFailed {
		previous, c.failedID = c.failedID, ""
	} else {
		if c.status.State.Terminated != nil {
			c.status.LastState = c.status.State
		}
		c.status.RestartCount++
		previous = c.id
		c.attempt++
		c.generation = 0
	}
	w.mu.Unlock()
	w.launch(ctx, c, previous)
}

// checkCompleted stops the sidecars once every main container has finished for good: sidecars
// never keep a completed pod alive.
func (w *worker) checkCompleted(ctx context.Context) {
	w.mu.Lock()
	w.refreshLocked()
	ph := w.rec.Pod.Status.Phase
	w.mu.Unlock()
	if ph != pod.PodSucceeded && ph != pod.PodFailed {
		return
	}
	for _, c := range w.ctrs {
		if c.state.busy() {
			w.m.log.Info("pod completed; stopping its sidecars", w.log()...)
			break
		}
	}
	w.stopFor(ctx, peComplete, podCompleted, nil)
}

// beginStop records a stop or removal durably (not a shutdown's), then starts the stop contract. A
// second stop with a shorter grace shortens the first, as in Kubernetes.
func (w *worker) beginStop(ctx context.Context, ev evStop) {
	pe, goal := peStop, podStopped
	switch {
	case ev.remove:
		pe, goal = peRemove, podRemoving
	case ev.shutdown:
		pe = peHalt
	}
	if _, ok := w.state.next(pe, w.goal); !ok {
		switch {
		case ev.reply == nil:
		case ev.shutdown && w.state == podCompleted:
			ev.reply <- nil // nothing runs, and nothing will start again
		default:
			// Being removed already: the request learns how the removal ends.
			w.waiters = append(w.waiters, ev.reply)
		}
		return
	}
	if ev.shutdown {
		w.mu.Lock()
		w.halted = true // in memory only, never stored: no restarts while podd or the host goes down
		w.mu.Unlock()
	} else if ev.reply != nil || ev.remove {
		// The record changes under the lock (status readers look at it), and only once the store
		// has the change.
		next := *w.rec
		next.Stopped = true
		next.Deleting = w.rec.Deleting || ev.remove
		if next.Stopped != w.rec.Stopped || next.Deleting != w.rec.Deleting {
			if err := w.m.opts.Store.Put(ctx, &next); err != nil {
				if ev.reply != nil {
					ev.reply <- fmt.Errorf("store pod: %w", err)
				}
				return
			}
			w.mu.Lock()
			w.rec.Stopped, w.rec.Deleting = next.Stopped, next.Deleting
			w.mu.Unlock()
			if ev.remove {
				fault.Point(fault.RemoveAfterMark)
			}
		}
	}
	if ev.reply != nil {
		w.waiters = append(w.waiters, ev.reply)
	}
	w.stopFor(ctx, pe, goal, ev.grace)
}

// stopFor moves the pod into its stop towards goal, within grace (nil: the pod's own).
func (w *worker) stopFor(ctx context.Context, pe podEvent, goal podState, grace *time.Duration) {
	g := pod.GracePeriod(*w.rec.Pod.Spec.TerminationGracePeriodSeconds)
	if grace != nil {
		g = *grace
	}
	deadline := time.Now().Add(g)
	w.mu.Lock()
	defer w.mu.Unlock()
	wasStopping := w.state == podStopping
	n, ok := w.state.next(pe, w.goal)
	if !ok {
		return
	}
	if n == podStopping {
		w.goal = stopGoal(w.goal, goal)
	}
	w.state = n
	if n != podStopping || wasStopping && !deadline.Before(w.stopDeadline) {
		return
	}
	if w.cancelHooks != nil {
		w.cancelHooks()
	}
	w.stopDeadline = deadline
	w.m.log.Info("stopping pod", append(w.log(), "grace", g, "remove", w.goal == podRemoving)...)
	for _, c := range w.ctrs {
		switch {
		case c.state == ctrBackOff:
			c.fire(ceHold) // the policy decides again after the stop
		case wasStopping && c.state == ctrStopping:
			// The stop contract starts again below, with the shorter deadline.
			w.killInstanceLocked(ctx, c, deadline, "Stopping container "+c.name)
		}
	}
}

// stopStep advances a stop: the main (and running init) containers first, all at once; then the
// sidecars one by one in reverse order, each within what is left of the grace period.
func (w *worker) stopStep(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mainsRunning() {
		for _, c := range w.ctrs {
			if c.kind != kindSidecar && c.state == ctrRunning {
				w.killInstanceLocked(ctx, c, w.stopDeadline, "Stopping container "+c.name)
			}
		}
		return
	}
	for i := len(w.ctrs) - 1; i >= 0; i-- {
		c := w.ctrs[i]
		if c.kind != kindSidecar || !c.state.busy() {
			continue
		}
		if c.state == ctrRunning {
			w.killInstanceLocked(ctx, c, w.stopDeadline, "Stopping container "+c.name)
		}
		return
	}
}

// mainsRunning: a main or regular init container still runs or is being launched.
func (w *worker) mainsRunning() bool {
	for _, c := range w.ctrs {
		if c.kind != kindSidecar && c.state.busy() {
			return true
		}
	}
	return false
}

// killLocked stops one container so that its restart policy decides what follows (a failed
// liveness or startup probe, a failed postStart hook). grace nil: the pod's. w.mu is held.
func (w *worker) killLocked(ctx context.Context, c *ctr, grace *time.Duration, reason, message, event string) {
	g := pod.GracePeriod(*w.rec.Pod.Spec.TerminationGracePeriodSeconds)
	if grace != nil {
		g = *grace
	}
	c.killReason, c.killMessage = reason, message
	w.killInstanceLocked(ctx, c, time.Now().Add(g), event)
}

// kill applies an evKill: a container that is not running has nothing to stop.
func (w *worker) kill(ctx context.Context, ev evKill) killReply {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.ctrs {
		if c.name != ev.container {
			continue
		}
		if c.state != ctrRunning && c.state != ctrStopping {
			return killReply{}
		}
		exited := c.exited
		if c.state == ctrRunning {
			w.killLocked(ctx, c, nil, ev.reason, ev.message, ev.message)
		}
		return killReply{exited: exited}
	}
	return killReply{err: fmt.Errorf("container %q not found in pod %q: %w", ev.container, w.rec.Pod.Metadata.Name, errdefs.ErrNotFound)}
}

// killInstanceLocked runs the preStop hook, then the stop signal, then SIGKILL at the deadline.
// Unlike the kubelet, a preStop hook still running at the deadline is killed, not abandoned.
// w.mu is held.
func (w *worker) killInstanceLocked(ctx context.Context, c *ctr, deadline time.Time, event string) {
	again := c.state == ctrStopping
	if !c.fire(ceKill) {
		return
	}
	if c.stopProbes != nil {
		c.stopProbes()
	}
	w.m.events.Pod(w.rec.Pod, c.name, pod.EventNormal, "Killing", "%s", event)
	var preStop *pod.LifecycleHandler
	if c.spec.Lifecycle != nil && !again {
		preStop = c.spec.Lifecycle.PreStop
	}
	proc := process{rt: w.m.rt, id: c.id, exited: c.exited}
	tgt := target{id: c.id, spec: c.spec, sb: w.sb}
	name, sig, p := c.name, c.stopSig, w.rec.Pod
	go func() {
		if preStop != nil {
			hookCtx, cancel := context.WithDeadline(ctx, deadline)
			err := w.runAction(hookCtx, hookAction(preStop), tgt)
			cancel()
			if err != nil && hookEndedWithContainer(ctx, err, proc.exited, deadline) {
				w.m.log.Info("preStop hook ended with its container", append(w.log(), "container", name, "err", err)...)
				err = nil
			}
			if err != nil && ctx.Err() == nil {
				w.m.events.Pod(p, name, pod.EventWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
		}
		if _, err := stopProcess(ctx, proc, sig, time.Until(deadline)); err != nil && ctx.Err() == nil {
			w.m.log.Warn("stop container", append(w.log(), "container", name, "err", err)...)
		}
	}()
}

// hookExitWait bounds how long a preStop hook's SIGKILLed exec waits for its container's exit to
// be seen: the runtime kills the exec because the container's main process ended, and the two
// exits arrive apart.
const hookExitWait = 2 * time.Second

// hookEndedWithContainer tells a preStop hook whose exec was SIGKILLed because the container it was
// stopping ended (`nginx -s quit; sleep 5`, `kill 1; sleep 30`: the runtime kills what is left in
// a container whose main process exited) from a hook that failed: the hook did its job, and the
// container is stopped. The kubelet records FailedPreStopHook for both; podd reports only the
// second. A SIGKILL while the container still runs (an OOM kill of the hook) stays a failure.
func hookEndedWithContainer(ctx context.Context, err error, exited <-chan struct{}, deadline time.Time) bool {
	var exit *execExitError
	if !errors.As(err, &exit) || !exit.killedBySIGKILL() {
		return false
	}
	timer := time.NewTimer(min(hookExitWait, max(time.Until(deadline), 0)))
	defer timer.Stop()
	select {
	case <-exited:
		return true
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// finishStop completes a stop once nothing runs or launches any more; for a removal it removes
// everything of the pod and reports true.
func (w *worker) finishStop(ctx context.Context) bool {
	if w.state != podStopping && w.state != podRemoving {
		if w.state == podStopped || w.state == podCompleted {
			w.reply(nil) // a stop of what was stopped already
		}
		return false
	}
	for _, c := range w.ctrs {
		if c.state.busy() {
			return false
		}
	}
	w.mu.Lock()
	if w.state == podStopping {
		w.state, _ = w.state.next(peQuiet, w.goal)
		if w.state == podStopped && !w.down() {
			// The shutdown this stop was for was cancelled meanwhile: start again.
			w.state, _ = w.state.next(peResume, w.goal)
		}
	}
	state := w.state
	w.mu.Unlock()
	if state != podRemoving {
		w.m.log.Info("pod stopped", w.log()...)
		// The status a stop's caller reads next must say Stopped: publish before the reply.
		w.publish()
		w.reply(nil)
		return false
	}
	if err := w.cleanup(ctx); err != nil {
		w.m.log.Warn("remove pod: trying again", append(w.log(), "in", w.m.opts.RetryDelay, "err", err)...)
		w.reply(err)
		// The removal is recorded: finish it, whoever asked (a restarted podd, a static file).
		w.after(ctx, w.m.opts.RetryDelay, evRemoveRetry{})
		return false
	}
	w.mu.Lock()
	w.state, _ = w.state.next(peCleaned, w.goal)
	w.mu.Unlock()
	w.m.mu.Lock()
	delete(w.m.pods, key(w.rec.Pod.Metadata.Namespace, w.rec.Pod.Metadata.Name))
	w.m.mu.Unlock()
	close(w.done)
	w.m.notify()
	w.m.events.Forget(w.rec.Pod.Metadata.UID)
	w.m.log.Info("pod removed", w.log()...)
	w.reply(nil)
	return true
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
	ids, err := w.m.rt.PodContainers(ctx, uid)
	if err != nil {
		return err
	}
	// One at a time: the containers of a pod share one shim, which ends with its last task, and
	// containerd 1.6 answers a task delete that races that end with "ttrpc: closed".
	for _, id := range ids {
		if err := w.m.rt.RemoveContainer(ctx, id); err != nil {
			return err
		}
		fault.Point(fault.RemoveAfterContainer)
	}
	if err := w.m.sb.TeardownSandbox(ctx, uid); err != nil {
		return err
	}
	fault.Point(fault.RemoveAfterSandbox)
	if err := os.RemoveAll(pod.LogDir(w.m.opts.LogRoot, w.rec.Pod)); err != nil {
		return fmt.Errorf("remove logs: %w", err)
	}
	fault.Point(fault.RemoveBeforeStoreDelete)
	return w.m.opts.Store.Delete(ctx, uid)
}

// publish recomputes the pod's status from its containers and wakes whoever waits for a change.
// It runs once after each event, after the event's own events were recorded.
func (w *worker) publish() {
	w.mu.Lock()
	w.refreshLocked()
	w.mu.Unlock()
	if !w.quiet {
		w.m.notify()
	}
}

// refreshLocked recomputes the pod's status from its containers. w.mu is held.
func (w *worker) refreshLocked() {
	p := w.rec.Pod
	st := &p.Status
	// The lists are rebuilt in place: only the worker's goroutine changes them, and readers copy
	// them under the lock (snapshotLocked).
	st.InitContainerStatuses, st.ContainerStatuses = st.InitContainerStatuses[:0], st.ContainerStatuses[:0]
	initialized := true
	for _, c := range w.ctrs {
		s := c.status
		started := c.started
		s.Started = &started
		s.Ready = c.state.running() && c.started && c.ready
		if st.StartTime == nil && s.State.Running != nil {
			st.StartTime = s.State.Running.StartedAt
		}
		switch c.kind {
		case kindInit:
			initialized = initialized && c.finished
			s.Ready = c.finished
		case kindSidecar:
			initialized = initialized && c.upOnce
		}
		if c.kind == kindMain {
			st.ContainerStatuses = append(st.ContainerStatuses, s)
		} else {
			st.InitContainerStatuses = append(st.InitContainerStatuses, s)
		}
	}
	stopping := w.state == podStopping
	st.QOSClass = w.qos
	st.Phase = pod.Phase(p.Spec.RestartPolicy, w.down() && !stopping, initialized, w.failedInit(), st.ContainerStatuses)
	st.Conditions = pod.Conditions(st.Phase, initialized, st.ContainerStatuses, st.Conditions, time.Now().UTC().Truncate(time.Second))
	st.Reason, st.Message = "", ""
	if w.rec.Evicted != "" {
		st.Phase = pod.PodFailed
	}
	switch {
	case w.rec.Deleting:
		st.Reason = "Terminating"
	case w.rec.Evicted != "":
		st.Reason, st.Message = ReasonEvicted, w.rec.Evicted
	case stopping && w.goal != podCompleted:
		st.Reason = "Stopping"
	case w.down():
		st.Reason, st.Message = pod.ReasonStopped, "stopped by request"
	}
}

// snapshotLocked copies the pod for a reader; states are replaced, never changed in place, so
// copying the slices is enough. w.mu is held.
func (w *worker) snapshotLocked() *pod.Pod {
	p := *w.rec.Pod
	p.Status.InitContainerStatuses = append([]pod.ContainerStatus(nil), p.Status.InitContainerStatuses...)
	p.Status.ContainerStatuses = append([]pod.ContainerStatus(nil), p.Status.ContainerStatuses...)
	p.Status.Conditions = append([]pod.PodCondition(nil), p.Status.Conditions...)
	return &p
}

// planSnapshotLocked copies the pod without its status's per-container lists, for a launch: the
// copy is O(1) whatever the number of containers. w.mu is held.
func (w *worker) planSnapshotLocked() *pod.Pod {
	p := *w.rec.Pod
	p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.Conditions = nil, nil, nil
	return &p
}

// snapshot copies the pod for a reader.
func (w *worker) snapshot() *pod.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.snapshotLocked()
}

// ctrView is what readers outside the worker (exec, logs, stats) see of a container.
type ctrView struct {
	name    string
	id      string
	attempt int
	running bool
	status  pod.ContainerStatus
}

// view copies the pod and its containers for a reader.
func (w *worker) view() (*pod.Pod, []ctrView) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ctrView, len(w.ctrs))
	for i, c := range w.ctrs {
		out[i] = ctrView{name: c.name, id: c.id, attempt: c.attempt, running: c.state.running(), status: c.status}
	}
	return w.snapshotLocked(), out
}
