package supervisor

import (
	"context"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/pod"
)

func ptr(s string) *string { return &s }

// create reads a manifest as the API does and creates its pods.
func create(ctx context.Context, m *Manager, data []byte) ([]*pod.Pod, error) {
	pods, err := manifest.Decode(data)
	if err != nil {
		return nil, err
	}
	return m.CreatePods(ctx, pods)
}
