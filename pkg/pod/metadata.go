package pod

import (
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
func ApplyMetadataPatch(meta ObjectMeta, patch MetadataPatch) (ObjectMeta, string, error) {
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
	var verrs ErrorList
	checkMetadata(probe, &verrs)
	checkLeaderFence(probe, &verrs)
	if len(verrs) > 0 {
		joined := make([]error, len(verrs))
		for i, e := range verrs {
			joined[i] = e
		}
		return meta, "", errors.Join(joined...)
	}
	return next, strings.Join(changes, ", "), nil
}
