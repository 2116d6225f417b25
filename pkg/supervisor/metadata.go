package supervisor

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// evMetadata asks the worker to apply a metadata patch; the worker owns the record, so the change
// is serialized with its own writes of it (a stop recorded at the same moment).
type evMetadata struct {
	patch pod.MetadataPatch
	reply chan error
}

// UpdateMetadata changes a pod's labels and annotations without touching its containers: the
// change is stored (fsynced) before it returns, an event records it, and the pod's downwardAPI
// volumes are rewritten atomically. Environment variables taken from labels keep the values they
// had when the container started, as in Kubernetes.
func (m *Manager) UpdateMetadata(ctx context.Context, namespace, name string, patch pod.MetadataPatch) (*pod.Pod, error) {
	w, err := m.lookup(namespace, name)
	if err != nil {
		return nil, err
	}
	ev := evMetadata{patch: patch, reply: make(chan error, 1)}
	select {
	case w.events <- ev:
	case <-w.done:
		return nil, fmt.Errorf("pod %q not found in namespace %q: %w", name, namespace, errdefs.ErrNotFound)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case err := <-ev.reply:
		if err != nil {
			return nil, err
		}
	case <-w.done:
		return nil, fmt.Errorf("pod %q was removed: %w", name, errdefs.ErrNotFound)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return m.Get(ctx, namespace, name)
}

// updateMetadata runs on the worker's goroutine.
func (w *worker) updateMetadata(ctx context.Context, ev evMetadata) {
	if w.rec.Deleting {
		ev.reply <- fmt.Errorf("pod %q is being removed: %w", w.rec.Pod.Metadata.Name, errdefs.ErrFailedPrecondition)
		return
	}
	next, changes, err := pod.ApplyMetadataPatch(w.rec.Pod.Metadata, ev.patch)
	if err != nil || changes == "" {
		ev.reply <- err
		return
	}
	// Store a copy first: the record in memory changes only once the new one is on disk.
	stored := *w.rec
	p := *w.rec.Pod
	p.Metadata = next
	stored.Pod = &p
	if err := w.m.opts.Store.Put(ctx, &stored); err != nil {
		ev.reply <- fmt.Errorf("store pod: %w", err)
		return
	}
	// The maps are replaced, never changed in place, so snapshots taken earlier stay valid.
	w.mu.Lock()
	w.rec.Pod.Metadata.Labels, w.rec.Pod.Metadata.Annotations = next.Labels, next.Annotations
	snap := w.snapshotLocked()
	w.mu.Unlock()
	w.event(nil, pod.EventNormal, "MetadataUpdated", "Updated %s", changes)
	w.m.log.Info("pod metadata updated", append(w.log(), "changes", changes)...)
	if w.sb != nil && pod.HasDownwardAPIVolume(snap) {
		if err := w.m.sb.RefreshDownwardAPI(ctx, snap); err != nil {
			w.m.log.Warn("rewrite downwardAPI volumes", append(w.log(), "err", err)...)
			w.event(nil, pod.EventWarning, "FailedMount", "rewrite downwardAPI volumes: %v", err)
		}
	}
	ev.reply <- nil
}
