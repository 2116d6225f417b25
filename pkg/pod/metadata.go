package pod

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// MetadataPatch changes a running pod's labels and annotations, as kubectl label and kubectl
// annotate do: a key with a value sets it, a key with null (nil) removes it. Changing the value of
// an existing key needs Overwrite; removing a key that is not there is no error.
type MetadataPatch struct {
	Labels      map[string]*string `json:"labels,omitempty"`
	Annotations map[string]*string `json:"annotations,omitempty"`
	Overwrite   bool               `json:"overwrite,omitempty"`
}

// applyMetadataPatch returns the metadata with the patch applied and a description of what
// changed ("" for nothing), or an error naming each refused key. It does not change meta.
func applyMetadataPatch(meta ObjectMeta, patch MetadataPatch) (ObjectMeta, string, error) {
	if len(patch.Labels) == 0 && len(patch.Annotations) == 0 {
		return meta, "", fmt.Errorf("metadata patch: no label or annotation to change: %w", errdefs.ErrInvalidArgument)
	}
	var errs []error
	var changes []string
	apply := func(field string, cur map[string]string, set map[string]*string) map[string]string {
		out := maps.Clone(cur)
		if out == nil {
			out = map[string]string{}
		}
		for _, k := range slices.Sorted(maps.Keys(set)) {
			v := set[k]
			old, exists := out[k]
			switch {
			case field == "annotations" && k == AnnotationAPISocket:
				errs = append(errs, &FieldError{Field: "metadata.annotations[" + k + "]",
					Detail: "Forbidden: decides the containers' mounts, so it is set only when the pod is created"})
			case field == "annotations" && k == AnnotationNetwork:
				errs = append(errs, &FieldError{Field: "metadata.annotations[" + k + "]",
					Detail: "Forbidden: decides the pod's network, so it is set only when the pod is created"})
			case v == nil:
				if exists {
					delete(out, k)
					changes = append(changes, field+" "+k+" removed")
				}
			case exists && old == *v:
			case exists && !patch.Overwrite:
				errs = append(errs, fmt.Errorf("metadata.%s[%s]: '%s' already has a value (%s), and --overwrite is false: %w",
					field, k, k, old, errdefs.ErrFailedPrecondition))
			default:
				out[k] = *v
				changes = append(changes, field+" "+k+"="+*v)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	next := meta
	next.Labels = apply("labels", meta.Labels, patch.Labels)
	next.Annotations = apply("annotations", meta.Annotations, patch.Annotations)
	if err := errors.Join(errs...); err != nil {
		return meta, "", err
	}
	// The same checks as at creation, on the keys and values the patch brings.
	probe := &Pod{Metadata: next}
	probe.Metadata.Name, probe.Metadata.Namespace = "x", "x"
	var verrs errorList
	checkMetadata(probe, &verrs)
	if len(verrs) > 0 {
		joined := make([]error, len(verrs))
		for i, e := range verrs {
			joined[i] = e
		}
		return meta, "", errors.Join(joined...)
	}
	return next, strings.Join(changes, ", "), nil
}

// evMetadata asks the worker to apply a metadata patch; the worker owns the record, so the change
// is serialized with its own writes of it (a stop recorded at the same moment).
type evMetadata struct {
	patch MetadataPatch
	reply chan error
}

// UpdateMetadata changes a pod's labels and annotations without touching its containers: the
// change is stored (fsynced) before it returns, an event records it, and the pod's downwardAPI
// volumes are rewritten atomically. Environment variables taken from labels keep the values they
// had when the container started, as in Kubernetes.
func (m *Manager) UpdateMetadata(ctx context.Context, namespace, name string, patch MetadataPatch) (*Pod, error) {
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
	next, changes, err := applyMetadataPatch(w.rec.Pod.Metadata, ev.patch)
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
	w.m.mu.Lock()
	w.rec.Pod.Metadata.Labels, w.rec.Pod.Metadata.Annotations = next.Labels, next.Annotations
	snap := w.snapshotLocked()
	w.m.notifyLocked()
	w.m.mu.Unlock()
	w.event(nil, EventNormal, "MetadataUpdated", "Updated %s", changes)
	w.m.log.Info("pod metadata updated", append(w.log(), "changes", changes)...)
	if w.sb != nil && HasDownwardAPIVolume(snap) {
		if err := w.m.rt.RefreshDownwardAPI(ctx, snap); err != nil {
			w.m.log.Warn("rewrite downwardAPI volumes", append(w.log(), "err", err)...)
			w.event(nil, EventWarning, "FailedMount", "rewrite downwardAPI volumes: %v", err)
		}
	}
	ev.reply <- nil
}
