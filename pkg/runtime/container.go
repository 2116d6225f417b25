package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	grpcerrs "github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/signals"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Labels only the runtime needs.
const (
	labelStopSignal = "io.podd.container.stop-signal"
	labelLogPath    = "io.podd.container.log-path"
	labelImageID    = "io.podd.container.image-id"
	labelGeneration = "io.podd.container.generation"
	// labelTTY is "true" for a container with a terminal (tty: true).
	labelTTY = "io.podd.container.tty"
)

// ContainerID is deterministic, so that a podd that died between creating a container and
// recording it cannot create a duplicate: the second create finds the first.
func ContainerID(podUID, name string, attempt int) string {
	sum := sha256.Sum256([]byte(podUID + "/" + name + "/" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:])
}

// CreateContainer creates the container and its snapshot; it does not start it.
func (r *Runtime) CreateContainer(ctx context.Context, sb *pod.Sandbox, plan *pod.ContainerPlan) (string, error) {
	ctx = r.ns(ctx)
	id := ContainerID(plan.PodUID, plan.Name, plan.Attempt)
	if plan.Generation > 0 {
		id = ContainerID(plan.PodUID, plan.Name+"/"+strconv.Itoa(plan.Generation), plan.Attempt)
	}
	img, err := r.getImage(ctx, plan.Image.Ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", plan.Image.Ref, err)
	}
	// The image's layers as EnsureImage read them, for the target the name has now.
	ri, err := r.resolve(ctx, img)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", plan.Image.Ref, err)
	}
	// A subPath is mounted by the sandbox from a file descriptor, never handed to runc by name.
	if err := r.cfg.SubPaths.BindSubPaths(plan.PodUID, id, plan.Mounts); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(plan.LogPath), 0o750); err != nil {
		return "", fmt.Errorf("create log folder: %w", err)
	}
	labels := map[string]string{
		LabelPodUID:       plan.PodUID,
		LabelPodName:      plan.PodName,
		LabelPodNamespace: plan.PodNamespace,
		LabelContainer:    plan.Name,
		LabelAttempt:      strconv.Itoa(plan.Attempt),
		labelStopSignal:   plan.Image.StopSignal,
		labelLogPath:      plan.LogPath,
		labelImageID:      plan.Image.ID,
		labelGeneration:   strconv.Itoa(plan.Generation),
	}
	if plan.TTY {
		labels[labelTTY] = "true"
	}
	specOpts := SpecOpts(SpecInput{
		Plan:             plan,
		Sandbox:          sb,
		CgroupPath:       cgroups.ContainerPath(r.cfg.CgroupParent, plan.PodUID, id),
		MachineMemory:    r.machineMemory,
		OOMScoreAdjFloor: r.oomFloor,
	})
	_, err = r.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		r.withNewSnapshot(id, ri.chainID),
		func(context.Context, *containerd.Client, *containers.Container) error {
			fault.Point(fault.ContainerAfterSnapshot)
			return nil
		},
		containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithDefaultSpec()}, specOpts...)...),
		containerd.WithContainerLabels(labels),
	)
	if errdefs.IsAlreadyExists(err) && !plan.Retried {
		// Left by a podd that died before it could record it (the container, or only its
		// snapshot): start from a clean slate, once.
		if rerr := r.RemoveContainer(ctx, id); rerr != nil {
			return "", fmt.Errorf("remove stale container %s: %w", id, rerr)
		}
		if rerr := r.client.SnapshotService(r.cfg.Snapshotter).Remove(ctx, id); rerr != nil && !errdefs.IsNotFound(rerr) {
			return "", fmt.Errorf("remove stale snapshot %s: %w", id, rerr)
		}
		again := *plan
		again.Retried = true
		return r.CreateContainer(ctx, sb, &again)
	}
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", plan.Name, err)
	}
	return id, nil
}

