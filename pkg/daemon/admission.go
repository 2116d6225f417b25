package daemon

import (
	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/patterns"
	"github.com/podd-dev/podd/pkg/pod"
)

// admission is the one place where podd reads a user's manifest into what it stores: strict
// decoding (pkg/manifest), then the patterns' expansion (pkg/patterns), as Istio's injector
// mutates a pod at admission. Every path that makes pods from a user's objects comes through
// it — podctl run, podctl apply (and the per-pod sockets' equivalents) and the static pods'
// folder — so that what podd stores and runs is what `podctl expand` prints, and a refused
// annotation creates nothing. The controllers' pods are made from templates expanded here.
type admission struct {
	patterns patterns.Options
}

// newAdmission expands with the helper image of podd's version (api.PatternsImage), the one
// podd imports from its archive on first use and podctl expand names by default.
func newAdmission() admission {
	return admission{patterns: patterns.Options{Image: api.PatternsImage()}}
}

// pods decodes a manifest of Pods and expands them.
func (a admission) pods(data []byte) ([]*pod.Pod, error) {
	pods, err := manifest.Decode(data)
	if err != nil {
		return nil, err
	}
	return a.expandPods(pods)
}

func (a admission) expandPods(pods []*pod.Pod) ([]*pod.Pod, error) {
	return patterns.ExpandPods(pods, a.patterns)
}

// objects decodes a manifest of any kind and expands its objects.
func (a admission) objects(data []byte) ([]object.Object, error) {
	objs, err := manifest.DecodeObjects(data)
	if err != nil {
		return nil, err
	}
	return patterns.ExpandAll(objs, a.patterns)
}
