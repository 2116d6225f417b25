package pod

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// ResolveEnv is the environment of the container's process: the image's Env, with the container's
// own variables replacing those of the same name in place and the others appended in the order
// the container declares them.
//
// Each value is resolved as the kubelet does it: $(VAR) refers only to the container's variables
// declared before it (never the image's, which the kubelet does not know: $(PATH) stays as
// written), and valueFrom.fieldRef takes the value from the pod's metadata without expanding it.
// A name declared twice keeps its first place and its last value; the kubelet's order is that of
// a Go map, so any order is Kubernetes' and this one is at least stable.
func ResolveEnv(p *Pod, c *Container, img *ImageConfig, node NodeCapacity) ([]string, error) {
	return ResolveEnvFrom(p, c, img, node, nil)
}

// ResolveEnvFrom is ResolveEnv with the ConfigMaps and Secrets of envFrom, configMapKeyRef and
// secretKeyRef taken from configs, as the kubelet does: envFrom first (each source's keys in
// order, the prefix before each), then env, whose values may refer to envFrom's with $(VAR). An
// optional reference that is missing leaves its variables unset; a missing one that is not
// optional is an error wrapping ErrConfigMissing (the container waits for it). The error never
// holds a value.
func ResolveEnvFrom(p *Pod, c *Container, img *ImageConfig, node NodeCapacity, configs ConfigSource) ([]string, error) {
	own, err := containerEnv(p, c, node, configs)
	if err != nil {
		return nil, err
	}
	var base []string
	if img != nil {
		base = img.Env
	}
	return mergeEnv(base, own), nil
}

func containerEnv(p *Pod, c *Container, node NodeCapacity, configs ConfigSource) ([]string, error) {
	values := make(map[string]string, len(c.Env))
	order := make([]string, 0, len(c.Env))
	mapping := func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
	if len(c.EnvFrom) > 0 {
		from, err := envFromConfigs(p, c, configs)
		if err != nil {
			return nil, err
		}
		for _, kv := range from {
			if _, seen := values[kv[0]]; !seen {
				order = append(order, kv[0])
			}
			values[kv[0]] = kv[1]
		}
	}
	for i, ev := range c.Env {
		var v string
		switch {
		// A value wins over valueFrom, as in the kubelet; validation rejects setting both.
		case ev.Value != "":
			v = Expand(ev.Value, mapping)
		case ev.ValueFrom == nil:
		case ev.ValueFrom.ConfigMapKeyRef != nil || ev.ValueFrom.SecretKeyRef != nil:
			var (
				ok  bool
				err error
			)
			if v, ok, err = keyRefValue(p, ev.ValueFrom, configs); err != nil {
				return nil, err
			}
			if !ok {
				continue // optional and missing: unset, as the kubelet leaves it
			}
		case ev.ValueFrom.ResourceFieldRef != nil:
			var err error
			if v, err = ResourceFieldValue(p, ev.ValueFrom.ResourceFieldRef, c.Name, node); err != nil {
				return nil, fmt.Errorf("%s.valueFrom: %w", envFieldPath(p, c, i), err)
			}
		case ev.ValueFrom.FieldRef == nil:
			return nil, fmt.Errorf("%s.valueFrom: no source podd supports: %w", envFieldPath(p, c, i), errdefs.ErrInvalidArgument)
		default:
			var err error
			if v, err = fieldRefValue(p, ev.ValueFrom.FieldRef); err != nil {
				return nil, fmt.Errorf("%s.valueFrom.fieldRef: %w", envFieldPath(p, c, i), err)
			}
		}
		if _, seen := values[ev.Name]; !seen {
			order = append(order, ev.Name)
		}
		values[ev.Name] = v
	}
	env := make([]string, len(order))
	for i, name := range order {
		env[i] = name + "=" + values[name]
	}
	return env, nil
}

// fieldRefValue is the downward API for env: the pod fields the kubelet offers there that podd
// has. spec.nodeName is the name podd runs under (podd --node-name, the hostname by default);
// spec.serviceAccountName the pod's own (SetDefaults makes it "default").
func fieldRefValue(p *Pod, ref *ObjectFieldSelector) (string, error) {
	if ref.APIVersion != "" && ref.APIVersion != "v1" {
		return "", fmt.Errorf("apiVersion: unsupported %q, only v1: %w", ref.APIVersion, errdefs.ErrInvalidArgument)
	}
	if p == nil {
		return "", fmt.Errorf("fieldPath %q: no pod to read it from: %w", ref.FieldPath, errdefs.ErrInvalidArgument)
	}
	if field, key, ok := splitSubscript(ref.FieldPath); ok {
		var m map[string]string
		switch field {
		case "metadata.labels":
			m = p.Metadata.Labels
		case "metadata.annotations":
			m = p.Metadata.Annotations
		default:
			return "", fmt.Errorf("fieldPath %q: %s takes no subscript: %w", ref.FieldPath, field, errdefs.ErrInvalidArgument)
		}
		// A missing key is an empty value, not an error, as in Kubernetes: labels come and go.
		return m[key], nil
	}
	switch ref.FieldPath {
	case "metadata.name":
		return p.Metadata.Name, nil
	case "metadata.namespace":
		return p.Metadata.Namespace, nil
	case "metadata.uid":
		return p.Metadata.UID, nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	// The addresses are known before any container is created: the sandbox comes first.
	case "status.podIP":
		return p.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, len(p.Status.PodIPs))
		for i, ip := range p.Status.PodIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	case "status.hostIP":
		return p.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, len(p.Status.HostIPs))
		for i, ip := range p.Status.HostIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("fieldPath %q: not supported in env by podd (metadata.name, metadata.namespace, metadata.uid, metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName, spec.serviceAccountName, status.podIP(s), status.hostIP(s) are): %w",
		ref.FieldPath, errdefs.ErrInvalidArgument)
}

