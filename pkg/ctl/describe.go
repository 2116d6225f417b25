package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// DescribeOptions are podctl describe's.
type DescribeOptions struct {
	Namespace string
	Name      string
	// Kind is the kind to describe (kubectl's spelling: job, jobs, Job); "" or pod for a pod.
	Kind string
}

// Describe prints a pod for people, as kubectl describe does.
func Describe(ctx context.Context, c *api.Client, o DescribeOptions, s Streams) error {
	switch strings.ToLower(o.Kind) {
	case "", "pod", "pods", "po":
	default:
		k, ok := object.Resolve(o.Kind)
		if !ok {
			return Usagef("describe: the server doesn't have a resource type %q", o.Kind)
		}
		return describeObject(ctx, c, k, o, s)
	}
	p, err := c.GetPod(ctx, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	// The pod matters more than its events: without them describe still shows it, and says why.
	events, err := c.Events(ctx, o.Namespace, o.Name)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(s.Err, "warning: events of pod %s/%s: %v\n", o.Namespace, o.Name, err)
	}
	return describePod(s.Out, p, events)
}

// describer writes "Key:\tvalue" lines at indentation levels; one tabwriter aligns the values of
// consecutive lines, as in kubectl.
type describer struct {
	tw *tabwriter.Writer
}

func (d *describer) line(level int, format string, args ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format+"\n", args...)
}

// value writes "key:\tvalue", putting the lines of a multi-line value under each other.
func (d *describer) value(level int, key, value string) {
	indent := strings.Repeat("  ", level)
	lines := strings.Split(value, "\n")
	fmt.Fprintf(d.tw, "%s%s:\t%s\n", indent, key, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(d.tw, "%s\t%s\n", indent, l)
	}
}

// list writes "key:\t" followed by one item a line under it, or <none>.
func (d *describer) list(level int, key string, items []string) {
	if len(items) == 0 {
		d.value(level, key, "<none>")
		return
	}
	d.line(level, "%s:", key)
	for _, it := range items {
		d.line(level+1, "%s", it)
	}
}

func describePod(w io.Writer, p *pod.Pod, events []pod.Event) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	m := p.Metadata
	d.value(0, "Name", m.Name)
	d.value(0, "Namespace", m.Namespace)
	d.value(0, "UID", orNone(m.UID))
	if file, ok := m.Annotations[pod.AnnotationConfigFile]; ok {
		d.value(0, "Static", "yes, from "+file+" (edit or remove the file to change or remove the pod)")
	}
	d.value(0, "Node", orNone(p.Spec.NodeName))
	d.value(0, "Labels", keyValues(m.Labels, "="))
	d.value(0, "Annotations", keyValues(m.Annotations, ": "))
	d.value(0, "Start Time", timeString(p.Status.StartTime))
	d.value(0, "IP", orNone(p.Status.PodIP))
	if p.Status.HostIP != "" {
		d.value(0, "Host IP", p.Status.HostIP)
	}
	d.value(0, "Status", orNone(string(p.Status.Phase)))
	if p.Status.Reason != "" {
		d.value(0, "Reason", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.value(0, "Message", p.Status.Message)
	}
	if p.Spec.RestartPolicy != "" {
		d.value(0, "Restart Policy", string(p.Spec.RestartPolicy))
	}

	if len(p.Spec.InitContainers) > 0 {
		describeContainers(d, "Init Containers", p.Spec.InitContainers, p.Status.InitContainerStatuses)
	}
	describeContainers(d, "Containers", p.Spec.Containers, p.Status.ContainerStatuses)

	d.line(0, "Conditions:")
	if len(p.Status.Conditions) == 0 {
		d.line(1, "<none>")
	} else {
		d.line(1, "Type\tStatus")
		for _, cond := range p.Status.Conditions {
			d.line(1, "%s\t%s", cond.Type, cond.Status)
		}
	}

	describeVolumes(d, p.Spec.Volumes)
	describeQOS(d, p)
	describeEvents(d, events)
	return d.tw.Flush()
}

func describeContainers(d *describer, title string, containers []pod.Container, statuses []pod.ContainerStatus) {
	d.line(0, "%s:", title)
	byName := map[string]pod.ContainerStatus{}
	for _, cs := range statuses {
		byName[cs.Name] = cs
	}
	for _, c := range containers {
		cs, ok := byName[c.Name]
		describeContainer(d, c, cs, ok)
	}
}

