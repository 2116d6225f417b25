package supervisor

import (
	"context"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// startProbes runs the instance's probes: the startup probe first; liveness and readiness only
// once it has succeeded, as in Kubernetes. Each probe reports only decisions (threshold reached,
// readiness changed) to the worker; every failure is an Unhealthy event.
func (w *worker) startProbes(ctx context.Context, c *ctr, attempt int) {
	spec := c.spec
	if spec.StartupProbe == nil && spec.LivenessProbe == nil && spec.ReadinessProbe == nil {
		c.stopProbes = nil
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	c.stopProbes = cancel
	tgt := target{id: c.id, spec: spec, sb: w.sb}
	started := make(chan struct{})
	if spec.StartupProbe != nil {
		go func() {
			if w.probeLoop(pctx, c, attempt, "startup", spec.StartupProbe, tgt) {
				close(started)
			}
		}()
	} else {
		close(started)
	}
	for kind, p := range map[string]*pod.Probe{"liveness": spec.LivenessProbe, "readiness": spec.ReadinessProbe} {
		if p == nil {
			continue
		}
		go func() {
			select {
			case <-started:
				w.probeLoop(pctx, c, attempt, kind, p, tgt)
			case <-pctx.Done():
			}
		}()
	}
}

// probeLoop probes until ctx ends; a startup probe ends at its first decision (reporting
// whether it succeeded), a liveness probe at its failure, a readiness probe never.
func (w *worker) probeLoop(ctx context.Context, c *ctr, attempt int, kind string, p *pod.Probe, tgt target) bool {
	initial, period, timeout, needOK, needFail := probeTiming(p)
	timer := time.NewTimer(initial)
	defer timer.Stop()
	var oks, fails int
	last := 0 // 1 success reported, -1 failure reported
	title := strings.ToUpper(kind[:1]) + kind[1:]
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := w.runAction(pctx, probeAction(p), tgt)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			fails = 0
			oks++
			if oks >= needOK && last != 1 {
				last = 1
				w.post(ctx, evProbe{c: c, attempt: attempt, kind: kind, ok: true})
				if kind == "startup" {
					return true
				}
			}
		} else {
			oks = 0
			fails++
			w.event(c, pod.EventWarning, "Unhealthy", "%s probe failed: %v", title, err)
			if fails >= needFail && last != -1 {
				last = -1
				w.post(ctx, evProbe{c: c, attempt: attempt, kind: kind, ok: false, grace: graceOf(p.TerminationGracePeriodSeconds)})
				if kind != "readiness" {
					return false
				}
			}
		}
		timer.Reset(period)
	}
}

// probed applies a probe's decision to the instance it was about.
func (w *worker) probed(ctx context.Context, ev evProbe) {
	c := ev.c
	if ev.attempt != c.attempt || c.state != ctrRunning {
		return // a verdict on an instance already replaced, or being stopped
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case ev.kind == "readiness":
		c.ready = ev.ok
	case ev.ok: // startup
		c.started, c.upOnce = true, true
	default: // startup or liveness failed: the restart policy decides what follows
		w.killLocked(ctx, c, ev.grace, "", "", "Container "+c.name+" failed "+ev.kind+" probe, will be restarted")
	}
}

// graceOf converts a grace period in seconds, nil for none.
func graceOf(seconds *int64) *time.Duration {
	if seconds == nil {
		return nil
	}
	g := pod.GracePeriod(*seconds)
	return &g
}
