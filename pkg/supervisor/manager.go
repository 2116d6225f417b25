package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/pod"
)

// Record is a pod's desired state as stored.
type Record struct {
	Pod *pod.Pod `json:"pod"`
	// Stopped: `podctl stop` stopped the pod; its containers stay down.
	Stopped bool `json:"stopped,omitempty"`
	// Deleting: `podctl rm` began; a restarted podd finishes it.
	Deleting bool `json:"deleting,omitempty"`
	// Evicted: why podd evicted the pod (an emptyDir over its sizeLimit); it stays stopped, Failed.
	Evicted string `json:"evicted,omitempty"`
	// Owner decides whether the pod exists: the zero Owner for a pod created through the API.
	Owner pod.Owner `json:"owner,omitzero"`
	// Source and SourceHash are how earlier podds stored a static pod's file and hash: read at
	// start into Owner, never written again.
	Source     string `json:"source,omitempty"`
	SourceHash string `json:"sourceHash,omitempty"`
}

// Store keeps the desired state durably; every call returns once the data is on disk.
type Store interface {
	Put(ctx context.Context, recs ...*Record) error
	Delete(ctx context.Context, uid string) error
	List(ctx context.Context) ([]*Record, error)
}

// Options configure a Manager.
type Options struct {
	Runtime Runtime
	// Sandbox makes the pods' sandboxes on the host (pkg/sandbox).
	Sandbox Sandboxes
	Store   Store
	Log     *slog.Logger
	// LogRoot is the folder of the containers' log files.
	LogRoot string
	// BackoffBase and BackoffMax shape the restart backoff: BackoffBase before the first restart,
	// doubling up to BackoffMax; it starts again from BackoffBase after BackoffReset of running.
	// The kubelet's curve by default: 10s, 5m, 10m.
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// RetryDelay is the pause before a failed image pull, sandbox or create is tried again.
	RetryDelay time.Duration
	// Events records what happens to pods; shared with the controllers, who record theirs.
	Events *events.Recorder
	// NodeName is this host's name as pods see it: spec.nodeName (node.go).
	NodeName string
	// RuntimeName prefixes container IDs in pods' status (containerd:// as the kubelet's).
	RuntimeName string
	// Configs holds the ConfigMaps and Secrets pods refer to (configs.go); nil: none exist.
	Configs Configs
}

// Manager owns every pod: it takes API requests, writes the desired state to the store and runs
// one supervisor goroutine (a worker) per pod.
type Manager struct {
	opts Options
	rt   Runtime
	sb   Sandboxes
	log  *slog.Logger

	ctx context.Context // lifetime of the workers: podd's
	wg  sync.WaitGroup

	events  *events.Recorder
	samples cpuSamples // previous cpu samples, for usageNanoCores
	// sandboxSem bounds the sandbox setups running at once (sandboxConcurrency).
	sandboxSem chan struct{}

	// mu guards the set of pods, never a pod's state (each worker has its own lock), and is
	// never held across I/O: a store write or a probe of the host's ports does not hold up readers.
	mu   sync.Mutex
	pods map[string]*worker // namespace/name
	// creating holds the pods of creations under way (namespace/name), between the checks of
	// their names and host ports and their workers' start: a second creation sees them.
	creating map[string]*pod.Pod
	// shuttingDown: StopAll ran; no pod is created until ResumeAll.
	shuttingDown bool

	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced whenever any pod's status changes
}

// NewManager returns a manager; Start brings it up.
func NewManager(opts Options) *Manager {
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 10 * time.Second
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.BackoffReset == 0 {
		opts.BackoffReset = 10 * time.Minute
	}
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 5 * time.Second
	}
	if opts.RuntimeName == "" {
		opts.RuntimeName = "containerd"
	}
	if opts.Events == nil {
		opts.Events = events.New()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Manager{opts: opts, rt: opts.Runtime, sb: opts.Sandbox, log: opts.Log, pods: map[string]*worker{}, creating: map[string]*pod.Pod{}, changed: make(chan struct{}), events: opts.Events,
		sandboxSem: make(chan struct{}, sandboxConcurrency)}
}

