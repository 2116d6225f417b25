package ctl

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/podd-dev/podd/pkg/pod"
)

// describeProbesAndHooks writes a container's probes as kubectl describe does, and its lifecycle
// hooks (which kubectl leaves out) in the same words.
func describeProbesAndHooks(d *describer, c pod.Container) {
	for _, p := range []struct {
		title string
		probe *pod.Probe
	}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
		if p.probe != nil {
			d.value(2, p.title, probeString(p.probe))
		}
	}
	if c.Lifecycle != nil {
		if h := c.Lifecycle.PostStart; h != nil {
			d.value(2, "PostStart", hookString(h))
		}
		if h := c.Lifecycle.PreStop; h != nil {
			d.value(2, "PreStop", hookString(h))
		}
	}
}

// probeString is kubectl's: http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3.
func probeString(p *pod.Probe) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	var action string
	switch {
	case p.Exec != nil:
		action = execString(p.Exec)
	case p.HTTPGet != nil:
		action = httpGetString(p.HTTPGet)
	case p.TCPSocket != nil:
		action = fmt.Sprintf("tcp-socket %s:%s", p.TCPSocket.Host, p.TCPSocket.Port.String())
	case p.GRPC != nil:
		action = fmt.Sprintf("grpc <pod>:%d", p.GRPC.Port)
		if p.GRPC.Service != nil && *p.GRPC.Service != "" {
			action += " " + *p.GRPC.Service
		}
	default:
		action = "unknown"
	}
	return action + " " + attrs
}

func hookString(h *pod.LifecycleHandler) string {
	switch {
	case h.Exec != nil:
		return execString(h.Exec)
	case h.HTTPGet != nil:
		return httpGetString(h.HTTPGet)
	case h.Sleep != nil:
		return fmt.Sprintf("sleep %ds", h.Sleep.Seconds)
	}
	return "unknown"
}

func execString(e *pod.ExecAction) string {
	return fmt.Sprintf("exec %v", e.Command)
}

// httpGetString is the URL as kubectl shows it: no host means the pod's own address.
func httpGetString(h *pod.HTTPGetAction) string {
	scheme := strings.ToLower(h.Scheme)
	if scheme == "" {
		scheme = "http"
	}
	u := &url.URL{Scheme: scheme, Host: h.Host, Path: h.Path}
	if port := h.Port.String(); port != "" {
		u.Host = net.JoinHostPort(h.Host, port)
	}
	return "http-get " + u.String()
}
