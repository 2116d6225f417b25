package podsecurity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/podd-dev/podd/pkg/pod"
)

type check func(*pod.PodSpec) []Violation

// control is one of the standards' controls: from level up, a pod must pass check. A control
// that replaces another at restricted (capabilities, seccomp) has an upTo.
type control struct {
	level Level
	upTo  Level // "" = every level from level up
	check check
}

// controls in the order of upstream's check IDs, which is the order its refusals list them in.
var controls = []control{
	{Restricted, "", checkAllowPrivilegeEscalation},
	{Baseline, Baseline, checkCapabilitiesBaseline},
	{Restricted, "", checkCapabilitiesRestricted},
	{Baseline, "", checkHostNamespaces},
	{Baseline, "", checkHostPathVolumes},
	{Baseline, "", checkHostPorts},
	{Baseline, "", checkPrivileged},
	{Restricted, "", checkRestrictedVolumes},
	{Restricted, "", checkRunAsNonRoot},
	{Restricted, "", checkRunAsUser},
	{Baseline, Baseline, checkSeccompBaseline},
	{Restricted, "", checkSeccompRestricted},
}

func one(reason string, details []string, sep string) []Violation {
	if len(details) == 0 {
		return nil
	}
	return []Violation{{Reason: reason, Detail: strings.Join(details, sep)}}
}

// Host namespaces: spec.hostNetwork (podd refuses hostPID and hostIPC other than false).
func checkHostNamespaces(spec *pod.PodSpec) []Violation {
	var details []string
	if spec.HostNetwork {
		details = append(details, "hostNetwork=true")
	}
	return one("host namespaces", details, ", ")
}

