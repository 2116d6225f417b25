package controller

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Scale sets the replicas of a Deployment, ReplicaSet or StatefulSet (the scale subresource) and
// returns the object as stored.
func (o *Objects) Scale(ctx context.Context, kind, namespace, name string, replicas int32) (object.Object, error) {
	if kind != "Deployment" && kind != "ReplicaSet" && kind != "StatefulSet" {
		return nil, fmt.Errorf("%s has no scale: only deployments, replicasets and statefulsets scale: %w", strings.ToLower(kind), errdefs.ErrInvalidArgument)
	}
	if replicas < 0 {
		return nil, fmt.Errorf("spec.replicas: Invalid value: %d: must be greater than or equal to 0: %w", replicas, errdefs.ErrInvalidArgument)
	}
	return o.Update(ctx, kind, namespace, name, func(obj object.Object) error {
		switch x := obj.(type) {
		case *object.Deployment:
			x.Spec.Replicas = &replicas
		case *object.ReplicaSet:
			x.Spec.Replicas = &replicas
		case *object.StatefulSet:
			x.Spec.Replicas = &replicas
		}
		return nil
	})
}

// RolloutRestart restarts a Deployment's pods as `kubectl rollout restart` does: a new
// kubectl.kubernetes.io/restartedAt annotation in its template, which is a new template.
func (o *Objects) RolloutRestart(ctx context.Context, namespace, name string, now time.Time) (object.Object, error) {
	return o.Update(ctx, "Deployment", namespace, name, func(obj object.Object) error {
		d := obj.(*object.Deployment)
		if d.Spec.Paused {
			return fmt.Errorf("deployments/%s: can't restart paused deployment (run rollout resume first): %w", name, errdefs.ErrFailedPrecondition)
		}
		setAnnotation(&d.Spec.Template.Metadata, AnnotationRestartedAt, now.Format(time.RFC3339))
		return nil
	})
}

// Revisions lists a Deployment's ReplicaSets by revision, oldest first.
func (o *Objects) Revisions(namespace, name string) ([]*object.ReplicaSet, error) {
	obj, err := o.Get("Deployment", namespace, name)
	if err != nil {
		return nil, err
	}
	uid := obj.GetMetadata().UID
	var out []*object.ReplicaSet
	for _, r := range o.List("ReplicaSet", namespace) {
		rs := r.(*object.ReplicaSet)
		if controlledBy(rs.Metadata.OwnerReferences, uid) {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return revision(out[i]) < revision(out[j]) })
	return out, nil
}

// RolloutUndo puts back the template of a Deployment's revision (0: the one before the
// current), as `kubectl rollout undo [--to-revision N]` does; the answer is kubectl's sentence.
func (o *Objects) RolloutUndo(ctx context.Context, namespace, name string, toRevision int64) (string, error) {
	if toRevision < 0 {
		return "", fmt.Errorf("--to-revision %d: want 0 (the previous revision) or a revision number: %w", toRevision, errdefs.ErrInvalidArgument)
	}
	sets, err := o.Revisions(namespace, name)
	if err != nil {
		return "", err
	}
	var target *object.ReplicaSet
	if toRevision == 0 {
		if len(sets) < 2 {
			return "", fmt.Errorf("no rollout history found for deployment %q: %w", name, errdefs.ErrNotFound)
		}
		target = sets[len(sets)-2]
	} else {
		for _, rs := range sets {
			if revision(rs) == toRevision {
				target = rs
			}
		}
		if target == nil {
			return "", fmt.Errorf("unable to find specified revision %d in history: %w", toRevision, errdefs.ErrNotFound)
		}
	}
	t := *pod.Clone(&target.Spec.Template)
	t.Metadata.Labels = maps.Clone(t.Metadata.Labels)
	delete(t.Metadata.Labels, LabelPodTemplateHash)
	skipped := false
	_, err = o.Update(ctx, "Deployment", namespace, name, func(obj object.Object) error {
		d := obj.(*object.Deployment)
		if d.Spec.Paused {
			return fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'podctl rollout resume' and try again: %w", errdefs.ErrFailedPrecondition)
		}
		if sameTemplate(&d.Spec.Template, &t) {
			skipped = true
			return nil
		}
		d.Spec.Template = t
		return nil
	})
	if err != nil {
		return "", err
	}
	if skipped {
		return fmt.Sprintf("deployment.apps/%s skipped rollback (current template already matches revision %d)", name, revision(target)), nil
	}
	return fmt.Sprintf("deployment.apps/%s rolled back", name), nil
}

// RolloutPause pauses or resumes a Deployment (`kubectl rollout pause|resume`); the answer is
// kubectl's sentence.
func (o *Objects) RolloutPause(ctx context.Context, namespace, name string, paused bool) (string, error) {
	was := false
	_, err := o.Update(ctx, "Deployment", namespace, name, func(obj object.Object) error {
		d := obj.(*object.Deployment)
		was = d.Spec.Paused
		d.Spec.Paused = paused
		return nil
	})
	if err != nil {
		return "", err
	}
	switch {
	case paused && was:
		return "", fmt.Errorf("deployments.apps %q is already paused: %w", name, errdefs.ErrFailedPrecondition)
	case !paused && !was:
		return "", fmt.Errorf("deployments.apps %q is not paused: %w", name, errdefs.ErrFailedPrecondition)
	case paused:
		return fmt.Sprintf("deployment.apps/%s paused", name), nil
	}
	return fmt.Sprintf("deployment.apps/%s resumed", name), nil
}
