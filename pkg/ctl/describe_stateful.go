package ctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// DescribeStateful prints a StatefulSet or a PersistentVolumeClaim as kubectl describe does;
// handled is false for the other kinds.
func DescribeStateful(ctx context.Context, c *api.Client, k object.Kind, namespace, name string, s Streams) (handled bool, err error) {
	if k.Kind != "StatefulSet" && k.Kind != "PersistentVolumeClaim" {
		return false, nil
	}
	obj, err := c.GetObject(ctx, k, namespace, name)
	if err != nil {
		return true, err
	}
	pods, err := c.ListPods(ctx, namespace)
	if err != nil {
		return true, err
	}
	switch o := obj.(type) {
	case *object.StatefulSet:
		return true, describeStatefulSet(s.Out, o, pods)
	case *object.PersistentVolumeClaim:
		return true, describeClaim(s.Out, o, pods)
	}
	return true, nil
}

func describeStatefulSet(w io.Writer, set *object.StatefulSet, pods []*pod.Pod) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	m := set.Metadata
	d.value(0, "Name", m.Name)
	d.value(0, "Namespace", m.Namespace)
	d.value(0, "CreationTimestamp", timeString(m.CreationTimestamp))
	d.value(0, "Selector", orNone(set.Spec.Selector.String()))
	d.value(0, "Labels", keyValues(m.Labels, "="))
	d.value(0, "Annotations", keyValues(m.Annotations, ": "))
	d.value(0, "Replicas", fmt.Sprintf("%d desired | %d total", deref(set.Spec.Replicas), set.Status.Replicas))
	d.value(0, "Update Strategy", set.Spec.UpdateStrategy.Type)
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		d.value(1, "Partition", strconv.Itoa(int(*ru.Partition)))
	}
	d.value(0, "Pod Management Policy", set.Spec.PodManagementPolicy)
	d.value(0, "Service Name", orNone(set.Spec.ServiceName))
	d.value(0, "Current Revision", orNone(set.Status.CurrentRevision))
	d.value(0, "Update Revision", orNone(set.Status.UpdateRevision))
	phases := map[pod.PodPhase]int{}
	for _, p := range pods {
		if isSetPod(set, p) {
			phases[p.Status.Phase]++
		}
	}
	d.value(0, "Pods Status", fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed",
		phases[pod.PodRunning], phases[pod.PodPending], phases[pod.PodSucceeded], phases[pod.PodFailed]))
	d.line(0, "Pod Template:")
	d.value(1, "Labels", keyValues(set.Spec.Template.Metadata.Labels, "="))
	tmpl := set.Spec.Template.Spec
	if len(tmpl.InitContainers) > 0 {
		describeContainers(d, "Init Containers", tmpl.InitContainers, nil)
	}
	describeContainers(d, "Containers", tmpl.Containers, nil)
	describeVolumes(d, tmpl.Volumes)
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		d.value(0, "Volume Claims", "<none>")
	} else {
		d.line(0, "Volume Claims:")
		for _, c := range set.Spec.VolumeClaimTemplates {
			d.value(1, "Name", c.Metadata.Name)
			class := ""
			if c.Spec.StorageClassName != nil {
				class = *c.Spec.StorageClassName
			}
			d.value(1, "StorageClass", class)
			d.value(1, "Labels", keyValues(c.Metadata.Labels, "="))
			d.value(1, "Annotations", keyValues(c.Metadata.Annotations, ": "))
			capacity := ""
			if q, ok := c.Spec.Resources.Requests["storage"]; ok {
				capacity = q.String()
			}
			d.value(1, "Capacity", capacity)
			d.value(1, "Access Modes", "["+strings.Join(c.Spec.AccessModes, " ")+"]")
		}
	}
	return d.tw.Flush()
}

// isSetPod: the pod's controller is the set.
func isSetPod(set *object.StatefulSet, p *pod.Pod) bool {
	for _, r := range p.Metadata.OwnerReferences {
		if r.Kind == "StatefulSet" && r.UID == set.Metadata.UID {
			return true
		}
	}
	return false
}

func describeClaim(w io.Writer, c *object.PersistentVolumeClaim, pods []*pod.Pod) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	m := c.Metadata
	d.value(0, "Name", m.Name)
	d.value(0, "Namespace", m.Namespace)
	class := ""
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	d.value(0, "StorageClass", class)
	status := c.Status.Phase
	if m.DeletionTimestamp != nil {
		status = "Terminating (lasts " + timeString(m.DeletionTimestamp) + ")"
	}
	d.value(0, "Status", orNone(status))
	volume := ""
	if c.Status.Phase == "Bound" {
		volume = "pvc-" + m.UID
	}
	d.value(0, "Volume", volume)
	d.value(0, "Labels", keyValues(m.Labels, "="))
	d.value(0, "Annotations", keyValues(m.Annotations, ": "))
	d.value(0, "Finalizers", "["+strings.Join(m.Finalizers, " ")+"]")
	capacity := ""
	if q, ok := c.Status.Capacity["storage"]; ok {
		capacity = q.String()
	}
	d.value(0, "Capacity", capacity)
	d.value(0, "Access Modes", accessModes(c.Status.AccessModes))
	mode := "Filesystem"
	if c.Spec.VolumeMode != nil {
		mode = *c.Spec.VolumeMode
	}
	d.value(0, "VolumeMode", mode)
	var users []string
	for _, p := range pods {
		if p.Status.Phase == pod.PodSucceeded || p.Status.Phase == pod.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == m.Name {
				users = append(users, p.Metadata.Name)
				break
			}
		}
	}
	sort.Strings(users)
	d.value(0, "Used By", orNone(strings.Join(users, "\n")))
	return d.tw.Flush()
}
