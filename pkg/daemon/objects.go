package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/podd-dev/podd/pkg/events"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/manifest"
)

// NotFound is the action delete -f reports for an object that was not there.
const notFound = "not found"

// apiObjects is what the API serves for the kinds beside Pod: manifests read by pkg/manifest,
// applied by the controllers' Objects.
type apiObjects struct {
	*controller.Objects
	admission
}

// Apply reads a manifest strictly, expands the patterns' annotations, and applies every object.
func (o apiObjects) Apply(ctx context.Context, data []byte) ([]controller.Result, error) {
	objs, err := o.admission.objects(data)
	if err != nil {
		return nil, err
	}
	return o.Objects.Apply(ctx, objs)
}

// DeleteManifest deletes what a manifest names, each on its own, as kubectl delete -f does.
func (o apiObjects) DeleteManifest(ctx context.Context, data []byte, grace *time.Duration) ([]controller.Result, error) {
	objs, err := manifest.DecodeObjects(data)
	if err != nil {
		return nil, err
	}
	results := make([]controller.Result, len(objs))
	for i, obj := range objs {
		m := obj.GetMetadata()
		results[i] = controller.Result{Kind: obj.GetKind(), Namespace: m.Namespace, Name: m.Name, Action: controller.Deleted}
		err := o.Objects.Delete(ctx, obj.GetKind(), m.Namespace, m.Name, grace)
		switch {
		case errdefs.IsNotFound(err):
			results[i].Action = notFound
		case err != nil:
			return results[:i], err
		}
	}
	return results, nil
}

// controllers are the reconcilers of every kind podd runs.
func controllers(objs *controller.Objects, pods controller.Pods, ev *events.Recorder, log *slog.Logger) []controller.Reconciler {
	return []controller.Reconciler{
		&controller.PodCollector{Objects: objs, Pods: pods, Log: log},
		&controller.ReplicaSets{Objects: objs, Pods: pods, Events: ev, Log: log},
		&controller.Deployments{Objects: objs, Pods: pods, Events: ev, Log: log},
		&controller.Jobs{Objects: objs, Pods: pods, Log: log},
	}
}
