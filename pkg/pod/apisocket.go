package pod

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// AnnotationAPISocket asks podd for the per-pod API socket: "true" mounts it into every container
// of the pod, a comma-separated list of container names into those only. An annotation rather
// than a field keeps the manifest valid for Kubernetes, which ignores it.
const AnnotationAPISocket = "podd.io/api-socket"

// APISocketMountPath is where a container that asked for it finds the per-pod API socket's
// folder; the socket is podd.sock in it, so podctl inside the container finds it by default.
const APISocketMountPath = "/run/podd"

// WantsAPISocket reports whether the pod asked for the per-pod API socket in that container
// ("" = in any container).
func WantsAPISocket(p *Pod, container string) bool {
	v := strings.TrimSpace(p.Metadata.Annotations[AnnotationAPISocket])
	switch v {
	case "", "false":
		return false
	case "true":
		return true
	}
	if container == "" {
		return true
	}
	for _, name := range strings.Split(v, ",") {
		if strings.TrimSpace(name) == container {
			return true
		}
	}
	return false
}

func checkAPISocket(p *Pod, errs *ErrorList) {
	v, ok := p.Metadata.Annotations[AnnotationAPISocket]
	if !ok {
		return
	}
	field := "metadata.annotations[" + AnnotationAPISocket + "]"
	var names []string
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		names = append(names, c.Name)
	}
	switch v = strings.TrimSpace(v); v {
	case "true", "false":
	case "":
		errs.invalid(field, v, `must be "true", "false" or a comma-separated list of container names`)
	default:
		for _, name := range strings.Split(v, ",") {
			if !slices.Contains(names, strings.TrimSpace(name)) {
				errs.invalid(field, v, fmt.Sprintf("%q is not a container of the pod (want \"true\", \"false\" or container names)", strings.TrimSpace(name)))
			}
		}
	}
	each := func(list []Container, kind string) {
		for i, c := range list {
			if !WantsAPISocket(p, c.Name) {
				continue
			}
			for j, m := range c.VolumeMounts {
				if path.Clean(m.MountPath) == APISocketMountPath {
					errs.invalid(fmt.Sprintf("spec.%s[%d].volumeMounts[%d].mountPath", kind, i, j), m.MountPath,
						"is where the per-pod API socket is mounted ("+AnnotationAPISocket+")")
				}
			}
		}
	}
	each(p.Spec.InitContainers, "initContainers")
	each(p.Spec.Containers, "containers")
}