func describeContainer(d *describer, c pod.Container, cs pod.ContainerStatus, hasStatus bool) {
	d.line(1, "%s:", c.Name)
	if hasStatus {
		d.value(2, "Container ID", orNone(cs.ContainerID))
	}
	d.value(2, "Image", c.Image)
	if hasStatus {
		d.value(2, "Image ID", orNone(cs.ImageID))
	}
	if c.RestartPolicy != nil {
		// Only init containers have one; Always makes a native sidecar.
		d.value(2, "Restart Policy", string(*c.RestartPolicy))
	}
	for _, port := range c.Ports {
		proto := port.Protocol
		if proto == "" {
			proto = "TCP"
		}
		d.value(2, "Port", fmt.Sprintf("%d/%s", port.ContainerPort, proto))
		if port.HostPort != 0 {
			d.value(2, "Host Port", fmt.Sprintf("%d/%s", port.HostPort, proto))
		}
	}
	if len(c.Command) > 0 {
		d.list(2, "Command", c.Command)
	}
	if len(c.Args) > 0 {
		d.list(2, "Args", c.Args)
	}
	if c.WorkingDir != "" {
		d.value(2, "Working Dir", c.WorkingDir)
	}
	if hasStatus {
		describeState(d, "State", cs.State)
		if cs.LastState.Terminated != nil || cs.LastState.Waiting != nil || cs.LastState.Running != nil {
			describeState(d, "Last State", cs.LastState)
		}
		d.value(2, "Ready", boolString(cs.Ready))
		if cs.Started != nil {
			d.value(2, "Started", boolString(*cs.Started))
		}
		d.value(2, "Restart Count", fmt.Sprint(cs.RestartCount))
	}
	describeResources(d, c, cs, hasStatus)
	describeProbesAndHooks(d, c)
	var env []string
	describeEnvFrom(d, c.EnvFrom)
	for _, e := range c.Env {
		if line, ok := envConfigRef(e); ok {
			env = append(env, line)
			continue
		}
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v := e.ValueFrom.FieldRef.APIVersion
			if v == "" {
				v = "v1"
			}
			env = append(env, fmt.Sprintf("%s:\t (%s:%s)", e.Name, v, e.ValueFrom.FieldRef.FieldPath))
		default:
			env = append(env, fmt.Sprintf("%s:\t%s", e.Name, e.Value))
		}
	}
	d.list(2, "Environment", env)
	var mounts []string
	for _, vm := range c.VolumeMounts {
		mode := "rw"
		if vm.ReadOnly {
			mode = "ro"
		}
		if vm.SubPath != "" {
			mode += fmt.Sprintf(",path=%q", vm.SubPath)
		}
		mounts = append(mounts, fmt.Sprintf("%s from %s (%s)", vm.MountPath, vm.Name, mode))
	}
	d.list(2, "Mounts", mounts)
}

func describeState(d *describer, title string, st pod.ContainerState) {
	switch {
	case st.Running != nil:
		d.value(2, title, "Running")
		d.value(3, "Started", timeString(st.Running.StartedAt))
	case st.Terminated != nil:
		t := st.Terminated
		d.value(2, title, "Terminated")
		if t.Reason != "" {
			d.value(3, "Reason", t.Reason)
		}
		if t.Message != "" {
			d.value(3, "Message", t.Message)
		}
		d.value(3, "Exit Code", fmt.Sprint(t.ExitCode))
		if t.Signal != 0 {
			d.value(3, "Signal", fmt.Sprint(t.Signal))
		}
		d.value(3, "Started", timeString(t.StartedAt))
		d.value(3, "Finished", timeString(t.FinishedAt))
	case st.Waiting != nil:
		d.value(2, title, "Waiting")
		if st.Waiting.Reason != "" {
			d.value(3, "Reason", st.Waiting.Reason)
		}
		if st.Waiting.Message != "" {
			d.value(3, "Message", st.Waiting.Message)
		}
	default:
		d.value(2, title, "Waiting")
	}
}

func describeVolumes(d *describer, volumes []pod.Volume) {
	if len(volumes) == 0 {
		d.value(0, "Volumes", "<none>")
		return
	}
	d.line(0, "Volumes:")
	for _, v := range volumes {
		d.line(1, "%s:", v.Name)
		switch {
		case v.EmptyDir != nil:
			d.value(2, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
			d.value(2, "Medium", string(v.EmptyDir.Medium))
			limit := "<unset>"
			if v.EmptyDir.SizeLimit != nil {
				limit = quantityString(v.EmptyDir.SizeLimit)
			}
			d.value(2, "SizeLimit", limit)
		case v.HostPath != nil:
			d.value(2, "Type", "HostPath (bare host directory volume)")
			d.value(2, "Path", v.HostPath.Path)
			t := ""
			if v.HostPath.Type != nil {
				t = string(*v.HostPath.Type)
			}
			d.value(2, "HostPathType", t)
		case v.DownwardAPI != nil:
			d.value(2, "Type", "DownwardAPI (a volume populated by information about the pod)")
			d.line(2, "Items:")
			for _, it := range v.DownwardAPI.Items {
				if it.FieldRef != nil {
					d.line(3, "%s -> %s", it.FieldRef.FieldPath, it.Path)
				}
			}
		case v.PersistentVolumeClaim != nil:
			d.value(2, "Type", "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)")
			d.value(2, "ClaimName", v.PersistentVolumeClaim.ClaimName)
			d.value(2, "ReadOnly", boolString(v.PersistentVolumeClaim.ReadOnly))
		default:
			if describeConfigVolume(d, v) {
				continue
			}
			d.value(2, "Type", "<unknown>")
		}
	}
}

// describeEvents is kubectl's Events table, oldest first by last occurrence.
func describeEvents(d *describer, events []pod.Event) {
	if len(events) == 0 {
		// No tab: Events stays out of the alignment of the lines above, as in kubectl.
		d.line(0, "Events:  <none>")
		return
	}
	// A line without a tab ends the tabwriter's column block: the table aligns on its own.
	d.line(0, "Events:")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, e := range events {
		d.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, eventAge(e), eventSource, oneLine(e.Message))
	}
}

func keyValues(m map[string]string, sep string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + sep + m[k]
	}
	return strings.Join(lines, "\n")
}

func timeString(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "<unset>"
	}
	return t.Local().Format(time.RFC1123Z)
}

func boolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// quantityString shows a quantity as written in the manifest.
func quantityString(q *pod.Quantity) string {
	if s, ok := any(q).(fmt.Stringer); ok {
		return s.String()
	}
	b, err := json.Marshal(q)
	if err != nil {
		return "<invalid>"
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	return string(b)
}