// Privileged containers: securityContext.privileged.
func checkPrivileged(spec *pod.PodSpec) []Violation {
	var names []string
	for _, c := range containers(spec) {
		if pod.IsPrivileged(c) {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return one("privileged", []string{containerNames(names) + " must not set securityContext.privileged=true"}, "")
}

// baselineCapabilities may be added at baseline: Docker's default set without NET_RAW.
var baselineCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// shortName is a capability as the standards name it: upper case, without CAP_. podd accepts
// either spelling, so both are held to the same list.
func shortName(c pod.Capability) string {
	return strings.TrimPrefix(pod.CapabilityName(c), "CAP_")
}

// forbiddenAdds checks each container's capabilities.add against allowed.
func forbiddenAdds(spec *pod.PodSpec, allowed []string) []string {
	var names []string
	var caps []string
	for _, c := range containers(spec) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			continue
		}
		bad := false
		for _, a := range c.SecurityContext.Capabilities.Add {
			if n := shortName(a); !slices.Contains(allowed, n) {
				bad = true
				if !slices.Contains(caps, n) {
					caps = append(caps, n)
				}
			}
		}
		if bad {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	q := make([]string, len(caps))
	for i, c := range caps {
		q[i] = strconv.Quote(c)
	}
	return []string{containerNames(names) + " must not include " + strings.Join(q, ", ") + " in securityContext.capabilities.add"}
}

// Capabilities (baseline): only the default set may be added.
func checkCapabilitiesBaseline(spec *pod.PodSpec) []Violation {
	return one("non-default capabilities", forbiddenAdds(spec, baselineCapabilities), "")
}

// HostPath volumes.
func checkHostPathVolumes(spec *pod.PodSpec) []Violation {
	var names []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return one("hostPath volumes", []string{pluralize("volume", "volumes", names)}, "")
}

// Host ports: no hostPort (the standards' known list of allowed ports is empty in the built-in
// admission controller, and so in podd).
func checkHostPorts(spec *pod.PodSpec) []Violation {
	var names, ports []string
	for _, c := range containers(spec) {
		uses := false
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				uses = true
				if s := strconv.Itoa(int(p.HostPort)); !slices.Contains(ports, s) {
					ports = append(ports, s)
				}
			}
		}
		if uses {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	verb, noun := "uses", "hostPort"
	if len(names) > 1 {
		verb = "use"
	}
	if len(ports) > 1 {
		noun = "hostPorts"
	}
	return one("hostPort", []string{fmt.Sprintf("%s %s %s %s", containerNames(names), verb, noun, strings.Join(ports, ", "))}, "")
}

func isUnconfined(sp *pod.SeccompProfile) bool {
	return sp != nil && sp.Type == pod.SeccompProfileUnconfined
}

// unconfinedDetails names the pod and containers that set seccompProfile.type Unconfined.
func unconfinedDetails(spec *pod.PodSpec) []string {
	var details []string
	if spec.SecurityContext != nil && isUnconfined(spec.SecurityContext.SeccompProfile) {
		details = append(details, `pod must not set securityContext.seccompProfile.type to "Unconfined"`)
	}
	var names []string
	for _, c := range containers(spec) {
		if c.SecurityContext != nil && isUnconfined(c.SecurityContext.SeccompProfile) {
			names = append(names, c.Name)
		}
	}
	if len(names) > 0 {
		details = append(details, containerNames(names)+` must not set securityContext.seccompProfile.type to "Unconfined"`)
	}
	return details
}

// Seccomp (baseline): Unconfined is forbidden.
func checkSeccompBaseline(spec *pod.PodSpec) []Violation {
	return one("seccompProfile", unconfinedDetails(spec), "; ")
}

// Volume types (restricted): of podd's volumes only emptyDir and downwardAPI.
func checkRestrictedVolumes(spec *pod.PodSpec) []Violation {
	var names []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	verb := "uses"
	if len(names) > 1 {
		verb = "use"
	}
	return one("restricted volume types", []string{pluralize("volume", "volumes", names) + " " + verb + ` restricted volume type "hostPath"`}, "")
}

// Privilege escalation (restricted): allowPrivilegeEscalation must be false.
func checkAllowPrivilegeEscalation(spec *pod.PodSpec) []Violation {
	var names []string
	for _, c := range containers(spec) {
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return one("allowPrivilegeEscalation != false", []string{containerNames(names) + " must set securityContext.allowPrivilegeEscalation=false"}, "")
}

// Running as non-root (restricted): runAsNonRoot true at the pod or in every container, and
// false nowhere.
func checkRunAsNonRoot(spec *pod.PodSpec) []Violation {
	var details []string
	podTrue := false
	if sc := spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if *sc.RunAsNonRoot {
			podTrue = true
		} else {
			details = append(details, "pod must not set securityContext.runAsNonRoot=false")
		}
	}
	var explicitFalse, unset []string
	for _, c := range containers(spec) {
		switch {
		case c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil && !*c.SecurityContext.RunAsNonRoot:
			explicitFalse = append(explicitFalse, c.Name)
		case c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil:
		case !podTrue:
			unset = append(unset, c.Name)
		}
	}
	if len(explicitFalse) > 0 {
		details = append(details, containerNames(explicitFalse)+" must not set securityContext.runAsNonRoot=false")
	}
	if len(unset) > 0 {
		details = append(details, "pod or "+containerNames(unset)+" must set securityContext.runAsNonRoot=true")
	}
	return one("runAsNonRoot != true", details, "; ")
}

// Running as a non-root user (restricted): runAsUser 0 nowhere.
func checkRunAsUser(spec *pod.PodSpec) []Violation {
	var details []string
	if sc := spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		details = append(details, "pod must not set runAsUser=0")
	}
	var names []string
	for _, c := range containers(spec) {
		if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			names = append(names, c.Name)
		}
	}
	if len(names) > 0 {
		details = append(details, containerNames(names)+" must not set runAsUser=0")
	}
	return one("runAsUser=0", details, "; ")
}

// Seccomp (restricted): RuntimeDefault (or Localhost, which podd does not implement) set at the
// pod or in every container; Unconfined nowhere. podd applies RuntimeDefault to a container that
// sets nothing, but the standard asks for the field, and so does podd at this level.
func checkSeccompRestricted(spec *pod.PodSpec) []Violation {
	details := unconfinedDetails(spec)
	podSet := spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil && !isUnconfined(spec.SecurityContext.SeccompProfile)
	var unset []string
	for _, c := range containers(spec) {
		if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
			continue
		}
		if !podSet {
			unset = append(unset, c.Name)
		}
	}
	if len(unset) > 0 {
		details = append(details, "pod or "+containerNames(unset)+` must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`)
	}
	return one("seccompProfile", details, "; ")
}

// Capabilities (restricted): drop ALL, and add nothing but NET_BIND_SERVICE.
func checkCapabilitiesRestricted(spec *pod.PodSpec) []Violation {
	var noDrop []string
	for _, c := range containers(spec) {
		sc := c.SecurityContext
		if sc == nil || sc.Capabilities == nil || !slices.ContainsFunc(sc.Capabilities.Drop, func(d pod.Capability) bool { return shortName(d) == "ALL" }) {
			noDrop = append(noDrop, c.Name)
		}
	}
	var details []string
	if len(noDrop) > 0 {
		details = append(details, containerNames(noDrop)+` must set securityContext.capabilities.drop=["ALL"]`)
	}
	details = append(details, forbiddenAdds(spec, []string{"NET_BIND_SERVICE"})...)
	return one("unrestricted capabilities", details, "; ")
}
