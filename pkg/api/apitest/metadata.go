package apitest

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// UpdateMetadata applies the patch with kubectl's overwrite rule; it checks no key.
func (f *Pods) UpdateMetadata(ctx context.Context, namespace, name string, patch pod.MetadataPatch) (*pod.Pod, error) {
	f.record("UpdateMetadata %s/%s labels=%s annotations=%s overwrite=%t", namespace, name, patchString(patch.Labels), patchString(patch.Annotations), patch.Overwrite)
	p, err := f.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	apply := func(cur map[string]string, set map[string]*string) (map[string]string, error) {
		out := maps.Clone(cur)
		if out == nil {
			out = map[string]string{}
		}
		for k, v := range set {
			switch old, ok := out[k]; {
			case v == nil:
				delete(out, k)
			case ok && old != *v && !patch.Overwrite:
				return nil, fmt.Errorf("'%s' already has a value (%s), and --overwrite is false: %w", k, old, errdefs.ErrFailedPrecondition)
			default:
				out[k] = *v
			}
		}
		return out, nil
	}
	labels, err := apply(p.Metadata.Labels, patch.Labels)
	if err != nil {
		return nil, err
	}
	annotations, err := apply(p.Metadata.Annotations, patch.Annotations)
	if err != nil {
		return nil, err
	}
	p.Metadata.Labels, p.Metadata.Annotations = labels, annotations
	return p, nil
}

func patchString(m map[string]*string) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if s != "" {
			s += ","
		}
		if m[k] == nil {
			s += k + "-"
		} else {
			s += k + "=" + *m[k]
		}
	}
	return s
}