func key(namespace, name string) string { return namespace + "/" + name }

// notify wakes everyone waiting for a status change.
func (m *Manager) notify() {
	m.changedMu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.changedMu.Unlock()
}

// containerURI is a container's ID as Kubernetes' status shows it: the runtime's name, then the ID.
func (m *Manager) containerURI(id string) string { return m.opts.RuntimeName + "://" + id }

// adoptConcurrency bounds the containers adopted at once after a restart: enough to hide
// containerd's latency, few enough not to queue hundreds of calls on it.
const adoptConcurrency = 16

// sandboxConcurrency bounds the pod sandboxes set up at once. A setup is a string of blocking
// system calls (namespaces, cgroup files, mounts, files), and Go keeps every OS thread it ever
// made for one: 200 pods created (or restored) at once left podd with 240 threads, some 5 MiB of
// RSS, where a few setups at a time are as quick on a small host.
const sandboxConcurrency = 8

// restoreNotifyInterval is how often watchers are woken while restored pods are being adopted.
const restoreNotifyInterval = 100 * time.Millisecond

// launchConcurrency bounds the launches (pull, create, start) of one pod running at once.
const launchConcurrency = 8

// Start reconciles the store with the runtime — orphans removed, each stored pod's containers
// adopted or recreated — and starts a worker per pod. Workers live until ctx is cancelled.
// It returns once the workers are started, without waiting for them to adopt their containers,
// nor for the orphans to be removed (in the background): the API can serve meanwhile, and
// reports a pod whose containers are not yet adopted as it was stored (ContainerCreating).
func (m *Manager) Start(ctx context.Context) error {
	begin := time.Now()
	m.ctx = ctx
	// The store, containerd's containers and tasks, its snapshots and the host's sandboxes are
	// read at once: each waits on someone else (the disk, containerd, the shims), and a restart
	// waits for the slowest, not for their sum.
	var (
		recs                     []*Record
		found                    []ContainerRecord
		sandboxes                []string
		storeErr, listErr, sbErr error
		removed                  int
		snapErr                  error
		stored, containersListed time.Duration
		reads                    sync.WaitGroup
	)
	reads.Go(func() { recs, storeErr = m.opts.Store.List(ctx); stored = time.Since(begin) })
	reads.Go(func() { found, listErr = m.rt.ListContainers(ctx); containersListed = time.Since(begin) })
	// Before any worker starts to create containers.
	reads.Go(func() { removed, snapErr = m.rt.RemoveUnusedSnapshots(ctx) })
	reads.Go(func() { sandboxes, sbErr = m.sb.ListSandboxes(ctx) })
	reads.Wait()
	switch {
	case storeErr != nil:
		return fmt.Errorf("read store: %w", storeErr)
	case listErr != nil:
		return fmt.Errorf("list containers: %w", listErr)
	case sbErr != nil:
		return fmt.Errorf("list sandboxes: %w", sbErr)
	}
	if snapErr != nil {
		m.log.Warn("remove unused container snapshots", "err", snapErr)
	} else if removed > 0 {
		m.log.Info("removed unused container snapshots", "count", removed)
	}
	known := map[string]*Record{}
	for _, r := range recs {
		if r.Source != "" && r.Owner.IsZero() {
			r.Owner = pod.Owner{Kind: pod.OwnerFile, Name: r.Source, Hash: r.SourceHash}
		}
		r.Source, r.SourceHash = "", ""
		known[r.Pod.Metadata.UID] = r
	}
	// What is orphaned is decided now, against the store as read: a pod created once the API
	// serves has a new UID and is never taken for an orphan.
	byPod := map[string][]ContainerRecord{}
	var orphans []ContainerRecord
	for _, c := range found {
		if known[c.PodUID] == nil {
			orphans = append(orphans, c)
			continue
		}
		byPod[c.PodUID] = append(byPod[c.PodUID], c)
	}
	var orphanSandboxes []string
	for _, uid := range sandboxes {
		if known[uid] == nil {
			orphanSandboxes = append(orphanSandboxes, uid)
		}
	}
	orphanLogs := m.orphanLogs(known)

	var adopted sync.WaitGroup
	adopted.Add(len(recs))
	all := make(chan struct{}) // closed once every restored pod is adopted
	go func() { adopted.Wait(); close(all) }()
	sweeper, _ := m.sb.(networkSweeper)
	warm, _ := m.sb.(warmSandboxes)
	if len(orphans)+len(orphanSandboxes)+len(orphanLogs) > 0 || sweeper != nil || warm != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			// Housekeeping waits for the restored pods: it shares containerd, the network's
			// lock and the CPU with their adoption.
			select {
			case <-all:
			case <-ctx.Done():
				return
			}
			m.removeOrphans(ctx, orphans, orphanSandboxes, orphanLogs)
			if sweeper != nil && ctx.Err() == nil {
				// Logged by the sandboxes; the next start sweeps again.
				_ = sweeper.SweepNetwork(ctx)
			}
			if warm != nil && ctx.Err() == nil {
				// Last, at the lowest priority: the pool fills once all else is done.
				warm.FillWarm(ctx)
			}
		}()
	}

	adoptSem := make(chan struct{}, adoptConcurrency)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if r.Pod.Spec.NodeName == "" { // stored before podd knew node names
			r.Pod.Spec.NodeName = m.opts.NodeName
		}
		w := newWorker(m, r, byPod[r.Pod.Metadata.UID])
		w.adoptSem, w.adopted, w.quiet = adoptSem, adopted.Done, true
		m.pods[key(r.Pod.Metadata.Namespace, r.Pod.Metadata.Name)] = w
		m.wg.Add(1)
		go w.run(ctx)
	}
	listed := time.Since(begin)
	go m.watchConfigs(ctx)
	go func() {
		// The restored pods' first publications wake no watcher (worker.quiet): they are woken
		// here, once all are adopted, and meanwhile at most every restoreNotifyInterval.
		tick := time.NewTicker(restoreNotifyInterval)
		defer tick.Stop()
		for waiting := true; waiting; {
			select {
			case <-all:
				waiting = false
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			m.notify()
		}
		if ctx.Err() == nil {
			m.log.Info("reconciled pods", "pods", len(recs), "containers", len(found)-len(orphans),
				"orphans", len(orphans), "store_read_in", stored.Round(time.Microsecond), "containers_listed_in", containersListed.Round(time.Microsecond),
				"listed_in", listed.Round(time.Microsecond),
				"took", time.Since(begin).Round(time.Microsecond))
		}
	}()
	return nil
}