// withNewSnapshot prepares the container's snapshot on the image's, parent, as
// containerd.WithNewSnapshot does without its reads: the image's content (resolve has it) and the
// snapshotter's capabilities (asked to remap IDs only with options podd never gives).
func (r *Runtime) withNewSnapshot(id, parent string) containerd.NewContainerOpts {
	return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
		if _, err := client.SnapshotService(c.Snapshotter).Prepare(ctx, id, parent); err != nil {
			return err
		}
		c.SnapshotKey = id
		return nil
	}
}

// StartContainer starts the container's task, its output going to the container's log file.
func (r *Runtime) StartContainer(ctx context.Context, id string) (*supervisor.Process, error) {
	proc, _, err := r.start(ctx, id, func(labels map[string]string) cio.Creator { return r.logIO(labels) })
	return proc, err
}

// StartContainerOutput starts a created container's process with its stdout and stderr written
// to out, through FIFOs to podd, instead of a log: a run copy's output (supervisor.RunCopy).
// drained is closed once all of it was written (the pipes closed), and the FIFOs removed.
func (r *Runtime) StartContainerOutput(ctx context.Context, id string, out io.Writer) (*supervisor.Process, <-chan struct{}, error) {
	lw := &lockedWriter{w: out}
	proc, task, err := r.start(ctx, id, func(map[string]string) cio.Creator { return cio.NewCreator(cio.WithStreams(nil, lw, lw)) })
	if err != nil {
		return nil, nil, err
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if tio := task.IO(); tio != nil {
			tio.Wait()
			tio.Close()
		}
	}()
	return proc, drained, nil
}

// lockedWriter serialises the writes of a process's stdout and stderr copies.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (r *Runtime) start(ctx context.Context, id string, ioFor func(labels map[string]string) cio.Creator) (*supervisor.Process, containerd.Task, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("load container %s: %w", id, err)
	}
	// The labels as LoadContainer just read them: Labels would ask containerd again.
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return nil, nil, fmt.Errorf("container %s labels: %w", id, err)
	}
	labels := info.Labels
	done, err := r.shims.enter(ctx, shimSocket(r.cfg.Address, r.cfg.Namespace, labels[LabelPodUID]))
	if err != nil {
		return nil, nil, fmt.Errorf("create task %s: %w", id, err)
	}
	task, err := c.NewTask(ctx, ioFor(labels))
	done()
	if errdefs.IsUnknown(err) {
		// containerd 1.6's shim start can still lose a race with itself (see shimGate) when a
		// shim of the pod was ending as this create began. Once more: by now the shim that won
		// serves, and the retry joins it. Unknown is all containerd says of that failure.
		r.log.Debug("create task failed; once more", "container", id, "err", err)
		task, err = c.NewTask(ctx, ioFor(labels))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create task %s: %w", id, err)
	}
	fault.Point(fault.ContainerAfterTask)
	// Watched before anything can make the task exit (see exits.go).
	w := r.watch(ctx, id, task.Pid(), r.newOOMTracker(labels[LabelPodUID], id))
	if err := task.Start(ctx); err != nil {
		r.exits.forget(w)
		task.Delete(ctx, containerd.WithProcessKill)
		return nil, nil, fmt.Errorf("start task %s: %w", id, err)
	}
	proc := r.exits.process(w, task.Pid())
	proc.StartedAt = time.Now()
	return proc, task, nil
}

