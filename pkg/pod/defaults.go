package pod

import "strings"

// Kubernetes' defaults that podd applies too.
const (
	DefaultNamespace                     = "default"
	DefaultTerminationGracePeriodSeconds = int64(30)
	DefaultServiceAccountName            = "default"
)

// SetDefaults fills in what Kubernetes' API server fills in when a pod is created, so that a pod
// behaves the same under podd as under the kubelet. It only sets fields that are unset; Validate
// expects a pod that went through it.
func SetDefaults(p *Pod) {
	if p.APIVersion == "" {
		p.APIVersion = "v1"
	}
	if p.Kind == "" {
		p.Kind = "Pod"
	}
	if p.Metadata.Namespace == "" {
		p.Metadata.Namespace = DefaultNamespace
	}
	if p.Spec.RestartPolicy == "" {
		p.Spec.RestartPolicy = RestartAlways
	}
	// As the API server's conversion (serviceAccountName wins over its deprecated alias) and its
	// ServiceAccount admission (an empty name is "default") do.
	if p.Spec.ServiceAccountName == "" {
		p.Spec.ServiceAccountName = p.Spec.DeprecatedServiceAccount
	}
	if p.Spec.ServiceAccountName == "" {
		p.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	p.Spec.DeprecatedServiceAccount = p.Spec.ServiceAccountName
	if p.Spec.TerminationGracePeriodSeconds == nil {
		grace := DefaultTerminationGracePeriodSeconds
		p.Spec.TerminationGracePeriodSeconds = &grace
	}
	for i := range p.Spec.InitContainers {
		setContainerDefaults(&p.Spec.InitContainers[i], p.Spec.HostNetwork)
	}
	for i := range p.Spec.Containers {
		setContainerDefaults(&p.Spec.Containers[i], p.Spec.HostNetwork)
	}
	for i := range p.Spec.Volumes {
		if hp := p.Spec.Volumes[i].HostPath; hp != nil && hp.Type == nil {
			unset := HostPathUnset
			hp.Type = &unset
		}
		if d := p.Spec.Volumes[i].DownwardAPI; d != nil {
			setDownwardAPIDefaults(d)
		}
		setConfigVolumeDefaults(&p.Spec.Volumes[i])
	}
}

func setContainerDefaults(c *Container, hostNetwork bool) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	setResourceDefaults(&c.Resources)
	for i := range c.Ports {
		port := &c.Ports[i]
		if port.Protocol == "" {
			port.Protocol = "TCP"
		}
		// In the host's network namespace a container port is a host port; Kubernetes says so
		// explicitly, which lets Validate find two containers that want the same one.
		if hostNetwork && port.HostPort == 0 {
			port.HostPort = port.ContainerPort
		}
	}
	for i := range c.Env {
		if ref := fieldRefOf(c.Env[i]); ref != nil && ref.APIVersion == "" {
			ref.APIVersion = "v1"
		}
	}
	for _, probe := range []*Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		setProbeDefaults(probe)
	}
	if c.Lifecycle != nil {
		for _, h := range []*LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				setHTTPGetDefaults(h.HTTPGet)
			}
		}
	}
}

// setProbeDefaults applies Kubernetes' timing. The fields are not pointers, so 0 stands for
// unset, as in Kubernetes.
func setProbeDefaults(p *Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	setHTTPGetDefaults(p.HTTPGet)
}

func setHTTPGetDefaults(h *HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = "HTTP"
	}
}

func fieldRefOf(e EnvVar) *ObjectFieldSelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.FieldRef
}

// defaultPullPolicy is Kubernetes' rule: a floating tag (latest, or none, which means latest) is
// pulled every time; a fixed tag or a digest only when the image is missing. A digest pins the
// content even next to a "latest" tag.
func defaultPullPolicy(image string) PullPolicy {
	if strings.Contains(image, "@") {
		return PullIfNotPresent
	}
	// The tag follows the last ':' after the last '/': in "localhost:5000/app" the ':' belongs to
	// the registry's port and the image has no tag.
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, tagged := strings.Cut(name, ":")
	if !tagged || tag == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}
