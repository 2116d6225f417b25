package supervisor

import "github.com/podd-dev/podd/pkg/pod"

// EventOOMKilling is the reason of the Warning event podd records when the kernel's OOM killer
// kills a process of a container: the name the kernel's and node-problem-detector's OOM events
// carry, since Kubernetes has no per-container event for it.
const EventOOMKilling = "OOMKilling"

// oomKilled counts processes of a running container that the OOM killer killed while the
// container's main process survived. The event is recorded before the count is published, so
// that whoever sees the count finds the event.
func (w *worker) oomKilled(ev evOOM) {
	c := ev.c
	if ev.attempt != c.attempt || !c.state.running() || ev.kills <= 0 {
		return
	}
	w.m.log.Warn("OOM kill in container; its main process survives", append(w.log(), "container", c.name, "kills", ev.kills)...)
	w.event(c, pod.EventWarning, EventOOMKilling, "Memory cgroup out of memory: killed %d process(es) of container %s; its main process survives", ev.kills, c.name)
	w.mu.Lock()
	c.status.OOMKills += int32(ev.kills)
	w.mu.Unlock()
}

// oomEventLocked records the OOM kill that ended a container. w.mu is held.
func (w *worker) oomEventLocked(c *ctr, code int32) {
	w.m.log.Warn("container OOM-killed", append(w.log(), "container", c.name, "exit_code", code)...)
	w.m.events.Pod(w.rec.Pod, c.name, pod.EventWarning, EventOOMKilling, "Memory cgroup out of memory: killed the main process of container %s (exit code %d)", c.name, code)
}
