package ctl

import (
	"fmt"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// podStatus is the STATUS column, as kubectl computes it: the pod's reason; else the reason of the
// first container that waits or has terminated (ContainerCreating, CrashLoopBackOff, Completed,
// Error, ...); else the phase.
func podStatus(p *pod.Pod) string {
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	running := false
	reason := ""
	for _, cs := range p.Status.ContainerStatuses {
		switch st := cs.State; {
		case st.Waiting != nil && st.Waiting.Reason != "":
			if reason == "" {
				reason = st.Waiting.Reason
			}
		case st.Terminated != nil:
			if reason == "" {
				reason = terminatedReason(st.Terminated)
			}
		case st.Running != nil:
			running = true
		}
	}
	// A sidecar that finished while others still run does not make the pod look done.
	if reason == "Completed" && running {
		reason = ""
	}
	if reason != "" {
		return reason
	}
	if p.Status.Phase == "" {
		return string(pod.PodPending)
	}
	return string(p.Status.Phase)
}

func terminatedReason(t *pod.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	}
	return fmt.Sprintf("ExitCode:%d", t.ExitCode)
}

// readyString is the READY column: ready containers / containers.
func readyString(p *pod.Pod) string {
	ready := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
	}
	total := max(len(p.Spec.Containers), len(p.Status.ContainerStatuses))
	return fmt.Sprintf("%d/%d", ready, total)
}

func restarts(p *pod.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// age is the AGE column for a time.
func age(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "<unknown>"
	}
	return shortDuration(now().Sub(*t))
}

// shortDuration is kubectl's short human duration: 5s, 3m, 2h, 4d, 1y.
func shortDuration(d time.Duration) string {
	switch s := int64(d.Seconds()); {
	case s < -1:
		return "<invalid>"
	case s < 0:
		return "0s"
	case s < 60:
		return fmt.Sprintf("%ds", s)
	}
	switch m := int64(d.Minutes()); {
	case m < 60:
		return fmt.Sprintf("%dm", m)
	}
	switch h := int64(d.Hours()); {
	case h < 24:
		return fmt.Sprintf("%dh", h)
	case h < 24*365:
		return fmt.Sprintf("%dd", h/24)
	default:
		return fmt.Sprintf("%dy", h/24/365)
	}
}

// images is the IMAGES column.
func images(p *pod.Pod) string {
	var out []string
	for _, c := range p.Spec.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ",")
}

// humanSize writes a byte count in binary units: 512 B, 4.3 MiB.
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", f, unit)
		}
	}
	return ""
}
