package supervisor

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/podd-dev/podd/pkg/pod"
)

// Configs is what the supervisor needs of the ConfigMaps and Secrets: their data, for the env of
// the containers it creates, and a channel closed at their next change, to update the pods'
// configMap, secret and projected volumes and to retry the containers that waited for one.
// pkg/daemon wires it from pkg/controller's Objects; the supervisor never imports that package.
type Configs interface {
	pod.ConfigSource
	Changed() <-chan struct{}
}

// evConfigs tells a worker that a ConfigMap or a Secret changed (or appeared, or went).
type evConfigs struct{}

// watchConfigs wakes, at every change of the ConfigMaps and Secrets, the workers of the pods that
// refer to any: once each, however many changes come while a worker is busy.
func (m *Manager) watchConfigs(ctx context.Context) {
	if m.opts.Configs == nil {
		return
	}
	for {
		changed := m.opts.Configs.Changed()
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
		m.mu.Lock()
		ws := make([]*worker, 0, len(m.pods))
		for _, w := range m.pods {
			if w.usesConfig {
				ws = append(ws, w)
			}
		}
		m.mu.Unlock()
		for _, w := range ws {
			if w.configsPending.CompareAndSwap(false, true) {
				go w.post(ctx, evConfigs{})
			}
		}
	}
}

// configs is the source of the containers' env (nil without one: a reference is then missing).
func (m *Manager) configs() pod.ConfigSource {
	if m.opts.Configs == nil {
		return nil
	}
	return m.opts.Configs
}

// configsChanged runs on the worker's goroutine: the pod's configMap, secret and projected volumes
// get the new content (atomically, through ..data), and the containers that could not be created
// for want of a ConfigMap, a Secret or a key are tried again at once. Env of running containers
// does not change, as in Kubernetes.
func (w *worker) configsChanged(ctx context.Context) {
	w.configsPending.Store(false)
	if w.sb != nil {
		w.mu.Lock()
		snap := w.snapshotLocked()
		w.mu.Unlock()
		// Every change of any object wakes the pod: a problem is reported once, not at each.
		err := w.m.sb.RefreshConfigVolumes(ctx, snap)
		switch msg := fmt.Sprint(err); {
		case err == nil:
			w.lastConfigErr = ""
		case msg != w.lastConfigErr:
			w.lastConfigErr = msg
			w.m.log.Warn("update configMap, secret and projected volumes", append(w.log(), "err", err)...)
			w.event(nil, pod.EventWarning, "FailedMount", "%v", err)
		}
	}
	if w.state != podSyncing {
		return
	}
	for _, c := range w.ctrs {
		w.mu.Lock()
		waiting := c.state == ctrBackOff && c.launchFailed && c.status.State.Waiting != nil &&
			c.status.State.Waiting.Reason == pod.ReasonCreateContainerConfigError
		w.mu.Unlock()
		if waiting {
			w.restart(ctx, c)
		}
	}
}

// configWaiter marks a worker's interest in config changes.
type configWaiter struct {
	usesConfig     bool
	configsPending atomic.Bool
	lastConfigErr  string // the last volume update's error, reported once
}
