package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
)

// Check reports whether the supervisor is alive: the manager's lock can be taken and every pod's
// worker loop answers, all before ctx ends. systemd's watchdog is pinged only while it passes.
func (m *Manager) Check(ctx context.Context) error {
	locked := make(chan []*worker, 1)
	go func() {
		m.mu.Lock()
		ws := make([]*worker, 0, len(m.pods))
		for _, w := range m.pods {
			ws = append(ws, w)
		}
		m.mu.Unlock()
		locked <- ws
	}()
	var workers []*worker
	select {
	case workers = <-locked:
	case <-ctx.Done():
		return fmt.Errorf("pod manager lock held too long: %w", ctx.Err())
	}
	for _, w := range workers {
		ping := evPing{done: make(chan struct{})}
		select {
		case w.events <- ping:
		case <-w.done:
			continue // removed meanwhile
		case <-ctx.Done():
			return fmt.Errorf("pod %s: supervisor loop does not take events: %w", w.name(), ctx.Err())
		}
		select {
		case <-ping.done:
		case <-w.done:
		case <-ctx.Done():
			return fmt.Errorf("pod %s: supervisor loop does not answer: %w", w.name(), ctx.Err())
		}
	}
	return nil
}

// name is the pod's namespace/name; both are fixed at creation, so no lock is needed.
func (w *worker) name() string {
	return key(w.rec.Pod.Metadata.Namespace, w.rec.Pod.Metadata.Name)
}

// StopAll stops every pod with the stop contract, each within its own grace period, in parallel,
// without recording the stops: the next podd starts the pods again as their restart policies
// say. It is for a podd (or host) shutdown; podctl stop records its stop.
func (m *Manager) StopAll(ctx context.Context) error {
	m.mu.Lock()
	m.shuttingDown = true // no new pods meanwhile: they would outlive the shutdown
	ws := make([]*worker, 0, len(m.pods))
	for _, w := range m.pods {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.request(ctx, evStop{shutdown: true}); err != nil && !errdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stop pod %s: %w", w.name(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ResumeAll undoes StopAll when the host's shutdown was cancelled: pods are created again, and
// each pod's containers start again as its restart policy says.
func (m *Manager) ResumeAll(ctx context.Context) {
	m.mu.Lock()
	m.shuttingDown = false
	ws := make([]*worker, 0, len(m.pods))
	for _, w := range m.pods {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.post(ctx, evResume{})
	}
}
