package pod

import (
	"fmt"
	"strconv"
	"strings"
)

// The effective security settings of a container: its own securityContext's value where set,
// else the pod's, as in Kubernetes.

// EffectiveRunAsUser is the container's runAsUser, else the pod's; nil leaves the image's user.
func EffectiveRunAsUser(ps *PodSpec, c *Container) *int64 {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return c.SecurityContext.RunAsUser
	}
	if ps.SecurityContext != nil {
		return ps.SecurityContext.RunAsUser
	}
	return nil
}

// EffectiveRunAsGroup is the container's runAsGroup, else the pod's.
func EffectiveRunAsGroup(ps *PodSpec, c *Container) *int64 {
	if c.SecurityContext != nil && c.SecurityContext.RunAsGroup != nil {
		return c.SecurityContext.RunAsGroup
	}
	if ps.SecurityContext != nil {
		return ps.SecurityContext.RunAsGroup
	}
	return nil
}

// EffectiveRunAsNonRoot is the container's runAsNonRoot, else the pod's.
func EffectiveRunAsNonRoot(ps *PodSpec, c *Container) *bool {
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		return c.SecurityContext.RunAsNonRoot
	}
	if ps.SecurityContext != nil {
		return ps.SecurityContext.RunAsNonRoot
	}
	return nil
}

// EffectiveSeccompProfile is the container's seccompProfile, else the pod's; nil when neither
// sets one (podd then applies RuntimeDefault).
func EffectiveSeccompProfile(ps *PodSpec, c *Container) *SeccompProfile {
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		return c.SecurityContext.SeccompProfile
	}
	if ps.SecurityContext != nil {
		return ps.SecurityContext.SeccompProfile
	}
	return nil
}

// IsPrivileged reports whether the container sets securityContext.privileged=true.
func IsPrivileged(c *Container) bool {
	return c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
}

// CapabilityName is a capability as the OCI spec names it: upper case, with the CAP_ prefix;
// "ALL" stays "ALL".
func CapabilityName(c Capability) string {
	s := strings.ToUpper(string(c))
	if s == "ALL" || strings.HasPrefix(s, "CAP_") {
		return s
	}
	return "CAP_" + s
}

// SecurityPlan is what the runtime applies of a container's securityContext.
type SecurityPlan struct {
	// Privileged: every capability podd has, the host's devices, no seccomp filter, writable
	// /sys and no masked paths.
	Privileged bool
	// NoNewPrivileges is set when allowPrivilegeEscalation is false.
	NoNewPrivileges bool
	// CapAdd and CapDrop are OCI names (CAP_NET_ADMIN) or ALL, applied to the runtime's default
	// set: ALL added, then ALL dropped, then the named ones added, then the named ones dropped,
	// as containerd's CRI does.
	CapAdd, CapDrop []string
	// Unconfined turns the seccomp filter off; otherwise RuntimeDefault applies.
	Unconfined bool
	// SupplementalGroups are the process's additional groups: the pod's fsGroup, then its
	// supplementalGroups.
	SupplementalGroups []uint32
}

func buildSecurityPlan(ps *PodSpec, c *Container) SecurityPlan {
	var plan SecurityPlan
	plan.Privileged = IsPrivileged(c)
	if sc := c.SecurityContext; sc != nil {
		plan.NoNewPrivileges = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
		if caps := sc.Capabilities; caps != nil {
			for _, a := range caps.Add {
				plan.CapAdd = append(plan.CapAdd, CapabilityName(a))
			}
			for _, d := range caps.Drop {
				plan.CapDrop = append(plan.CapDrop, CapabilityName(d))
			}
		}
	}
	if sp := EffectiveSeccompProfile(ps, c); plan.Privileged || sp != nil && sp.Type == SeccompProfileUnconfined {
		plan.Unconfined = true
	}
	if psc := ps.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			plan.SupplementalGroups = append(plan.SupplementalGroups, uint32(*psc.FSGroup))
		}
		for _, g := range psc.SupplementalGroups {
			plan.SupplementalGroups = append(plan.SupplementalGroups, uint32(g))
		}
	}
	return plan
}

// checkRunAsNonRoot is the kubelet's check before it creates a container whose effective
// runAsNonRoot is true: the user it will run as must be known and not root. Its error becomes
// the container's CreateContainerConfigError.
func checkRunAsNonRoot(p *Pod, c *Container, imageUser string) error {
	nonRoot := EffectiveRunAsNonRoot(&p.Spec, c)
	if nonRoot == nil || !*nonRoot {
		return nil
	}
	where := fmt.Sprintf("(pod: %q, container: %s)", p.Metadata.Namespace+"/"+p.Metadata.Name, c.Name)
	if uid := EffectiveRunAsUser(&p.Spec, c); uid != nil {
		if *uid == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy: securityContext.runAsNonRoot is true and securityContext.runAsUser is 0 %s", where)
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" {
		return fmt.Errorf("container has runAsNonRoot and image will run as root: securityContext.runAsNonRoot is true, the image sets no USER and securityContext.runAsUser is not set %s", where)
	}
	uid, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root: set securityContext.runAsUser %s", user, where)
	}
	if uid == 0 {
		return fmt.Errorf("container has runAsNonRoot and image will run as root: securityContext.runAsNonRoot is true and the image's USER is %s %s", imageUser, where)
	}
	return nil
}