// removeOrphans removes what belongs to no stored pod: containers, then sandboxes, then logs.
func (m *Manager) removeOrphans(ctx context.Context, ctrs []ContainerRecord, sandboxes, logDirs []string) {
	for _, c := range ctrs {
		m.log.Info("removing orphan container", "container", c.ID, "pod_uid", c.PodUID)
		if err := m.rt.RemoveContainer(ctx, c.ID); err != nil {
			m.log.Warn("remove orphan container", "container", c.ID, "err", err)
		}
	}
	for _, uid := range sandboxes {
		m.log.Info("removing orphan pod sandbox", "pod_uid", uid)
		if err := m.sb.TeardownSandbox(ctx, uid); err != nil {
			m.log.Warn("remove orphan sandbox", "pod_uid", uid, "err", err)
		}
	}
	for _, dir := range logDirs {
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("remove orphan logs", "path", dir, "err", err)
		}
	}
}

// orphanLogs lists the log folders of pods that are not in the store.
func (m *Manager) orphanLogs(known map[string]*Record) []string {
	entries, err := os.ReadDir(m.opts.LogRoot)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		uid := name[strings.LastIndex(name, "_")+1:]
		if known[uid] == nil {
			out = append(out, m.opts.LogRoot+"/"+name)
		}
	}
	return out
}

// Wait returns once every worker has ended (after the Start context was cancelled).
func (m *Manager) Wait() { m.wg.Wait() }

