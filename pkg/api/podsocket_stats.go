package api

import (
	"context"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// A pod's own socket reads the pod's own figures and processes, like its status.

func (o *ownPod) Stats(ctx context.Context, namespace, name string) (*pod.PodStats, error) {
	if namespace != o.namespace || name != o.name {
		return nil, o.notMine(namespace, name)
	}
	if _, err := o.self(ctx); err != nil {
		return nil, err
	}
	return o.pods.Stats(ctx, namespace, name)
}

func (o *ownPod) AllStats(ctx context.Context, namespace string) ([]*pod.PodStats, error) {
	if namespace != "" && namespace != o.namespace {
		return nil, nil
	}
	st, err := o.Stats(ctx, o.namespace, o.name)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []*pod.PodStats{st}, nil
}

func (o *ownPod) Top(ctx context.Context, namespace, name string) ([]pod.ContainerProcesses, error) {
	if namespace != o.namespace || name != o.name {
		return nil, o.notMine(namespace, name)
	}
	if _, err := o.self(ctx); err != nil {
		return nil, err
	}
	return o.pods.Top(ctx, namespace, name)
}
