package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/signals"
)

// fakeRuntime is an in-memory Runtime: processes run until signalled or told to exit.
type fakeRuntime struct {
	mu         sync.Mutex
	images     map[string]*pod.ImageConfig
	containers map[string]*fakeContainer
	sandboxes  map[string]bool
	// ignoreTERM names containers whose process ignores SIGTERM (a shell as PID 1).
	ignoreTERM map[string]bool
	signals    []string // "name:SIGNAL" in order
	log        []string // start:NAME, signal:NAME:SIG, exit:NAME:CODE in order
	failStart  map[string]error
	// notify makes the processes offer Process.Notify instead of their channels, as pkg/runtime's
	// do (the default); false: the channels only.
	notify bool
	// failSandbox makes SetupSandbox fail; sandboxCalls counts its calls.
	failSandbox  error
	sandboxCalls int
	// sandboxDelay makes SetupSandbox take that long, outside the lock; sandboxBusy and
	// sandboxPeak count the setups under way and their most at once.
	sandboxDelay             time.Duration
	sandboxBusy, sandboxPeak int
	// execHook answers Exec (probes, hooks) by container name and command.
	execHook func(ctx context.Context, name string, cmd []string) (int, error)
	// execHookOpts, when set, answers Exec with the whole options (the output writers).
	execHookOpts func(ctx context.Context, opts ExecOptions) (int, error)
	// refreshed records the labels each RefreshDownwardAPI saw.
	refreshed []map[string]string
}

type fakeContainer struct {
	rec  ContainerRecord
	plan *pod.ContainerPlan
	// exits: one channel per StartContainer or AdoptContainer, as containerd's task.Wait gives
	// each caller its own: a waiter left from an earlier podd cannot take a later podd's exit.
	exits []chan ExitStatus
	oom   chan int // OOM kills of other processes (oom_test.go)
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{
		images:     map[string]*pod.ImageConfig{"busybox:1": {Ref: "busybox:1", ID: "sha256:b", Cmd: []string{"sh"}}},
		containers: map[string]*fakeContainer{},
		sandboxes:  map[string]bool{},
		ignoreTERM: map[string]bool{},
		failStart:  map[string]error{},
		notify:     true,
	}
}