// CreatePods creates pods through the API, all or none: all are defaulted, validated and
// checked for name conflicts first, then stored in one transaction before any starts.
func (m *Manager) CreatePods(ctx context.Context, pods []*pod.Pod) ([]*pod.Pod, error) {
	return m.CreateOwned(ctx, pod.Owner{}, pods)
}

// CreateOwned creates pods as CreatePods does, owned by owner: a controller's call. Only the
// owner removes them (RemoveOwned).
func (m *Manager) CreateOwned(ctx context.Context, owner pod.Owner, pods []*pod.Pod) ([]*pod.Pod, error) {
	var errs []error
	for _, p := range pods {
		pod.SetDefaults(p)
		if err := pod.Validate(p); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Metadata.Name, err))
		} else if err := m.bindNode(p); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Metadata.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	keys, err := m.reserve(pods)
	if err != nil {
		return nil, err
	}
	defer func() {
		m.mu.Lock()
		for _, k := range keys {
			delete(m.creating, k)
		}
		m.mu.Unlock()
	}()
	if err := m.probeHostPorts(ctx, pods); err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	recs := make([]*Record, len(pods))
	warm, _ := m.sb.(warmSandboxes)
	var tookWarm []string
	for i, p := range pods {
		p.Metadata.UID = pod.NewUID()
		if warm != nil {
			// A warm sandbox is taken by taking its UID (sandbox.Host.TakeWarm).
			if uid, ok := warm.TakeWarm(p); ok {
				p.Metadata.UID = uid
				tookWarm = append(tookWarm, uid)
			}
		}
		p.Metadata.CreationTimestamp = &now
		p.Status = pod.PodStatus{}
		recs[i] = &Record{Pod: p, Owner: owner}
	}
	fault.Point(fault.CreateBeforeStore)
	if err := m.opts.Store.Put(ctx, recs...); err != nil {
		// The warm sandboxes taken belong to no pod: removed, as a restart would.
		for _, uid := range tookWarm {
			if terr := m.sb.TeardownSandbox(context.WithoutCancel(ctx), uid); terr != nil {
				m.log.Warn("remove a warm sandbox of pods not created", "uid", uid, "err", terr)
			}
		}
		return nil, fmt.Errorf("store pods: %w", err)
	}
	fault.Point(fault.CreateAfterStore)
	out := make([]*pod.Pod, len(recs))
	m.mu.Lock()
	for i, r := range recs {
		w := newWorker(m, r, nil)
		m.pods[key(r.Pod.Metadata.Namespace, r.Pod.Metadata.Name)] = w
		m.wg.Add(1)
		go w.run(m.ctx)
		out[i] = w.snapshot()
	}
	m.mu.Unlock()
	m.notify()
	return out, nil
}

// reserve checks the pods' names and host ports against the pods that exist and those being
// created, and holds their names until the creation ends (the caller deletes them from creating).
func (m *Manager) reserve(pods []*pod.Pod) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		return nil, fmt.Errorf("pod manager is not started: %w", errdefs.ErrUnavailable)
	}
	if m.shuttingDown {
		return nil, fmt.Errorf("podd is stopping every pod for a shutdown: %w", errdefs.ErrUnavailable)
	}
	seen := map[string]bool{}
	for _, p := range pods {
		k := key(p.Metadata.Namespace, p.Metadata.Name)
		if m.pods[k] != nil || m.creating[k] != nil || seen[k] {
			return nil, fmt.Errorf("pod %q already exists in namespace %q: %w", p.Metadata.Name, p.Metadata.Namespace, errdefs.ErrAlreadyExists)
		}
		seen[k] = true
	}
	if err := m.hostPortConflictsLocked(pods); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(pods))
	for _, p := range pods {
		k := key(p.Metadata.Namespace, p.Metadata.Name)
		m.creating[k] = p
		keys = append(keys, k)
	}
	return keys, nil
}

func (m *Manager) lookup(namespace, name string) (*worker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookupLocked(namespace, name)
}

func (m *Manager) lookupLocked(namespace, name string) (*worker, error) {
	w := m.pods[key(namespace, name)]
	if w == nil {
		return nil, fmt.Errorf("pod %q not found in namespace %q: %w", name, namespace, errdefs.ErrNotFound)
	}
	return w, nil
}

