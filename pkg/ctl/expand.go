package ctl

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/patterns"
)

// ExpandOptions are podctl expand's.
type ExpandOptions struct {
	// Files are manifests, folders of manifests or "-" for stdin, as apply reads them.
	Files     []string
	Recursive bool
	// Output is yaml (the default) or json.
	Output Format
	// Image is the helpers' image (--patterns-image; default the one of podctl's own version).
	Image string
}

// Expand prints the objects of the manifests with the helpers their annotations ask for
// injected, as podd stores and runs them (pkg/patterns), without asking podd: the output runs
// on podd and on any Kubernetes cluster. Every file is read and expanded before anything is
// printed, so a refused file prints nothing.
func Expand(o ExpandOptions, s Streams) error {
	switch o.Output {
	case FormatTable, "":
		o.Output = FormatYAML
	case FormatYAML, FormatJSON:
	default:
		return Usagef("expand: --output %q: want yaml or json", o.Output)
	}
	files, err := readManifests(o.Files, o.Recursive, s.In)
	if err != nil {
		return err
	}
	var (
		all  []object.Object
		errs []error
	)
	for _, f := range files {
		objs, err := manifest.DecodeObjects(f.data)
		if err == nil {
			objs, err = patterns.ExpandAll(objs, patterns.Options{Image: o.Image})
		}
		if err != nil {
			errs = append(errs, fileError(f.name, len(files), err))
			continue
		}
		all = append(all, objs...)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return PrintDocuments(s.Out, o.Output, all)
}

// PrintDocuments writes objects as a stream of YAML (or JSON) documents separated by "---",
// which podctl apply, podd's manifests folder and kubectl all read.
func PrintDocuments(w io.Writer, f Format, objs []object.Object) error {
	for i, obj := range objs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		var (
			b   []byte
			err error
		)
		if f == FormatJSON {
			b, err = json.MarshalIndent(obj, "", "    ")
			b = append(b, '\n')
		} else {
			b, err = toYAML(obj)
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
