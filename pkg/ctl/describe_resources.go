package ctl

import (
	"fmt"
	"sort"

	"github.com/podd-dev/podd/pkg/pod"
)

// describeResources writes a container's Limits and Requests as kubectl describe does, and its
// OOM kills (podd's own) when there were any.
func describeResources(d *describer, c pod.Container, cs pod.ContainerStatus, hasStatus bool) {
	if hasStatus && cs.OOMKills > 0 {
		d.value(2, "OOM Kills", fmt.Sprint(cs.OOMKills))
	}
	for _, l := range []struct {
		title string
		list  pod.ResourceList
	}{{"Limits", c.Resources.Limits}, {"Requests", c.Resources.Requests}} {
		if len(l.list) == 0 {
			continue
		}
		d.line(2, "%s:", l.title)
		names := make([]string, 0, len(l.list))
		for n := range l.list {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			d.value(3, n, l.list[n].String())
		}
	}
}

// describeQOS writes the pod's QoS class, as kubectl describe does after the volumes.
func describeQOS(d *describer, p *pod.Pod) {
	qos := p.Status.QOSClass
	if qos == "" {
		qos = pod.PodQOSClass(&p.Spec)
	}
	d.value(0, "QoS Class", string(qos))
}