// Get returns a copy of the pod with its current status.
func (m *Manager) Get(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return nil, err
	}
	return w.snapshot(), nil
}

// workers lists the workers of a namespace's pods ("" for all).
func (m *Manager) workers(namespace string) []*worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*worker, 0, len(m.pods))
	for _, w := range m.pods {
		if namespace == "" || w.rec.Pod.Metadata.Namespace == namespace {
			out = append(out, w)
		}
	}
	return out
}

// List returns the pods of a namespace ("" for all), sorted by namespace and name.
func (m *Manager) List(ctx context.Context, namespace string) ([]*pod.Pod, error) {
	out := []*pod.Pod{}
	for _, w := range m.workers(namespace) {
		out = append(out, w.snapshot())
	}
	sort.Slice(out, func(i, j int) bool {
		return key(out[i].Metadata.Namespace, out[i].Metadata.Name) < key(out[j].Metadata.Namespace, out[j].Metadata.Name)
	})
	return out, nil
}

// WaitStarted waits until every container of the pod has started once, or one has failed.
func (m *Manager) WaitStarted(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	for {
		changed := m.Changed() // before the read: a change after it is not missed
		w, err := m.lookup(namespace, name)
		if err != nil {
			return nil, err
		}
		// Decided under the worker's lock, copied only when decided: a copy per status change
		// made waiting for a large pod quadratic in its number of containers.
		w.mu.Lock()
		done, err := startOutcome(w.rec.Pod)
		var p *pod.Pod
		if done || err != nil {
			p = w.snapshotLocked()
		}
		w.mu.Unlock()
		if p != nil {
			return p, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// startOutcome says whether all containers started, or why one failed: an init container or a
// container waiting with an error reason or terminated with a non-zero code.
func startOutcome(p *pod.Pod) (bool, error) {
	if p.Status.Reason == pod.ReasonStopped {
		return false, fmt.Errorf("pod %s was stopped: %w", p.Metadata.Name, errdefs.ErrFailedPrecondition)
	}
	for _, list := range [][]pod.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			s := &list[i]
			switch {
			case s.State.Waiting != nil && s.State.Waiting.Reason != pod.ReasonContainerCreating && s.State.Waiting.Reason != "":
				msg := s.State.Waiting.Message
				if t := s.LastState.Terminated; t != nil {
					msg = fmt.Sprintf("last exit code %d (%s); %s", t.ExitCode, t.Reason, msg)
				}
				return false, fmt.Errorf("container %s: %s: %s: %w", s.Name, s.State.Waiting.Reason, msg, errdefs.ErrFailedPrecondition)
			case s.State.Terminated != nil && s.State.Terminated.ExitCode != 0:
				t := s.State.Terminated
				return false, fmt.Errorf("container %s exited with code %d (%s)%s: %w", s.Name, t.ExitCode, t.Reason, suffix(t.Message), errdefs.ErrFailedPrecondition)
			}
		}
	}
	started := 0
	for i := range p.Status.ContainerStatuses {
		if s := &p.Status.ContainerStatuses[i]; s.State.Running != nil || s.State.Terminated != nil || s.RestartCount > 0 {
			started++
		}
	}
	return started == len(p.Spec.Containers), nil
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// Stop stops the pod's containers with the stop contract and keeps them down; grace nil is the
// pod's terminationGracePeriodSeconds.
func (m *Manager) Stop(ctx context.Context, namespace, name string, grace *time.Duration) (*pod.Pod, error) {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return nil, err
	}
	if err := w.request(ctx, evStop{grace: grace}); err != nil {
		return nil, err
	}
	return m.Get(ctx, namespace, name)
}

// Remove stops the pod if it runs and removes it with everything it created. A static pod is
// refused: its manifest file decides whether it exists. A workload's pod is removed, as
// Kubernetes deletes it, and its controller makes what its spec asks for again (a StatefulSet
// the pod of the same name, with the same claims).
func (m *Manager) Remove(ctx context.Context, namespace, name string, grace *time.Duration) error {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return err
	}
	if o := w.rec.Owner; o.Kind == pod.OwnerFile {
		return fmt.Errorf("pod %q is a static pod from %s: remove or edit that file to remove it: %w", name, o.Name, errdefs.ErrFailedPrecondition)
	}
	return w.request(ctx, evStop{grace: grace, remove: true})
}

