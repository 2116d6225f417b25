package daemon

import (
	"context"
	"errors"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/pod/podsecurity"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// apiPods is what the API serves for pods: the supervisor, with manifests read by pkg/manifest
// and held to their namespaces' Pod Security levels. Static pods do not come this way: the
// controller creates them directly, exempt (root wrote their files).
type apiPods struct {
	*supervisor.Manager
	security podsecurity.Policy
	admission
}

// Create reads a manifest strictly, expands the patterns' annotations, and creates every pod in
// it, or none: a pod its namespace's Pod Security level forbids refuses the whole manifest, as a
// pod that fails validation does.
func (p apiPods) Create(ctx context.Context, data []byte) ([]*pod.Pod, error) {
	pods, err := p.admission.pods(data)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, po := range pods {
		ns := po.Metadata.Namespace
		if ns == "" {
			ns = pod.DefaultNamespace
		}
		withNS := *po
		withNS.Metadata.Namespace = ns
		if err := p.security.Admit(&withNS); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p.CreatePods(ctx, pods)
}
