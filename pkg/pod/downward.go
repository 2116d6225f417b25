package pod

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// DownwardAPIVolumeSource is a volume of files that hold the pod's own fields; podd rewrites them
// atomically when the pod's labels or annotations change.
type DownwardAPIVolumeSource struct {
	Items []DownwardAPIVolumeFile `json:"items,omitempty"`
	// DefaultMode is the files' mode unless an item sets its own (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
}

// DownwardAPIVolumeFile is one file of a downwardAPI volume: exactly one source.
type DownwardAPIVolumeFile struct {
	// Path is relative to the volume; it may hold folders (a/b) but no "..".
	Path             string                 `json:"path"`
	FieldRef         *ObjectFieldSelector   `json:"fieldRef,omitempty"`
	ResourceFieldRef *ResourceFieldSelector `json:"resourceFieldRef,omitempty"`
	Mode             *int32                 `json:"mode,omitempty"`
}

// ResourceFieldSelector selects a container's resource limit or request (Kubernetes' shape).
type ResourceFieldSelector struct {
	ContainerName string    `json:"containerName,omitempty"`
	Resource      string    `json:"resource"`
	Divisor       *Quantity `json:"divisor,omitempty"`
}

// DefaultDownwardAPIMode is Kubernetes' mode of a downwardAPI file.
const DefaultDownwardAPIMode int32 = 0o644

// VolumeFile is one file that a volume's content (downwardAPI) consists of.
type VolumeFile struct {
	Data []byte
	Mode int32
}

// volumeFieldPaths are the fields a downwardAPI volume offers whole, as in Kubernetes (labels and
// annotations as a file of key="value" lines); a single label or annotation is offered too.
var volumeFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations"}

// DownwardAPIFiles is the content of a downwardAPI volume for the pod as it is now: path → file.
// node is the host's capacity, the limit reported for a container without one.
func DownwardAPIFiles(p *Pod, src *DownwardAPIVolumeSource, node NodeCapacity) (map[string]VolumeFile, error) {
	mode := DefaultDownwardAPIMode
	if src.DefaultMode != nil {
		mode = *src.DefaultMode
	}
	files := make(map[string]VolumeFile, len(src.Items))
	for i, it := range src.Items {
		f := VolumeFile{Mode: mode}
		if it.Mode != nil {
			f.Mode = *it.Mode
		}
		switch {
		case it.FieldRef != nil:
			v, err := volumeFieldValue(p, it.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("items[%d].fieldRef: %w", i, err)
			}
			f.Data = []byte(v)
		case it.ResourceFieldRef != nil:
			v, err := ResourceFieldValue(p, it.ResourceFieldRef, "", node)
			if err != nil {
				return nil, fmt.Errorf("items[%d]: %w", i, err)
			}
			f.Data = []byte(v)
		default:
			return nil, fmt.Errorf("items[%d]: no source: %w", i, errdefs.ErrInvalidArgument)
		}
		files[path.Clean(it.Path)] = f
	}
	return files, nil
}

func volumeFieldValue(p *Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.labels":
		return FormatMap(p.Metadata.Labels), nil
	case "metadata.annotations":
		return FormatMap(p.Metadata.Annotations), nil
	case "metadata.name", "metadata.namespace", "metadata.uid":
		return fieldRefValue(p, &ObjectFieldSelector{FieldPath: fieldPath})
	}
	if field, _, ok := splitSubscript(fieldPath); ok && (field == "metadata.labels" || field == "metadata.annotations") {
		return fieldRefValue(p, &ObjectFieldSelector{FieldPath: fieldPath})
	}
	return "", fmt.Errorf("fieldPath %q: not supported in a downwardAPI volume: %w", fieldPath, errdefs.ErrInvalidArgument)
}

// FormatMap writes labels or annotations as the kubelet does in a downwardAPI file: one
// key="value" line per entry, sorted by key, the value quoted and escaped as Go's %q does, and no
// newline after the last line.
func FormatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// HasDownwardAPIVolume reports whether the pod has a volume that follows its metadata.
// A projected volume with a downwardAPI source counts.
func HasDownwardAPIVolume(p *Pod) bool {
	return slices.ContainsFunc(p.Spec.Volumes, func(v Volume) bool {
		return v.DownwardAPI != nil || v.Projected != nil && slices.ContainsFunc(v.Projected.Sources, func(s VolumeProjection) bool { return s.DownwardAPI != nil })
	})
}

func checkDownwardAPI(errs *ErrorList, field string, src *DownwardAPIVolumeSource, containers []string) {
	checkMode(errs, field+".defaultMode", src.DefaultMode)
	paths := map[string]bool{}
	for i, it := range src.Items {
		f := fmt.Sprintf("%s.items[%d]", field, i)
		switch p := it.Path; {
		case p == "":
			errs.required(f+".path", "")
		case path.IsAbs(p):
			errs.invalid(f+".path", p, "must be a relative path")
		case hasBackstep(p):
			errs.invalid(f+".path", p, "must not contain '..'")
		case strings.HasPrefix(p, ".."):
			errs.invalid(f+".path", p, "must not start with '..'")
		case paths[path.Clean(p)]:
			errs.duplicate(f+".path", p)
		}
		paths[path.Clean(it.Path)] = true
		checkMode(errs, f+".mode", it.Mode)
		if it.ResourceFieldRef != nil {
			if it.FieldRef != nil {
				errs.forbidden(f, "fieldRef and resourceFieldRef may not both be specified")
				continue
			}
			checkResourceFieldRef(errs, f+".resourceFieldRef", it.ResourceFieldRef, "", containers)
			continue
		}
		if it.FieldRef == nil {
			errs.required(f+".fieldRef", "must specify fieldRef or resourceFieldRef")
			continue
		}
		checkConstant(errs, f+".fieldRef.apiVersion", it.FieldRef.APIVersion, "v1")
		fp := it.FieldRef.FieldPath
		if slices.Contains(volumeFieldPaths, fp) {
			continue
		}
		if field, _, ok := splitSubscript(fp); ok && (field == "metadata.labels" || field == "metadata.annotations") {
			checkFieldPath(errs, f+".fieldRef.fieldPath", fp)
			continue
		}
		if fp == "" {
			errs.required(f+".fieldRef.fieldPath", "")
			continue
		}
		errs.unsupported(f+".fieldRef.fieldPath", fp, slices.Concat(volumeFieldPaths, []string{"metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"})...)
	}
}

func checkMode(errs *ErrorList, field string, mode *int32) {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		errs.invalid(field, *mode, "must be a number between 0 and 0777 (octal), both inclusive")
	}
}

func setDownwardAPIDefaults(d *DownwardAPIVolumeSource) {
	if d.DefaultMode == nil {
		m := DefaultDownwardAPIMode
		d.DefaultMode = &m
	}
	for i := range d.Items {
		if ref := d.Items[i].FieldRef; ref != nil && ref.APIVersion == "" {
			ref.APIVersion = "v1"
		}
	}
}
