package patterns

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// container makes the native sidecar of helper h from its settings, and the volumes it adds to
// the pod.
func (e *expansion) container(h *Helper, settings map[string]string) (pod.Container, []pod.Volume, error) {
	key := func(setting string) string { return h.Name + settingDomain + "/" + setting }
	name := ContainerPrefix + h.Name
	c := pod.Container{
		Name:            name,
		Image:           e.opts.Image,
		ImagePullPolicy: pod.PullIfNotPresent,
		RestartPolicy:   ptr(pod.RestartAlways),
	}
	var errs []error
	fail := func(setting, format string, args ...any) {
		errs = append(errs, e.fail(key(setting), format, args...))
	}

	// A container of the user's with the helper's name: a clash, unless an earlier expansion
	// made it (strip removed those).
	for _, list := range [][]pod.Container{e.spec.InitContainers, e.spec.Containers} {
		for _, uc := range list {
			if uc.Name == name {
				errs = append(errs, e.fail(AnnotationInject, "the pod already has a container named %q: the helper %s would be that container", name, h.Name))
			}
		}
	}

	values := map[string]string{}
	for _, setting := range sortedKeys(settings) {
		value := settings[setting]
		switch setting {
		case keyVolumes, keyCPU, keyMemory, keyImage, keyConfig:
			continue
		case keyWorkers:
			if h.Workers != nil {
				continue
			}
		}
		f, ok := h.Flag(setting)
		if !ok {
			fail(setting, "unknown setting of %s: want a flag (%s) or %s", h.Name, flagNames(h), strings.Join([]string{keyVolumes, keyCPU, keyMemory, keyImage, keyConfig}, ", "))
			continue
		}
		if err := checkValue(f.Kind, value); err != nil {
			fail(setting, "%q: %v", value, err)
			continue
		}
		values[setting] = value
	}
	if h.Derive != nil {
		for setting, value := range h.Derive(values, e.spec) {
			if _, set := values[setting]; !set {
				values[setting] = value
			}
		}
	}

	// Resources: requests = limits (but a helper's default CPULimit).
	res := pod.ResourceList{}
	for _, r := range []struct{ setting, resource, def string }{{keyCPU, pod.ResourceCPU, h.CPU}, {keyMemory, pod.ResourceMemory, h.Memory}} {
		v, ok := settings[r.setting]
		if !ok {
			v = r.def
		}
		q, err := pod.ParseQuantity(v)
		if err != nil {
			fail(r.setting, "%q: %v", v, err)
			continue
		}
		if q.Sign() <= 0 {
			fail(r.setting, "%q: must be greater than 0", v)
			continue
		}
		res[r.resource] = q
	}
	c.Resources = pod.ResourceRequirements{Limits: res, Requests: copyList(res)}
	if _, set := settings[keyCPU]; !set && h.CPULimit != "" {
		c.Resources.Limits[pod.ResourceCPU] = pod.MustParseQuantity(h.CPULimit)
	}

	if h.Variant != nil {
		c.Image = VariantImage(c.Image, h.Variant(settings))
	}
	if v, ok := settings[keyImage]; ok {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t\n") {
			fail(keyImage, "%q: not an image reference", v)
		} else {
			c.Image = v
		}
	}

	// Volumes of the pod's own, mounted into the helper.
	podVolumes := map[string]bool{}
	for _, v := range e.spec.Volumes {
		podVolumes[v.Name] = true
	}
	mountPaths := map[string]bool{}
	if v, ok := settings[keyVolumes]; ok {
		mounts, err := parseVolumes(v, podVolumes)
		if err != nil {
			fail(keyVolumes, "%q: %v", v, err)
		}
		for _, m := range mounts {
			mountPaths[m.MountPath] = true
		}
		c.VolumeMounts = append(c.VolumeMounts, mounts...)
	}

	// The helper's ConfigMap: NAME/KEY.
	var volumes []pod.Volume
	if v, ok := settings[keyConfig]; ok {
		cm, file, found := strings.Cut(v, "/")
		dir := ConfigDir + "/" + h.Name
		switch {
		case h.ConfigFlag == "":
			fail(keyConfig, "%s reads no configuration file", h.Name)
		case !found || cm == "" || file == "" || strings.Contains(file, "/") || file == "." || file == "..":
			fail(keyConfig, "%q: want CONFIGMAP/KEY, the ConfigMap's name and the key of its file", v)
		case values[h.ConfigFlag] != "":
			fail(keyConfig, "not with %s: both name the configuration file", key(h.ConfigFlag))
		case podVolumes[configVolume(h.Name)]:
			fail(keyConfig, "the pod already has a volume named %q", configVolume(h.Name))
		case mountPaths[dir]:
			fail(keyVolumes, "%s is where %s mounts the ConfigMap", dir, key(keyConfig))
		default:
			if errs := pod.ConfigKeyErrors(file); len(errs) > 0 {
				fail(keyConfig, "%q: key %q: %s", v, file, strings.Join(errs, "; "))
				break
			}
			volumes = append(volumes, pod.Volume{Name: configVolume(h.Name), ConfigMap: &pod.ConfigMapVolumeSource{Name: cm}})
			c.VolumeMounts = append(c.VolumeMounts, pod.VolumeMount{Name: configVolume(h.Name), MountPath: dir, ReadOnly: true})
			values[h.ConfigFlag] = dir + "/" + file
		}
	}

	for _, group := range h.Required {
		set := false
		for _, name := range group {
			set = set || values[name] != ""
		}
		if !set {
			alternatives := make([]string, len(group))
			for i, name := range group {
				alternatives[i] = key(name)
			}
			fail(group[0], "missing: %s does not start without %s", h.Name, strings.Join(alternatives, " or "))
		}
	}

	// Arguments: the subcommand, then the flags in the table's order.
	c.Args = []string{h.Name}
	for _, f := range h.Flags {
		v, ok := values[f.Name]
		if !ok {
			continue
		}
		if f.Kind == List {
			for _, item := range splitList(v) {
				c.Args = append(c.Args, "--"+f.Name+"="+item)
			}
			continue
		}
		c.Args = append(c.Args, "--"+f.Name+"="+strings.TrimSpace(v))
	}

	// Ports, from the flags' values or the helper's defaults, and the probe.
	ports := map[string]int32{}
	anyHost := map[string]bool{}
	for _, p := range h.Ports {
		addr, ok := values[p.Flag]
		if !ok {
			f, _ := h.Flag(p.Flag)
			addr = f.Default
		}
		if addr == "" {
			continue
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			fail(p.Flag, "%q: %v", addr, err)
			continue
		}
		if owner, clash := e.portOwner(port); clash {
			fail(p.Flag, "port %d is already a port of container %s", port, owner)
			continue
		}
		if other, clash := portsTaken(ports, port); clash {
			fail(p.Flag, "port %d is also the helper's %s port", port, other)
			continue
		}
		ports[p.Name] = port
		anyHost[p.Name] = host == "" || host == "0.0.0.0" || host == "::"
		c.Ports = append(c.Ports, pod.ContainerPort{Name: p.Name, ContainerPort: port, Protocol: "TCP"})
	}
	if pr := h.Probe; pr != nil && ports[pr.Port] != 0 && anyHost[pr.Port] {
		probe := &pod.Probe{
			HTTPGet:          &pod.HTTPGetAction{Path: pr.Path, Port: pod.IntOrString{IsStr: true, StrVal: pr.Port}, Scheme: "HTTP"},
			TimeoutSeconds:   1,
			PeriodSeconds:    10,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		}
		if pr.Startup {
			// Polled often and for a minute: the application's containers wait for it.
			probe.PeriodSeconds, probe.FailureThreshold = 1, 60
			c.StartupProbe = probe
		} else {
			c.ReadinessProbe = probe
		}
	}
	if err := errors.Join(errs...); err != nil {
		return pod.Container{}, nil, err
	}
	return c, volumes, nil
}