// logIO has the container's shim start podd's own binary as the container's logger (containerd's
// binary log driver): it writes the CRI log and rotates it, and it is the shim's child, not podd's,
// so a podd that restarts or crashes loses no line and blocks no write; nothing is reattached.
// The log of the instance before the previous one is removed first: an instance keeps its own
// log and the previous one's (logs --previous), as the kubelet keeps one dead container.
func (r *Runtime) logIO(labels map[string]string) cio.Creator {
	path := labels[labelLogPath]
	if attempt, err := strconv.Atoi(labels[LabelAttempt]); err == nil {
		if err := supervisor.PruneLogs(path, attempt); err != nil {
			r.log.Warn("remove old logs", "path", path, "err", err)
		}
	}
	return func(id string) (cio.IO, error) {
		if r.cfg.Logger == "" {
			return nil, fmt.Errorf("no logger binary configured: %w", errdefs.ErrFailedPrecondition)
		}
		// The logger joins the pod's logs cgroup: its cpu and memory are the pod's (security
		// finding 9: a container flooding its stdout made an unaccounted logger burn cpu).
		procs, err := cgroups.SetupLogs(r.cgroupFS, r.cfg.CgroupParent, labels[LabelPodUID])
		if err != nil {
			return nil, fmt.Errorf("logger cgroup: %w", err)
		}
		cfg := logs.LoggerConfig{Path: path, MaxSize: r.cfg.LogMaxSize, MaxFiles: r.cfg.LogMaxFiles, Cgroups: procs}
		// One query key: the shim turns each into two arguments, in no particular order.
		logged, err := cio.BinaryIO(r.cfg.Logger, map[string]string{logs.LoggerArg: cfg.Encode()})(id)
		if err != nil || labels[labelTTY] != "true" {
			return logged, err
		}
		return &ttyIO{IO: logged}, nil
	}
}

// ttyIO asks the shim for a terminal. The shim copies the terminal to the logger as stdout, and
// the terminal is the process's stdin too: open, with nothing to read, so a shell waits on it as
// under the kubelet with nothing attached. (Without a terminal the binary log driver gives a
// process no stdin, which is why Validate takes stdin: true only with tty: true.)
type ttyIO struct{ cio.IO }

func (t *ttyIO) Config() cio.Config {
	c := t.IO.Config()
	c.Terminal, c.Stderr = true, ""
	return c
}

// AdoptContainer watches a task that runs already, left by an earlier podd. A container the last
// ListContainers found running is handed over as it was watched there, without a call to
// containerd; another is watched first, then read once: the task may have ended while podd was
// down, or may end between the two; either way it gets its one exit.
func (r *Runtime) AdoptContainer(ctx context.Context, id string) (*supervisor.Process, error) {
	ctx = r.ns(ctx)
	r.listedMu.Lock()
	a, ok := r.listed[id]
	delete(r.listed, id)
	r.listedMu.Unlock()
	if ok {
		return r.exits.process(a.w, a.pid), nil
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	w := r.watch(ctx, id, 0, r.newOOMTracker(info.Labels[LabelPodUID], id))
	p, err := r.getTask(ctx)(id)
	if err != nil {
		r.exits.forget(w)
		return nil, fmt.Errorf("load task %s: %w", id, err)
	}
	v, st := decide(0, p)
	switch v {
	case verdictExited:
		r.exits.deliver(w, st)
	case verdictRunning:
		r.exits.setPid(w, p.GetPid())
	}
	return r.exits.process(w, p.GetPid()), nil
}

// SignalContainer sends a signal to the container's PID 1.
func (r *Runtime) SignalContainer(ctx context.Context, id string, sig syscall.Signal) error {
	// One call to the task service, not three (load the container, load its task, kill): a pod's
	// stop signals every container at once, and each load asks the pod's one shim for a state.
	_, err := r.client.TaskService().Kill(r.ns(ctx), &tasks.KillRequest{ContainerID: id, Signal: uint32(sig)})
	if err != nil {
		return fmt.Errorf("signal %s to %s: %w", signals.Name(sig), id, grpcerrs.FromGRPC(err))
	}
	return nil
}

// PauseContainer freezes the container's processes (runc pause: the cgroup freezer) and returns
// once they are frozen. A paused container is left as it is.
func (r *Runtime) PauseContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	st, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		return fmt.Errorf("state of %s: %w", id, grpcerrs.FromGRPC(err))
	}
	switch st.Process.Status {
	case tasktypes.Status_PAUSED:
		return nil
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSING:
	default:
		return fmt.Errorf("pause %s: the task is %s: %w", id, st.Process.Status, errdefs.ErrFailedPrecondition)
	}
	if _, err := r.client.TaskService().Pause(ctx, &tasks.PauseTaskRequest{ContainerID: id}); err != nil {
		return fmt.Errorf("pause %s: %w", id, grpcerrs.FromGRPC(err))
	}
	return nil
}

