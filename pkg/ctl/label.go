package ctl

import (
	"context"
	"fmt"
	"strings"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// MetadataKind says which map podctl label and podctl annotate change.
type MetadataKind string

const (
	KindLabels      MetadataKind = "label"
	KindAnnotations MetadataKind = "annotate"
)

// LabelOptions are podctl label's and podctl annotate's.
type LabelOptions struct {
	Kind      MetadataKind
	Namespace string
	Name      string
	// Changes are kubectl's: KEY=VALUE sets, KEY- removes.
	Changes   []string
	Overwrite bool
	Output    Format
}

// ParseMetadataChanges reads KEY=VALUE and KEY- arguments; keys and values are checked by podd,
// which names the ones it refuses.
func ParseMetadataChanges(verb string, args []string) (map[string]*string, error) {
	out := make(map[string]*string, len(args))
	for _, a := range args {
		var (
			key   string
			value *string
		)
		if k, v, ok := strings.Cut(a, "="); ok {
			key, value = k, &v
		} else if k, ok := strings.CutSuffix(a, "-"); ok {
			key = k
		} else {
			return nil, Usagef("%s: %q: want KEY=VALUE to set or KEY- to remove", verb, a)
		}
		if key == "" {
			return nil, Usagef("%s: %q: the key is empty", verb, a)
		}
		if prev, seen := out[key]; seen && (prev == nil) != (value == nil) || seen && prev != nil && value != nil && *prev != *value {
			return nil, Usagef("%s: %q is both changed and removed or given two values", verb, key)
		}
		out[key] = value
	}
	return out, nil
}

// Label changes a pod's labels (podctl label) or annotations (podctl annotate) in place: its
// containers keep running.
func Label(ctx context.Context, c *api.Client, o LabelOptions, s Streams) error {
	verb := string(o.Kind)
	if o.Name == "" {
		return Usagef("%s: missing POD argument", verb)
	}
	if len(o.Changes) == 0 {
		return Usagef("%s: at least one change is required: KEY=VALUE or KEY-", verb)
	}
	changes, err := ParseMetadataChanges(verb, o.Changes)
	if err != nil {
		return err
	}
	patch := pod.MetadataPatch{Overwrite: o.Overwrite}
	past := "labeled"
	if o.Kind == KindAnnotations {
		patch.Annotations, past = changes, "annotated"
	} else {
		patch.Labels = changes
	}
	p, err := c.PatchMetadata(ctx, o.Namespace, o.Name, patch)
	if err != nil {
		return err
	}
	if o.Output.structured() {
		return Print(s.Out, o.Output, p, nil)
	}
	fmt.Fprintf(s.Out, "pod/%s %s\n", o.Name, past)
	return nil
}
