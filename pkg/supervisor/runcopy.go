package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// RunOptions describe a one-off copy of a pod's container (RunCopy).
type RunOptions struct {
	// Command replaces the container's command and args (nil: the container's own).
	Command []string
	// Env is added to the container's environment (KEY=VALUE; a key it already has is replaced).
	Env []string
	// Output receives the copy's stdout and stderr, as it writes them, until it exits.
	Output io.Writer
}

// RunSeparator joins a container's name and a run's in the name of a run's instance: a
// container's name is a DNS label, which has no dot, so a run's never clashes with one, and a
// podd that restarts finds it among the containers no longer in the spec and removes it.
const RunSeparator = ".run-"

// RunCopy runs a fresh instance of one of the pod's containers, found by its runtime ID (the
// caller's own, by its cgroup: see api's POST /run): a new container of the same image, mounts,
// securityContext and resources, with its own cgroup and writable layer, in the pod's sandbox,
// with opts' command and extra environment, and returns how it ended. It is removed once it
// ended. When ctx ends first, or the pod stops, it is killed. The pod's status does not change:
// a run is the work of the container that asked for it.
func (m *Manager) RunCopy(ctx context.Context, namespace, name, containerID string, opts RunOptions) (ExitStatus, error) {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return ExitStatus{}, err
	}
	w.mu.Lock()
	var c *ctr
	for _, x := range w.ctrs {
		if x.id == containerID && containerID != "" {
			c = x
		}
	}
	if c == nil || !c.state.running() {
		w.mu.Unlock()
		return ExitStatus{}, fmt.Errorf("the asking process is not in a running container of pod %s/%s: %w", namespace, name, errdefs.ErrFailedPrecondition)
	}
	stopping := w.hooks == nil || w.hooks.Err() != nil || w.down()
	p, sb, spec, qos, hooks, img := w.planSnapshotLocked(), w.sb, *c.spec, w.qos, w.hooks, c.img
	w.mu.Unlock()
	if stopping || sb == nil {
		return ExitStatus{}, fmt.Errorf("pod %s/%s is stopping: %w", namespace, name, errdefs.ErrFailedPrecondition)
	}
	// The copy's own settings: its command, its environment, nothing run around it.
	if opts.Command != nil {
		spec.Command, spec.Args = opts.Command, nil
	}
	spec.Env = withEnv(spec.Env, opts.Env)
	spec.Name = c.name + RunSeparator + randomHex(4)
	spec.Lifecycle, spec.LivenessProbe, spec.ReadinessProbe, spec.StartupProbe = nil, nil, nil, nil
	spec.TTY, spec.Stdin = false, false

	// Created and started whatever ctx does meanwhile (a create cut midway could leave a
	// container under a name no one knows); the wait below kills it when ctx ends.
	cleanup := context.WithoutCancel(ctx)
	t0 := time.Now()
	var created, started time.Duration
	// The asking instance's image, as its launch found it: a copy runs what the container runs
	// (not whatever its tag names now), and asks containerd nothing for it (2-10 ms a run here).
	// A container this podd restored, and so did not launch, has its image looked up once.
	if img == nil {
		var err error
		if img, err = m.rt.EnsureImage(cleanup, spec.Image, spec.ImagePullPolicy); err != nil {
			return ExitStatus{}, fmt.Errorf("run a copy of %s: %w", c.name, err)
		}
		w.mu.Lock()
		if c.img == nil {
			c.img = img
		}
		w.mu.Unlock()
	}
	plan, err := pod.BuildPlan(p, &spec, img, sb, 0, m.opts.LogRoot, qos, m.configs())
	if err != nil {
		return ExitStatus{}, fmt.Errorf("run a copy of %s: %w", c.name, err)
	}
	logDir := filepath.Dir(plan.LogPath)
	// Removed once it ended, after the answer (the next run need not wait for it); a podd that
	// dies first removes it at its next start, with the pod's other leftovers. It has no log:
	// its output goes to opts.Output.
	id, err := m.rt.CreateContainer(cleanup, sb, plan)
	created = time.Since(t0)
	if err != nil {
		os.RemoveAll(logDir)
		return ExitStatus{}, fmt.Errorf("run a copy of %s: create: %w", c.name, err)
	}
	defer func() {
		go func() {
			if err := m.rt.RemoveContainer(cleanup, id); err != nil && !errdefs.IsNotFound(err) {
				m.log.Warn("remove a run", append(w.log(), "container", spec.Name, "err", err)...)
			}
			os.RemoveAll(logDir)
		}()
	}()
	// Nothing is written to opts.Output once RunCopy returned (a background child of the copy's
	// may hold its pipes open a while longer).
	out := &gatedWriter{w: opts.Output}
	defer out.close()
	proc, drained, err := m.rt.StartContainerOutput(cleanup, id, out)
	if err != nil {
		return ExitStatus{}, fmt.Errorf("run a copy of %s: start: %w", c.name, err)
	}
	started = time.Since(t0)
	exited := make(chan ExitStatus, 1)
	if proc.Notify != nil {
		proc.Notify(func(st ExitStatus) { exited <- st }, func(int) {})
	} else {
		go func() {
			for {
				select {
				case st := <-proc.Exit:
					exited <- st
					return
				case <-proc.OOMKills:
				}
			}
		}()
	}
	var st ExitStatus
	select {
	case st = <-exited:
	case <-ctx.Done():
		_ = m.rt.SignalContainer(cleanup, id, syscall.SIGKILL)
		st = <-exited
	case <-hooks.Done():
		_ = m.rt.SignalContainer(cleanup, id, syscall.SIGKILL)
		st = <-exited
	}
	m.log.Debug("run copy ended", append(w.log(), "container", spec.Name, "exit_code", st.Code, "created_after", created, "started_after", started, "ended_after", time.Since(t0))...)
	// The output is all written once the pipes close; a background child that kept them open
	// is not waited for long (the container's removal kills it).
	select {
	case <-drained:
	case <-time.After(runDrain):
	}
	return st, nil
}

// gatedWriter writes to w until closed, then discards.
type gatedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.w == nil {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	g.w = nil
	g.mu.Unlock()
}

// runDrain bounds the wait for a run's output after its exit.
const runDrain = time.Second

// withEnv is env with extra (KEY=VALUE) set, replacing the values of keys it already has.
func withEnv(env []pod.EnvVar, extra []string) []pod.EnvVar {
	out := make([]pod.EnvVar, 0, len(env)+len(extra))
	set := map[string]string{}
	var order []string
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := set[k]; !dup {
			order = append(order, k)
		}
		set[k] = v
	}
	for _, e := range env {
		if _, ok := set[e.Name]; !ok {
			out = append(out, e)
		}
	}
	for _, k := range order {
		out = append(out, pod.EnvVar{Name: k, Value: set[k]})
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