// ResumeContainer thaws a paused container. One that is not paused is left as it is.
func (r *Runtime) ResumeContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	st, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		return fmt.Errorf("state of %s: %w", id, grpcerrs.FromGRPC(err))
	}
	if st.Process.Status != tasktypes.Status_PAUSED && st.Process.Status != tasktypes.Status_PAUSING {
		return nil
	}
	if _, err := r.client.TaskService().Resume(ctx, &tasks.ResumeTaskRequest{ContainerID: id}); err != nil {
		return fmt.Errorf("resume %s: %w", id, grpcerrs.FromGRPC(err))
	}
	return nil
}

// RemoveContainer kills what still runs, then deletes task, container and snapshot. Missing is fine.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	r.unlist(id)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load container %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("load container %s: %w", id, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task %s: %w", id, err)
		}
		fault.Point(fault.ContainerRemoveAfterTask)
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("load task %s: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	if uid := labels[LabelPodUID]; uid != "" {
		if err := r.cfg.SubPaths.ReleaseSubPaths(uid, id); err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
	}
	return nil
}

// listedTask is a container that ListContainers found running, watched since before the listing.
type listedTask struct {
	w   *watched
	pid uint32
}

// exitsReadyWait bounds how long ListContainers waits for the exit stream to receive. Only the
// cost depends on it: registered before a stream that syncs later, the containers are read once
// more by that stream's resync.
const exitsReadyWait = 2 * time.Second

// taskReadConcurrency bounds the task states ListContainers reads at once.
const taskReadConcurrency = 32

// ListContainers lists every container podd created in its namespace, with its task's state.
// The exit stream is subscribed first, and every container is watched before its task's state is
// read: what ended before the read shows in it, what ends after comes through the stream, so the
// running containers are adopted without another call (AdoptContainer) and no exit between the
// listing and the adoption is lost.
//
// The states are read one task at a time, many at once, not with containerd's task listing:
// containerd answers a listing by asking each task's shim in turn, which took 200 ms for 400
// containers on this 2-core host, twice as long as reading them 32 at a time.
func (r *Runtime) ListContainers(ctx context.Context) ([]supervisor.ContainerRecord, error) {
	ctx = r.ns(ctx)
	r.startExits(ctx)
	infos, err := r.listContainers(ctx, fmt.Sprintf("labels.%q", LabelPodUID))
	if err != nil {
		return nil, err
	}
	wait := time.NewTimer(exitsReadyWait)
	select {
	case <-r.exits.ready:
	case <-wait.C:
		r.log.Warn("the task event stream does not receive yet; reading the containers' states all the same", "waited", exitsReadyWait)
	case <-ctx.Done():
		wait.Stop()
		return nil, ctx.Err()
	}
	wait.Stop()
	watches, procs, err := r.watchTasks(ctx, infos)
	if err != nil {
		for _, w := range watches {
			r.exits.forget(w)
		}
		return nil, err
	}
	out := make([]supervisor.ContainerRecord, 0, len(infos))
	listed := make(map[string]listedTask, len(infos))
	for i, info := range infos {
		rec := containerRecord(info, procs[i])
		w := watches[i]
		if rec.State == supervisor.RecordRunning {
			pid := procs[i].Pid
			r.exits.setPid(w, pid)
			listed[info.ID] = listedTask{w: w, pid: pid}
		} else {
			// Stopped (the record says how) or without a task: nothing to watch.
			r.exits.forget(w)
		}
		out = append(out, rec)
	}
	r.listedMu.Lock()
	old := r.listed
	r.listed = listed
	r.listedMu.Unlock()
	for _, a := range old { // a previous listing's, never adopted
		r.exits.forget(a.w)
	}
	return out, nil
}