// RemoveOwned stops and removes a pod that owner owns, within its grace period, and returns once
// it is gone: a controller's call.
func (m *Manager) RemoveOwned(ctx context.Context, owner pod.Owner, namespace, name string) error {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return err
	}
	if !w.rec.Owner.Owns(owner) {
		return fmt.Errorf("pod %q in namespace %q is not owned by %s %s: %w", name, namespace, owner.Kind, owner.Name, errdefs.ErrFailedPrecondition)
	}
	return w.request(ctx, evStop{remove: true})
}

// Owners lists every pod (namespace/name) with its owner; a pod created through the API has
// the zero Owner.
func (m *Manager) Owners() map[string]pod.Owner {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]pod.Owner, len(m.pods))
	for k, w := range m.pods {
		out[k] = w.rec.Owner
	}
	return out
}

// Accepting says whether pods can be created now: not while StopAll holds them down for a
// shutdown (ResumeAll, or the next podd, accepts them again).
func (m *Manager) Accepting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.shuttingDown
}

// containerOf finds a container of the pod ("" means the pod's first container), as readers see it.
func (m *Manager) containerOf(namespace, name, container string) (*pod.Pod, ctrView, error) {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return nil, ctrView{}, err
	}
	if container == "" {
		container = w.rec.Pod.Spec.Containers[0].Name
	}
	p, ctrs := w.view()
	for _, c := range ctrs {
		if c.name == container {
			return p, c, nil
		}
	}
	return nil, ctrView{}, fmt.Errorf("container %q not found in pod %q: %w", container, name, errdefs.ErrNotFound)
}

// Exec runs a command in a running container of the pod.
func (m *Manager) Exec(ctx context.Context, namespace, name, container string, opts ExecOptions) (int, error) {
	_, c, err := m.containerOf(namespace, name, container)
	if err != nil {
		return 0, err
	}
	if !c.running {
		return 0, fmt.Errorf("container %q of pod %q is not running: %w", c.name, name, errdefs.ErrFailedPrecondition)
	}
	return m.rt.Exec(ctx, c.id, opts)
}

// KillContainer stops one running container of the pod the way a failed liveness probe does
// (preStop, its stop signal, the pod's grace period, SIGKILL; a Killing event with message;
// reason, when not empty, is its last state's reason) and returns once it exited. The restart
// policy then decides what follows. A container that is not running is not an error.
func (m *Manager) KillContainer(ctx context.Context, namespace, name, container, reason, message string) error {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return err
	}
	ev := evKill{container: container, reason: reason, message: message, reply: make(chan killReply, 1)}
	select {
	case w.events <- ev:
	case <-w.done:
		return fmt.Errorf("pod %q not found: %w", name, errdefs.ErrNotFound)
	case <-ctx.Done():
		return ctx.Err()
	}
	var r killReply
	select {
	case r = <-ev.reply:
	case <-w.done:
		return nil // removed meanwhile: its containers are gone
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.err != nil || r.exited == nil {
		return r.err
	}
	select {
	case <-r.exited:
		return nil
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RunningContainer is the runtime's ID of a container of the pod, and whether it runs.
func (m *Manager) RunningContainer(namespace, name, container string) (id string, running bool, err error) {
	_, c, err := m.containerOf(namespace, name, container)
	if err != nil {
		return "", false, err
	}
	return c.id, c.running, nil
}

// Changed returns a channel that is closed at the next change of any pod (created, removed,
// status or metadata changed): a watcher takes it, reads the pods, then waits on it.
func (m *Manager) Changed() <-chan struct{} {
	m.changedMu.Lock()
	defer m.changedMu.Unlock()
	return m.changed
}
