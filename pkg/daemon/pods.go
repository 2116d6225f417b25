package daemon

import (
	"context"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// apiPods is what the API serves for pods: the supervisor, with manifests read by pkg/manifest.
type apiPods struct{ *supervisor.Manager }

// Create reads a manifest strictly and creates every pod in it, or none.
func (p apiPods) Create(ctx context.Context, data []byte) ([]*pod.Pod, error) {
	pods, err := manifest.Decode(data)
	if err != nil {
		return nil, err
	}
	return p.CreatePods(ctx, pods)
}
