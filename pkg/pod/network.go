package pod

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// AnnotationNetwork chooses a pod's network: "bridge" (the default: an address on podd's bridge)
// or "none" (only the loopback device). spec.hostNetwork takes the host's network instead.
const AnnotationNetwork = "podd.io/network"

// Network modes.
const (
	NetworkBridge = "bridge"
	NetworkNone   = "none"
	NetworkHost   = "host"
)

var networkAnnotationValues = []string{NetworkBridge, NetworkNone}

// NetworkMode is the pod's network: host, none or bridge.
func NetworkMode(p *Pod) string {
	switch {
	case p.Spec.HostNetwork:
		return NetworkHost
	case p.Metadata.Annotations[AnnotationNetwork] == NetworkNone:
		return NetworkNone
	}
	return NetworkBridge
}

// HostPort is one container port published on the host, with the path of its field.
type HostPort struct {
	Field string // spec.containers[0].ports[1]
	Port  ContainerPort
}

// HostPorts lists the pod's ports that have a hostPort.
func HostPorts(p *Pod) []HostPort {
	var out []HostPort
	for _, list := range []struct {
		field string
		ctrs  []Container
	}{{"spec.containers", p.Spec.Containers}, {"spec.initContainers", p.Spec.InitContainers}} {
		for i, c := range list.ctrs {
			for j, port := range c.Ports {
				if port.HostPort > 0 {
					out = append(out, HostPort{Field: fmt.Sprintf("%s[%d].ports[%d]", list.field, i, j), Port: port})
				}
			}
		}
	}
	return out
}

// hostPortsOverlap: the same port and protocol, and the same host IP or either on all of them.
func hostPortsOverlap(a, b ContainerPort) bool {
	if a.HostPort != b.HostPort || !strings.EqualFold(a.Protocol, b.Protocol) {
		return false
	}
	any := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return a.HostIP == b.HostIP || any(a.HostIP) || any(b.HostIP)
}

// hostPortConflicts refuses hostPorts of p that one of the other pods publishes already.
func HostPortConflicts(p *Pod, others []*Pod) error {
	var errs []error
	for _, hp := range HostPorts(p) {
		for _, o := range others {
			if slices.ContainsFunc(HostPorts(o), func(ohp HostPort) bool { return hostPortsOverlap(hp.Port, ohp.Port) }) {
				ip := hp.Port.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				errs = append(errs, fmt.Errorf("%s.hostPort: port %d/%s on %s is already in use by pod %s/%s: %w",
					hp.Field, hp.Port.HostPort, hp.Port.Protocol, ip, o.Metadata.Namespace, o.Metadata.Name, errdefs.ErrAlreadyExists))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// checkNetwork validates the network annotation and what depends on the network mode.
func checkNetwork(p *Pod, errs *ErrorList) {
	v, ok := p.Metadata.Annotations[AnnotationNetwork]
	field := "metadata.annotations[" + AnnotationNetwork + "]"
	if ok && !slices.Contains(networkAnnotationValues, v) {
		errs.unsupported(field, v, networkAnnotationValues...)
	}
	if ok && v == NetworkNone && p.Spec.HostNetwork {
		errs.invalid(field, v, "may not be set when `spec.hostNetwork` is true")
	}
	for _, hp := range HostPorts(p) {
		switch {
		case NetworkMode(p) == NetworkNone:
			errs.invalid(hp.Field+".hostPort", hp.Port.HostPort, "may not be set in a pod without network ("+field+": none)")
		case NetworkMode(p) == NetworkBridge && hp.Port.Protocol == "SCTP":
			errs.unsupported(hp.Field+".protocol", hp.Port.Protocol, "TCP", "UDP")
		}
	}
}

// setAddresses copies the sandbox's addresses into the pod's status.
func SetAddresses(st *PodStatus, sb *Sandbox) {
	if sb == nil {
		return
	}
	st.PodIP, st.PodIPs = "", nil
	for i, ip := range sb.PodIPs {
		if i == 0 {
			st.PodIP = ip
		}
		st.PodIPs = append(st.PodIPs, PodIP{IP: ip})
	}
	st.HostIP, st.HostIPs = sb.HostIP, nil
	if sb.HostIP != "" {
		st.HostIPs = []HostIP{{IP: sb.HostIP}}
	}
}
