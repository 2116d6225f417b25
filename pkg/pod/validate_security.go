package pod

import (
	"fmt"
	"slices"
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

// KnownCapabilities are Linux's capabilities, as containerd's pkg/cap knows them (a test holds the
// two equal): the model keeps its own copy so that it imports only the standard library.
var KnownCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// checkCapabilities refuses a name that is not a Linux capability (runc would refuse it when the
// container starts); ALL stands for every one.
func checkCapabilities(errs *ErrorList, field string, caps []Capability) {
	for i, c := range caps {
		name := CapabilityName(c)
		if name != "ALL" && !slices.Contains(KnownCapabilities, name) {
			errs.invalid(fmt.Sprintf("%s[%d]", field, i), string(c), "not a Linux capability: want a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL")
		}
	}
}
