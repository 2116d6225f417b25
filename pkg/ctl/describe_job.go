package ctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// describeJob prints a Job as kubectl describe job does: its spec's settings, the counts of its
// pods, its completed (and failed) indexes, its pod template and its conditions.
func describeJob(w io.Writer, j *object.Job, pods []*pod.Pod) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	m, s, st := j.Metadata, &j.Spec, &j.Status
	d.value(0, "Name", m.Name)
	d.value(0, "Namespace", m.Namespace)
	sel := "<none>"
	if s.Selector != nil {
		sel = keyValuesLine(s.Selector.MatchLabels)
	}
	d.value(0, "Selector", sel)
	d.value(0, "Labels", keyValues(m.Labels, "="))
	d.value(0, "Annotations", keyValues(m.Annotations, ": "))
	d.value(0, "Parallelism", int32String(s.Parallelism))
	d.value(0, "Completions", int32String(s.Completions))
	if s.CompletionMode != nil {
		d.value(0, "Completion Mode", *s.CompletionMode)
	}
	d.value(0, "Suspend", strconv.FormatBool(s.Suspend != nil && *s.Suspend))
	d.value(0, "Backoff Limit", int32String(s.BackoffLimit))
	if s.BackoffLimitPerIndex != nil {
		d.value(0, "Backoff Limit Per Index", int32String(s.BackoffLimitPerIndex))
	}
	if s.MaxFailedIndexes != nil {
		d.value(0, "Max Failed Indexes", int32String(s.MaxFailedIndexes))
	}
	if s.TTLSecondsAfterFinished != nil {
		d.value(0, "TTL Seconds After Finished", int32String(s.TTLSecondsAfterFinished))
	}
	if st.StartTime != nil {
		d.value(0, "Start Time", timeString(st.StartTime))
	}
	if st.CompletionTime != nil {
		d.value(0, "Completed At", timeString(st.CompletionTime))
		d.value(0, "Duration", shortDuration(st.CompletionTime.Sub(*st.StartTime).Truncate(time.Second)))
	}
	if s.ActiveDeadlineSeconds != nil {
		d.value(0, "Active Deadline Seconds", strconv.FormatInt(*s.ActiveDeadlineSeconds, 10)+"s")
	}
	ready := int32(0)
	if st.Ready != nil {
		ready = *st.Ready
	}
	d.value(0, "Pods Statuses", fmt.Sprintf("%d Active (%d Ready) / %d Succeeded / %d Failed", st.Active, ready, st.Succeeded, st.Failed))
	if s.CompletionMode != nil && *s.CompletionMode == object.IndexedCompletion {
		d.value(0, "Completed Indexes", orNone(st.CompletedIndexes))
		if st.FailedIndexes != nil {
			d.value(0, "Failed Indexes", orNone(*st.FailedIndexes))
		}
	}
	d.line(0, "Pod Template:")
	d.value(1, "Labels", keyValues(s.Template.Metadata.Labels, "="))
	if len(s.Template.Spec.InitContainers) > 0 {
		describeTemplateContainers(d, "Init Containers", s.Template.Spec.InitContainers)
	}
	describeTemplateContainers(d, "Containers", s.Template.Spec.Containers)
	describeVolumes(d, s.Template.Spec.Volumes)
	d.line(0, "Conditions:")
	if len(st.Conditions) == 0 {
		d.line(1, "<none>")
	} else {
		d.line(1, "Type\tStatus\tReason\tMessage")
		for _, c := range st.Conditions {
			d.line(1, "%s\t%s\t%s\t%s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	d.line(0, "Pods:")
	if len(pods) == 0 {
		d.line(1, "<none>")
	} else {
		d.line(1, "Name\tStatus\tIndex")
		for _, p := range pods {
			ix := p.Metadata.Annotations["batch.kubernetes.io/job-completion-index"]
			d.line(1, "%s\t%s\t%s", p.Metadata.Name, orNone(string(p.Status.Phase)), orNone(ix))
		}
	}
	return d.tw.Flush()
}

// describeTemplateContainers lists a template's containers, without status.
func describeTemplateContainers(d *describer, title string, containers []pod.Container) {
	d.line(1, "%s:", title)
	for _, c := range containers {
		d.line(2, "%s:", c.Name)
		d.value(3, "Image", c.Image)
		if len(c.Command) > 0 {
			d.list(3, "Command", c.Command)
		}
		if len(c.Args) > 0 {
			d.list(3, "Args", c.Args)
		}
	}
}

func int32String(v *int32) string {
	if v == nil {
		return "<unset>"
	}
	return strconv.Itoa(int(*v))
}

func keyValuesLine(m map[string]string) string {
	kv := keyValues(m, "=")
	out := []rune(kv)
	for i, r := range out {
		if r == '\n' {
			out[i] = ','
		}
	}
	return string(out)
}

// describeObject describes an object of a kind beside Pod (the hook of podctl describe KIND NAME).
func describeObject(ctx context.Context, c *api.Client, k object.Kind, o DescribeOptions, s Streams) error {
	switch k.Kind {
	case "Deployment", "ReplicaSet":
		return DescribeObject(ctx, c, k.Kind, o, s)
	}
	obj, err := c.GetObject(ctx, k, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	switch obj := obj.(type) {
	case *object.Job:
		all, err := c.ListPods(ctx, o.Namespace)
		if err != nil {
			return err
		}
		var pods []*pod.Pod
		for _, p := range all {
			for _, r := range p.Metadata.OwnerReferences {
				if r.Kind == "Job" && r.UID == obj.Metadata.UID {
					pods = append(pods, p)
				}
			}
		}
		sort.Slice(pods, func(i, j int) bool { return pods[i].Metadata.Name < pods[j].Metadata.Name })
		return describeJob(s.Out, obj, pods)
	}
	return Usagef("describe: %s: not supported yet (pods, deployments, replicasets, jobs, configmaps and secrets are)", k.Resource)
}