// portOwner finds a container of the user's, or a helper's injected before, that declares port:
// the pod's containers share one network namespace.
func (e *expansion) portOwner(port int32) (string, bool) {
	for _, list := range [][]pod.Container{e.injected, e.spec.InitContainers, e.spec.Containers} {
		for _, c := range list {
			for _, p := range c.Ports {
				if p.ContainerPort == port && (p.Protocol == "" || p.Protocol == "TCP") {
					return c.Name, true
				}
			}
		}
	}
	return "", false
}

func portsTaken(ports map[string]int32, port int32) (string, bool) {
	for name, p := range ports {
		if p == port {
			return name, true
		}
	}
	return "", false
}

// checkValue checks an annotation's value against the flag's kind.
func checkValue(kind FlagKind, v string) error {
	switch kind {
	case Bool:
		if v != "true" && v != "false" {
			return errors.New("want true or false")
		}
	case Int:
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return errors.New("want an integer")
		}
	case Duration:
		if _, err := time.ParseDuration(strings.TrimSpace(v)); err != nil {
			return errors.New("want a duration such as 500ms, 10s or 1m")
		}
	case List:
		if strings.TrimSpace(v) == "" {
			return errors.New("want one or more items, comma-separated")
		}
		for _, item := range strings.Split(v, ",") {
			if strings.TrimSpace(item) == "" {
				return errors.New("an empty item in the list")
			}
		}
	case String:
		if strings.ContainsAny(v, "\n\r\x00") {
			return errors.New("a line break or NUL in a value")
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(item))
	}
	return out
}

// splitHostPort reads host:port (":port" for every interface).
func splitHostPort(addr string) (string, int32, error) {
	host, p, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return "", 0, errors.New("want host:port, such as 127.0.0.1:6380 or :9466")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("port %q: want 1 to 65535", p)
	}
	return host, int32(n), nil
}

// parseVolumes reads "vol:/path[:ro],...": mounts of the pod's own volumes.
func parseVolumes(v string, podVolumes map[string]bool) ([]pod.VolumeMount, error) {
	var (
		out   []pod.VolumeMount
		paths = map[string]bool{}
	)
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		parts := strings.Split(item, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("%q: want VOLUME:/PATH or VOLUME:/PATH:ro", item)
		}
		m := pod.VolumeMount{Name: parts[0], MountPath: parts[1]}
		if len(parts) == 3 {
			if parts[2] != "ro" {
				return nil, fmt.Errorf("%q: the third part may only be ro", item)
			}
			m.ReadOnly = true
		}
		switch {
		case !podVolumes[m.Name]:
			return nil, fmt.Errorf("%q is not a volume of the pod (spec.volumes)", m.Name)
		case !path.IsAbs(m.MountPath) || path.Clean(m.MountPath) != m.MountPath:
			return nil, fmt.Errorf("%q: the path must be absolute and clean", m.MountPath)
		case paths[m.MountPath]:
			return nil, fmt.Errorf("%q is mounted twice", m.MountPath)
		}
		paths[m.MountPath] = true
		out = append(out, m)
	}
	return out, nil
}

func flagNames(h *Helper) string {
	names := make([]string, len(h.Flags))
	for i, f := range h.Flags {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func copyList(l pod.ResourceList) pod.ResourceList {
	out := make(pod.ResourceList, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

func ptr[T any](v T) *T { return &v }