// watchTasks watches each container, then reads its task, taskReadConcurrency containers at a
// time. A container without a task (never started, or its shim is gone, as containerd's listing
// leaves it out) has a nil task.
func (r *Runtime) watchTasks(ctx context.Context, infos []*containersapi.Container) ([]*watched, []*tasktypes.Process, error) {
	watches := make([]*watched, len(infos))
	procs := make([]*tasktypes.Process, len(infos))
	errs := make([]error, len(infos))
	sem := make(chan struct{}, taskReadConcurrency)
	var wg sync.WaitGroup
	for i, info := range infos {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			watches[i] = r.watch(ctx, info.ID, 0, r.newOOMTracker(info.Labels[LabelPodUID], info.ID))
			p, err := r.getTask(ctx)(info.ID)
			switch {
			case errdefs.IsNotFound(err) || errdefs.IsUnavailable(err):
			case err != nil:
				errs[i] = fmt.Errorf("task of %s: %w", info.ID, err)
			default:
				procs[i] = p
			}
		})
	}
	wg.Wait()
	return watches, procs, errors.Join(errs...)
}

// listContainers lists the containers of podd's namespace that match the filters, in one answer:
// the client's listing streams them one message each, which took a hundred milliseconds for 400
// containers here. A listing too large for one message (thousands of containers, each with its
// OCI spec) is streamed.
func (r *Runtime) listContainers(ctx context.Context, filters ...string) ([]*containersapi.Container, error) {
	resp, err := containersapi.NewContainersClient(r.client.Conn()).List(ctx, &containersapi.ListContainersRequest{Filters: filters})
	if err == nil {
		return resp.Containers, nil
	}
	if status.Code(err) != codes.ResourceExhausted {
		return nil, fmt.Errorf("list containers: %w", grpcerrs.FromGRPC(err))
	}
	cs, err := r.client.ContainerService().List(ctx, filters...)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]*containersapi.Container, len(cs))
	for i, c := range cs {
		out[i] = &containersapi.Container{ID: c.ID, Labels: c.Labels, Image: c.Image, SnapshotKey: c.SnapshotKey}
	}
	return out, nil
}

// containerRecord describes a listed container; p is its task in the listing, nil for none.
func containerRecord(info *containersapi.Container, p *tasktypes.Process) supervisor.ContainerRecord {
	attempt, _ := strconv.Atoi(info.Labels[LabelAttempt])
	generation, _ := strconv.Atoi(info.Labels[labelGeneration])
	rec := supervisor.ContainerRecord{
		ID:         info.ID,
		PodUID:     info.Labels[LabelPodUID],
		Name:       info.Labels[LabelContainer],
		Attempt:    attempt,
		Generation: generation,
		State:      supervisor.RecordCreated,
		StopSignal: info.Labels[labelStopSignal],
		ImageRef:   info.Image,
		ImageID:    info.Labels[labelImageID],
	}
	if p == nil {
		return rec
	}
	switch p.Status {
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		rec.State = supervisor.RecordRunning
	case tasktypes.Status_STOPPED:
		rec.State = supervisor.RecordStopped
		rec.Exit = supervisor.ExitStatus{Code: int32(p.ExitStatus)}
		if p.ExitedAt != nil {
			rec.Exit.ExitedAt = p.ExitedAt.AsTime()
		}
	}
	return rec
}

// PodContainers lists the IDs of the pod's containers: one call to containerd, without their
// tasks' states (a removal used to read every task of every pod, one shim after another).
func (r *Runtime) PodContainers(ctx context.Context, podUID string) ([]string, error) {
	cs, err := r.listContainers(r.ns(ctx), fmt.Sprintf("labels.%q==%q", LabelPodUID, podUID))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	sort.Strings(ids)
	return ids, nil
}

// unlist forgets a listed container that is removed instead of adopted (an orphan, a stale one).
func (r *Runtime) unlist(id string) {
	r.listedMu.Lock()
	a, ok := r.listed[id]
	delete(r.listed, id)
	r.listedMu.Unlock()
	if ok {
		r.exits.forget(a.w)
	}
}