// splitSubscript splits "metadata.labels['app']" into "metadata.labels" and "app". Only single
// quotes are Kubernetes' syntax, so `["app"]` is no subscript and ends as an unsupported path.
func splitSubscript(fieldPath string) (field, key string, ok bool) {
	rest, ok := strings.CutSuffix(fieldPath, "']")
	if !ok {
		return "", "", false
	}
	field, key, ok = strings.Cut(rest, "['")
	if !ok || field == "" || key == "" {
		return "", "", false
	}
	return field, key, true
}

// envFieldPath names c.Env[i] the way validation errors do.
func envFieldPath(p *Pod, c *Container, i int) string {
	if p != nil {
		for j := range p.Spec.Containers {
			if &p.Spec.Containers[j] == c || p.Spec.Containers[j].Name == c.Name {
				return fmt.Sprintf("spec.containers[%d].env[%d]", j, i)
			}
		}
	}
	return fmt.Sprintf("container %q env[%d]", c.Name, i)
}

// mergeEnv lays overrides over base as containerd does for the image's and the container's env:
// a name already in base is replaced where it stands, a new one is appended.
func mergeEnv(base, overrides []string) []string {
	out := make([]string, 0, len(base)+len(overrides))
	at := make(map[string]int, len(base)+len(overrides))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		at[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range overrides {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			out[i] = kv
			continue
		}
		at[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// ResolveArgs is the container process's argv, by Kubernetes' rules:
//
//   - command set: command and args; the image's ENTRYPOINT and CMD are ignored, even when args is
//     empty;
//   - only args set: the image's ENTRYPOINT, then args;
//   - neither: the image's ENTRYPOINT, then its CMD.
//
// $(VAR) in command and args is expanded against env (what ResolveEnv returned), but only for
// the names the container itself declares: the kubelet expands before the runtime adds the image's
// env, so $(PATH) stays as written unless the pod sets PATH. The image's ENTRYPOINT and CMD are
// never expanded.
func ResolveArgs(c *Container, img *ImageConfig, env []string) ([]string, error) {
	declared := make(map[string]bool, len(c.Env))
	for _, ev := range c.Env {
		declared[ev.Name] = true
	}
	lookup := envMapping(env)
	mapping := func(name string) (string, bool) {
		if !declared[name] {
			return "", false
		}
		return lookup(name)
	}
	expand := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = Expand(s, mapping)
		}
		return out
	}

	var argv []string
	if len(c.Command) > 0 {
		argv = append(expand(c.Command), expand(c.Args)...)
	} else {
		var entrypoint, cmd []string
		if img != nil {
			// `ENTRYPOINT [""]` is how a Dockerfile clears an inherited entrypoint; containerd
			// reads it as none rather than as a program named "".
			if !slices.Equal(img.Entrypoint, []string{""}) {
				entrypoint = img.Entrypoint
			}
			cmd = img.Cmd
		}
		argv = slices.Clone(entrypoint)
		if len(c.Args) > 0 {
			argv = append(argv, expand(c.Args)...)
		} else {
			argv = append(argv, cmd...)
		}
	}
	if len(argv) == 0 {
		ref := ""
		if img != nil {
			ref = img.Ref
		}
		return nil, fmt.Errorf("container %q: no command specified: neither the pod nor image %q sets one: %w",
			c.Name, ref, errdefs.ErrInvalidArgument)
	}
	return argv, nil
}

// ResolveWorkingDir is the container's workingDir, else the image's WORKDIR, else "/", the
// runtime's default, so that a plan says where its process starts. Kubernetes does not expand
// $(VAR) here.
func ResolveWorkingDir(c *Container, img *ImageConfig) string {
	if c.WorkingDir != "" {
		return c.WorkingDir
	}
	if img != nil && img.WorkingDir != "" {
		return img.WorkingDir
	}
	return "/"
}
