package sandbox

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/pod"
)

// Warm sandboxes: a bounded pool of pod sandboxes prepared ahead of the pods that will take
// them: the network, IPC and UTS namespaces, with the network's CNI attachment (its veth and
// address), which is most of what a bridge pod's sandbox costs (a CNI ADD runs three plugins).
// A warm sandbox is made under a fresh pod UID, and a pod takes it by taking that UID as its own
// (the supervisor asks TakeWarm when it names a new pod): its namespaces, attachment and state
// files are then already the pod's, found where the pod's own would be. What depends on the pod
// (its names in its network state and the hosts files, its cgroup with the pod's sums, its
// folders and /etc files) is done when the pod's sandbox is set up, as for any pod; runc sets
// the hostname in the UTS namespace from each container's spec.
//
// A warm sandbox belongs to no pod until one takes it, so a podd that restarts finds it an orphan
// and removes it like any other, then fills the pool again; nothing of it outlives its use, and
// one is never handed to two pods. Only a pod on the bridge network without hostPorts takes one
// (hostPorts are a part of the CNI ADD); other pods set up their sandbox as before.

// warmPool is the pool's state. Its UIDs are those of prepared sandboxes, oldest first.
type warmPool struct {
	mu    sync.Mutex
	size  int
	ready []string
	// taken is signalled when a pod takes a warm sandbox: the filler makes another.
	taken chan struct{}
	// idle is how long the filler waits after the last take before it prepares another: pods
	// created in a burst go first, the pool fills behind them.
	idle time.Duration
}

// missing is how many sandboxes the pool lacks.
func (w *warmPool) missing() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size - len(w.ready)
}

// DefaultWarmSandboxes is the pool's default size: one per CPU, at most 4. Each costs a network
// namespace, a veth pair, an address of the pod subnet and the bridge plugin's masquerade rule
// (no process, and no memory a pod's own would not take).
func DefaultWarmSandboxes() int { return min(max(goruntime.NumCPU(), 1), 4) }

// warmHostname is a warm sandbox's hostname until a pod takes it.
const warmHostname = "warm"

// WarmFit says whether the pod can take a warm sandbox: on the bridge network, without hostPorts.
func WarmFit(p *pod.Pod) bool {
	return pod.NetworkMode(p) == pod.NetworkBridge && len(portMappings(p)) == 0
}

// TakeWarm hands a warm sandbox over to the pod, if one fits and is ready, and returns its UID:
// the pod must take it as its own (metadata.uid) before it is stored. ok is false with the pool
// off or empty.
func (r *Host) TakeWarm(p *pod.Pod) (uid string, ok bool) {
	w := &r.warm
	if !WarmFit(p) {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ready) == 0 {
		return "", false
	}
	uid, w.ready = w.ready[0], w.ready[1:]
	select {
	case w.taken <- struct{}{}:
	default:
	}
	return uid, true
}

// WarmReady is how many warm sandboxes are ready now.
func (r *Host) WarmReady() int {
	r.warm.mu.Lock()
	defer r.warm.mu.Unlock()
	return len(r.warm.ready)
}

// FillWarm keeps the pool full until ctx ends: one sandbox at a time, each after the pool was
// left alone for a moment. The supervisor runs it once its start-up housekeeping is done. A
// sandbox it could not prepare is removed, and the next is tried after a pause. When ctx ends
// (podd stops), the warm sandboxes no pod took are removed: nothing of them outlives podd, not
// even the masquerade rule of their address (a podd killed leaves them to the next start).
func (r *Host) FillWarm(ctx context.Context) {
	w := &r.warm
	if w.size <= 0 {
		return
	}
	defer r.drainWarm(context.WithoutCancel(ctx))
	for {
		if w.missing() <= 0 {
			select {
			case <-w.taken:
			case <-ctx.Done():
				return
			}
		}
		// Let a burst of new pods pass first: each take restarts the wait.
		for quiet := false; !quiet; {
			select {
			case <-w.taken:
			case <-time.After(w.idle):
				quiet = true
			case <-ctx.Done():
				return
			}
		}
		if w.missing() <= 0 {
			continue
		}
		uid := pod.NewUID()
		start := time.Now()
		if err := r.prepareWarm(ctx, uid); err != nil {
			if ctx.Err() != nil {
				// Left for the next start's reconciliation if the teardown cannot finish.
				_ = r.TeardownSandbox(context.WithoutCancel(ctx), uid)
				return
			}
			r.log.Warn("prepare a warm sandbox", "uid", uid, "err", err)
			if terr := r.TeardownSandbox(ctx, uid); terr != nil {
				r.log.Warn("remove a warm sandbox that failed", "uid", uid, "err", terr)
			}
			select {
			case <-time.After(5 * time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		w.mu.Lock()
		w.ready = append(w.ready, uid)
		n := len(w.ready)
		w.mu.Unlock()
		r.log.Debug("warm sandbox ready", "uid", uid, "ready", n, "took", time.Since(start))
	}
}

// drainWarm removes the warm sandboxes no pod took, within ten seconds.
func (r *Host) drainWarm(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w := &r.warm
	w.mu.Lock()
	uids := w.ready
	w.ready = nil
	w.mu.Unlock()
	for _, uid := range uids {
		if err := r.TeardownSandbox(ctx, uid); err != nil {
			r.log.Warn("remove a warm sandbox", "uid", uid, "err", err)
		}
	}
}

// prepareWarm makes a pod's namespaces and attaches its network, under uid, for no pod yet.
func (r *Host) prepareWarm(ctx context.Context, uid string) error {
	if err := r.ensureNamespaces(ctx, uid, []nsKind{ipcNS, netNS, utsNS}, warmHostname); err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	fault.Point(fault.WarmAfterNamespaces)
	r.netMu.Lock()
	defer r.netMu.Unlock()
	// No name, no hosts file: a state without a name is a warm sandbox's (see syncHosts).
	_, err := r.net.attach(ctx, &pod.Pod{Metadata: pod.ObjectMeta{UID: uid}}, r.nsPath(netNS, uid), "", "", "")
	return err
}
