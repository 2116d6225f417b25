package ctl

import (
	"fmt"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// podStatus is the STATUS column, as kubectl (1.29 and later) computes it: the pod's reason; else,
// while the pod initializes, Init:N/M (N init containers done or, for sidecars, started, of M),
// or Init:<reason> of the init container that failed or waits (Init:Error, Init:CrashLoopBackOff);
// then the reason of the first main container that waits or has terminated (ContainerCreating,
// CrashLoopBackOff, Completed, Error, ...); else the phase.
func podStatus(p *pod.Pod) string {
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	return summarize(p).status
}

// podSummary is what the READY and STATUS columns say about a pod.
type podSummary struct {
	status       string
	ready, total int
}

func isSidecar(c *pod.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == pod.RestartAlways
}

// summarize follows kubectl's printPod: the init containers first, in order, up to the first that
// is not done; the main containers only once the pod is initialized.
func summarize(p *pod.Pod) podSummary {
	st := &p.Status
	s := podSummary{total: max(len(p.Spec.Containers), len(st.ContainerStatuses))}
	inits := map[string]*pod.Container{}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		inits[c.Name] = c
		if isSidecar(c) {
			// kubectl 1.29+ counts restartable init containers in READY.
			s.total++
		}
	}
	numInits := max(len(p.Spec.InitContainers), len(st.InitContainerStatuses))
	reason := ""
	initializing := false
	for i, cs := range st.InitContainerStatuses {
		t, w := cs.State.Terminated, cs.State.Waiting
		switch {
		case t != nil && t.ExitCode == 0:
			continue
		case isSidecar(inits[cs.Name]) && cs.Started != nil && *cs.Started:
			if cs.Ready {
				s.ready++
			}
			continue
		case t != nil:
			reason = "Init:" + terminatedReason(t)
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			reason = "Init:" + w.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, numInits)
		}
		initializing = true
		break
	}
	if !initializing || conditionTrue(st, "Initialized") {
		running := false
		mainReason := ""
		for _, cs := range st.ContainerStatuses {
			switch c := cs.State; {
			case c.Waiting != nil && c.Waiting.Reason != "":
				if mainReason == "" {
					mainReason = c.Waiting.Reason
				}
			case c.Terminated != nil:
				if mainReason == "" {
					mainReason = terminatedReason(c.Terminated)
				}
			case c.Running != nil:
				running = true
			}
			if cs.Ready {
				s.ready++
			}
		}
		// A sidecar that finished while others still run does not make the pod look done.
		if mainReason == "Completed" && running {
			mainReason = ""
		}
		if mainReason != "" {
			reason = mainReason
		}
	}
	switch {
	case reason != "":
		s.status = reason
	case st.Phase == "":
		s.status = string(pod.PodPending)
	default:
		s.status = string(st.Phase)
	}
	return s
}

func conditionTrue(st *pod.PodStatus, typ string) bool {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status == "True"
		}
	}
	return false
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

// readyString is the READY column: ready containers / containers, where native sidecars count as
// containers (ready when started and ready), as in kubectl 1.29 and later.
func readyString(p *pod.Pod) string {
	s := summarize(p)
	return fmt.Sprintf("%d/%d", s.ready, s.total)
}

// restarts is the RESTARTS column: the restarts of every container, init containers included.
func restarts(p *pod.Pod) int32 {
	var n int32
	for _, cs := range p.Status.InitContainerStatuses {
		n += cs.RestartCount
	}
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