// RemoveUnusedSnapshots removes the active snapshots named as podd names containers (64 hex
// digits) that no container of podd's namespace uses.
func (r *Runtime) RemoveUnusedSnapshots(ctx context.Context) (int, error) {
	ctx = r.ns(ctx)
	cs, err := r.listContainers(ctx)
	if err != nil {
		return 0, err
	}
	used := make(map[string]bool, len(cs))
	for _, c := range cs {
		used[c.SnapshotKey] = true
	}
	sn := r.client.SnapshotService(r.cfg.Snapshotter)
	var unused []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive && isContainerID(info.Name) && !used[info.Name] {
			unused = append(unused, info.Name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list snapshots: %w", err)
	}
	removed := 0
	for _, key := range unused {
		if err := sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			return removed, fmt.Errorf("remove snapshot %s: %w", key, err)
		}
		removed++
	}
	return removed, nil
}

// isContainerID: 64 lower-case hex digits, as ContainerID makes them.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

var execSeq atomic.Uint64

// Exec runs a command beside the container's main process, with its user, env and cwd.
func (r *Runtime) Exec(ctx context.Context, id string, opts supervisor.ExecOptions) (int, error) {
	ctx = r.ns(ctx)
	if len(opts.Cmd) == 0 {
		return 0, fmt.Errorf("exec: no command: %w", errdefs.ErrInvalidArgument)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("load container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("container is not running: %w", errdefs.ErrFailedPrecondition)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("container %s spec: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = opts.Cmd
	pspec.Terminal = opts.Tty
	if opts.Tty && opts.Resize != nil {
		// A size already known goes into the spec, so the command never sees a 0x0 terminal.
		select {
		case size, ok := <-opts.Resize:
			if ok {
				pspec.ConsoleSize = &specs.Box{Height: uint(size.Height), Width: uint(size.Width)}
			}
		default:
		}
	}
	var stdin *eofReader
	cioOpts := []cio.Opt{cio.WithStreams(nil, opts.Stdout, opts.Stderr)}
	if opts.Stdin != nil {
		stdin = &eofReader{r: opts.Stdin, eof: make(chan struct{})}
		cioOpts = []cio.Opt{cio.WithStreams(stdin, opts.Stdout, opts.Stderr)}
	}
	if opts.Tty {
		cioOpts = append(cioOpts, cio.WithTerminal)
	}
	execID := fmt.Sprintf("exec-%d-%d", os.Getpid(), execSeq.Add(1))
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cioOpts...))
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	// The process is deleted with a fresh context: a client gone mid-exec must not leak it.
	defer proc.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	statusC, err := proc.Wait(ctx)
	if err != nil {
		return 0, fmt.Errorf("wait on exec: %w", err)
	}
	if err := proc.Start(ctx); err != nil {
		return 0, fmt.Errorf("start exec %q: %w: %w", opts.Cmd[0], errdefs.ErrFailedPrecondition, err)
	}
	if stdin != nil {
		// The shim keeps the process's stdin open until told: pass the client's EOF on.
		go func() {
			select {
			case <-stdin.eof:
				proc.CloseIO(ctx, containerd.WithStdinCloser)
			case <-ctx.Done():
			}
		}()
	}
	if opts.Tty && opts.Resize != nil {
		go func() {
			for size := range opts.Resize {
				proc.Resize(ctx, uint32(size.Width), uint32(size.Height))
			}
		}()
	}
	select {
	case st := <-statusC:
		code, _, err := st.Result()
		if err != nil {
			return 0, fmt.Errorf("exec status: %w", err)
		}
		// Let the output drain before reporting the exit, but not forever: a background child
		// that inherited stdout keeps the pipe open after the command exited.
		drained := make(chan struct{})
		go func() { proc.IO().Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
			proc.IO().Cancel()
		case <-ctx.Done():
			proc.IO().Cancel()
		}
		return int(code), nil
	case <-ctx.Done():
		killTree(int(proc.Pid()))
		proc.Kill(context.WithoutCancel(ctx), 9)
		return 0, ctx.Err()
	}
}

// eofReader tells when its reader reached the end.
type eofReader struct {
	r    io.Reader
	once sync.Once
	eof  chan struct{}
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}
