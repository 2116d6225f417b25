package pod

import (
	"fmt"
	"slices"

	"github.com/containerd/containerd/pkg/cap"
)

// seccompTypes are the seccompProfile types podd implements: Localhost (a profile file on the
// node) is not among them.
var seccompTypes = []string{string(SeccompProfileRuntimeDefault), string(SeccompProfileUnconfined)}

func checkPodSecurityContext(errs *ErrorList, field string, sc *PodSecurityContext) {
	checkID(errs, field+".runAsUser", sc.RunAsUser)
	checkID(errs, field+".runAsGroup", sc.RunAsGroup)
	checkID(errs, field+".fsGroup", sc.FSGroup)
	for i, g := range sc.SupplementalGroups {
		checkID(errs, fmt.Sprintf("%s.supplementalGroups[%d]", field, i), &g)
	}
	checkSeccompProfile(errs, field+".seccompProfile", sc.SeccompProfile)
}

func checkSecurityContext(errs *ErrorList, field string, sc *SecurityContext) {
	checkID(errs, field+".runAsUser", sc.RunAsUser)
	checkID(errs, field+".runAsGroup", sc.RunAsGroup)
	checkSeccompProfile(errs, field+".seccompProfile", sc.SeccompProfile)
	if caps := sc.Capabilities; caps != nil {
		checkCapabilities(errs, field+".capabilities.add", caps.Add)
		checkCapabilities(errs, field+".capabilities.drop", caps.Drop)
	}
	// Kubernetes' own two refusals: no_new_privs cannot hold for a process that may do anything.
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs.invalid(field, "allowPrivilegeEscalation: false, privileged: true", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
		}
		if sc.Capabilities != nil && slices.ContainsFunc(sc.Capabilities.Add, func(c Capability) bool { return CapabilityName(c) == "CAP_SYS_ADMIN" }) {
			errs.invalid(field, "allowPrivilegeEscalation: false, capabilities.add: CAP_SYS_ADMIN", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN")
		}
	}
}

func checkSeccompProfile(errs *ErrorList, field string, sp *SeccompProfile) {
	if sp == nil {
		return
	}
	switch {
	case sp.Type == "":
		errs.required(field+".type", "")
	case !slices.Contains(seccompTypes, string(sp.Type)):
		errs.unsupported(field+".type", string(sp.Type), seccompTypes...)
	}
	if sp.LocalhostProfile != nil && sp.Type != SeccompProfileLocalhost {
		errs.invalid(field+".localhostProfile", *sp.LocalhostProfile, "can only be set when seccomp type is Localhost")
	}
}

// checkCapabilities refuses a name that is not a Linux capability (runc would refuse it when the
// container starts); ALL stands for every one.
func checkCapabilities(errs *ErrorList, field string, caps []Capability) {
	known := cap.Known()
	for i, c := range caps {
		name := CapabilityName(c)
		if name != "ALL" && !slices.Contains(known, name) {
			errs.invalid(fmt.Sprintf("%s[%d]", field, i), string(c), "not a Linux capability: want a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL")
		}
	}
}