func (f *fakeRuntime) EnsureImage(ctx context.Context, ref string, policy pod.PullPolicy) (*pod.ImageConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[ref]
	if !ok {
		if policy == pod.PullNever {
			return nil, fmt.Errorf("image %s not present: %w", ref, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("pull %s: registry unreachable: %w", ref, errdefs.ErrUnavailable)
	}
	cp := *img
	return &cp, nil
}

func (f *fakeRuntime) SetupSandbox(ctx context.Context, p *pod.Pod) (*pod.Sandbox, error) {
	f.mu.Lock()
	f.sandboxBusy++
	f.sandboxPeak = max(f.sandboxPeak, f.sandboxBusy)
	delay := f.sandboxDelay
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxBusy--
	f.sandboxCalls++
	if f.failSandbox != nil {
		return nil, f.failSandbox
	}
	f.sandboxes[p.Metadata.UID] = true
	sb := &pod.Sandbox{Hostname: p.Metadata.Name, VolumePaths: map[string]string{}}
	for _, v := range p.Spec.Volumes {
		sb.VolumePaths[v.Name] = "/fake/" + v.Name
	}
	return sb, nil
}

func (f *fakeRuntime) TeardownSandbox(ctx context.Context, uid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, uid)
	return nil
}

func (f *fakeRuntime) RemoveUnusedSnapshots(ctx context.Context) (int, error) { return 0, nil }

func (f *fakeRuntime) ListSandboxes(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for uid := range f.sandboxes {
		out = append(out, uid)
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeRuntime) CreateContainer(ctx context.Context, sb *pod.Sandbox, plan *pod.ContainerPlan) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := plan.PodUID + "-" + plan.Name + "-" + strconv.Itoa(plan.Attempt)
	if plan.Generation > 0 {
		id += "-g" + strconv.Itoa(plan.Generation)
	}
	if c, ok := f.containers[id]; ok && c.rec.State == RecordRunning {
		return "", fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	// A leftover that does not run is replaced, as pkg/runtime does.
	f.containers[id] = &fakeContainer{
		rec:  ContainerRecord{ID: id, PodUID: plan.PodUID, Name: plan.Name, Attempt: plan.Attempt, Generation: plan.Generation, State: RecordCreated, StopSignal: plan.Image.StopSignal},
		plan: plan,
	}
	return id, nil
}

func (f *fakeRuntime) StartContainer(ctx context.Context, id string) (*Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return nil, errdefs.ErrNotFound
	}
	if err := f.failStart[c.rec.Name]; err != nil {
		return nil, err
	}
	c.rec.State = RecordRunning
	c.exits = nil
	c.oom = make(chan int, 4)
	f.log = append(f.log, "start:"+c.rec.Name)
	return f.process(&Process{Pid: 100, StartedAt: time.Now(), Exit: c.waiter(), OOMKills: c.oom}), nil
}

func (f *fakeRuntime) StartContainerOutput(ctx context.Context, id string, out io.Writer) (*Process, <-chan struct{}, error) {
	p, err := f.StartContainer(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	drained := make(chan struct{})
	close(drained)
	return p, drained, nil
}

// process offers Notify instead of the channels when the fake is asked to: calls from a
// goroutine of the fake's that waits on them (pkg/runtime keeps none).
func (f *fakeRuntime) process(p *Process) *Process {
	if !f.notify {
		return p
	}
	// Only through Notify: a supervisor that waited on the channels would wait forever.
	exitC, oomC := p.Exit, p.OOMKills
	p.Exit, p.OOMKills = nil, nil
	p.Notify = func(exit func(ExitStatus), kills func(int)) {
		go func() {
			for {
				select {
				case st := <-exitC:
					exit(st)
					return
				case n := <-oomC:
					kills(n)
				}
			}
		}()
	}
	return p
}

func (f *fakeRuntime) AdoptContainer(ctx context.Context, id string) (*Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil || c.rec.State != RecordRunning {
		return nil, errdefs.ErrNotFound
	}
	return f.process(&Process{Pid: 100, Exit: c.waiter()}), nil
}

// waiter is a new channel that receives the container's exit.
func (c *fakeContainer) waiter() chan ExitStatus {
	ch := make(chan ExitStatus, 1)
	c.exits = append(c.exits, ch)
	return ch
}

// exited delivers the recorded exit to every waiter.
func (c *fakeContainer) exited() {
	for _, ch := range c.exits {
		ch <- c.rec.Exit
	}
}

// exit makes a running container's process end with code.
func (f *fakeRuntime) exit(id string, code int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exitLocked(f.containers[id], code)
}

func (f *fakeRuntime) exitLocked(c *fakeContainer, code int32) {
	if c == nil || c.rec.State != RecordRunning {
		return
	}
	c.rec.State = RecordStopped
	c.rec.Exit = ExitStatus{Code: code, ExitedAt: time.Now()}
	f.log = append(f.log, fmt.Sprintf("exit:%s:%d", c.rec.Name, code))
	c.exited()
}

func (f *fakeRuntime) SignalContainer(ctx context.Context, id string, sig syscall.Signal) error {
	signal := signals.Name(sig)
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil || c.rec.State != RecordRunning {
		return errdefs.ErrNotFound
	}
	f.signals = append(f.signals, c.rec.Name+":"+signal)
	f.log = append(f.log, "signal:"+c.rec.Name+":"+signal)
	switch {
	case signal == "SIGKILL":
		f.exitLocked(c, 137)
	case !f.ignoreTERM[c.rec.Name]:
		f.exitLocked(c, 143)
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ListContainers(ctx context.Context) ([]ContainerRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ContainerRecord
	for _, c := range f.containers {
		out = append(out, c.rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) PodContainers(ctx context.Context, podUID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, c := range f.containers {
		if c.rec.PodUID == podUID {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	f.mu.Lock()
	c := f.containers[id]
	hook, hookOpts := f.execHook, f.execHookOpts
	f.mu.Unlock()
	if c == nil {
		return 0, errdefs.ErrNotFound
	}
	if hookOpts != nil {
		return hookOpts(ctx, opts)
	}
	if hook != nil {
		return hook(ctx, c.rec.Name, opts.Cmd)
	}
	return 0, nil
}

func (f *fakeRuntime) RefreshDownwardAPI(ctx context.Context, p *pod.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshed = append(f.refreshed, p.Metadata.Labels)
	return nil
}

func (f *fakeRuntime) RefreshConfigVolumes(ctx context.Context, p *pod.Pod) error { return nil }

// Dial connects on the host: the fake has no network namespaces.
func (f *fakeRuntime) Dial(ctx context.Context, sb *pod.Sandbox, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// running lists the IDs of running containers.
func (f *fakeRuntime) running() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, c := range f.containers {
		if c.rec.State == RecordRunning {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// memStore is an in-memory Store.
type memStore struct {
	mu   sync.Mutex
	recs map[string]Record
	fail error
}

func newMemStore() *memStore { return &memStore{recs: map[string]Record{}} }

func (s *memStore) Put(ctx context.Context, recs ...*Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range recs {
		cp := *r
		pcopy := *r.Pod
		cp.Pod = &pcopy
		s.recs[r.Pod.Metadata.UID] = cp
	}
	return nil
}

func (s *memStore) Delete(ctx context.Context, uid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, uid)
	return nil
}

func (s *memStore) List(ctx context.Context) ([]*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Record
	for _, r := range s.recs {
		cp := r
		pcopy := *r.Pod
		pcopy.Status = pod.PodStatus{}
		cp.Pod = &pcopy
		out = append(out, &cp)
	}
	return out, nil
}

func (f *fakeRuntime) history() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// exitByName makes the running instance of a container exit.
func (f *fakeRuntime) exitByName(name string, code int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.rec.Name == name && c.rec.State == RecordRunning {
			f.exitLocked(c, code)
		}
	}
}

// counts returns how many containers and sandboxes exist.
func (f *fakeRuntime) counts() (containers, sandboxes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.containers), len(f.sandboxes)
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}
