package ctl

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// getObjects prints one object or lists the objects of a kind beside Pod.
func getObjects(ctx context.Context, c *api.Client, k object.Kind, o GetOptions, sel *pod.LabelSelector, s Streams, m *multiKinds) error {
	var objs []object.Object
	if o.Name != "" {
		obj, err := c.GetObject(ctx, k, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		objs = []object.Object{obj}
		if o.Output.structured() {
			return Print(s.Out, o.Output, obj, nil)
		}
	} else {
		ns := o.Namespace
		if o.AllNamespaces {
			ns = ""
		}
		all, err := c.ListObjects(ctx, k, ns)
		if err != nil {
			return err
		}
		for _, obj := range all {
			if sel == nil || sel.Matches(obj.GetMetadata().Labels) {
				objs = append(objs, obj)
			}
		}
		if o.Output.structured() {
			return Print(s.Out, o.Output, map[string]any{"apiVersion": "v1", "kind": "List", "items": nonNilObjects(objs)}, nil)
		}
		if len(objs) == 0 {
			if !m.several { // one kind asked: say so; among several, an empty kind prints nothing
				noResources(o, s)
			}
			return nil
		}
	}
	m.table(s)
	return Print(s.Out, o.Output, nil, objectTable(k, objs, o.AllNamespaces && o.Name == "", m.several))
}

func nonNilObjects(objs []object.Object) []object.Object {
	if objs == nil {
		return []object.Object{}
	}
	return objs
}

func noResources(o GetOptions, s Streams) {
	if o.AllNamespaces {
		fmt.Fprintln(s.Err, "No resources found")
	} else {
		fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
	}
}

// objectTable is kubectl get's table of a kind, with the kind in the names when several kinds
// are listed together (header false: not the first kind).
func objectTable(k object.Kind, objs []object.Object, withNamespace, qualify bool) func(wide bool) Table {
	return func(wide bool) Table {
		var t Table
		if withNamespace {
			t.Header = append(t.Header, "NAMESPACE")
		}
		cols, wideCols := objectColumns(k.Kind)
		t.Header = append(t.Header, "NAME")
		t.Header = append(t.Header, cols...)
		t.Header = append(t.Header, "AGE")
		if wide {
			t.Header = append(t.Header, wideCols...)
		}
		for _, obj := range objs {
			m := obj.GetMetadata()
			var row []string
			if withNamespace {
				row = append(row, m.Namespace)
			}
			name := m.Name
			if qualify {
				name = qualifiedKind(k.Kind) + "/" + name
			}
			cells, wideCells := objectCells(obj)
			row = append(row, name)
			row = append(row, cells...)
			row = append(row, age(m.CreationTimestamp))
			if wide {
				row = append(row, wideCells...)
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
}

func objectColumns(kind string) (cols, wide []string) {
	switch kind {
	case "Deployment":
		return []string{"READY", "UP-TO-DATE", "AVAILABLE"}, []string{"CONTAINERS", "IMAGES", "SELECTOR"}
	case "ReplicaSet":
		return []string{"DESIRED", "CURRENT", "READY"}, []string{"CONTAINERS", "IMAGES", "SELECTOR"}
	case "StatefulSet":
		return []string{"READY"}, []string{"CONTAINERS", "IMAGES"}
	case "Job":
		return []string{"STATUS", "COMPLETIONS", "DURATION"}, []string{"CONTAINERS", "IMAGES", "SELECTOR"}
	case "ConfigMap":
		return []string{"DATA"}, nil
	case "Secret":
		return []string{"TYPE", "DATA"}, nil
	case "Service":
		return []string{"TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"}, []string{"SELECTOR"}
	case "PersistentVolumeClaim":
		return []string{"STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS"}, nil
	}
	return nil, nil
}

func objectCells(obj object.Object) (cells, wide []string) {
	i := func(v int32) string { return strconv.Itoa(int(v)) }
	switch o := obj.(type) {
	case *object.Deployment:
		return []string{fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, deref(o.Spec.Replicas)), i(o.Status.UpdatedReplicas), i(o.Status.AvailableReplicas)},
			templateCells(&o.Spec.Template, o.Spec.Selector)
	case *object.ReplicaSet:
		return []string{i(deref(o.Spec.Replicas)), i(o.Status.Replicas), i(o.Status.ReadyReplicas)}, templateCells(&o.Spec.Template, o.Spec.Selector)
	case *object.StatefulSet:
		return []string{fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, deref(o.Spec.Replicas))}, templateCells(&o.Spec.Template, nil)[:2]
	case *object.Job:
		completions := fmt.Sprintf("%d/%d", o.Status.Succeeded, deref(o.Spec.Completions))
		if o.Spec.Completions == nil {
			completions = fmt.Sprintf("%d/1 of %d", o.Status.Succeeded, deref(o.Spec.Parallelism))
		}
		return []string{jobStatus(o), completions, jobDuration(o)}, templateCells(&o.Spec.Template, o.Spec.Selector)
	case *object.ConfigMap:
		return []string{strconv.Itoa(len(o.Data) + len(o.BinaryData))}, nil
	case *object.Secret:
		return []string{o.Type, strconv.Itoa(len(o.Data) + len(o.StringData))}, nil
	case *object.Service:
		ip := "<none>"
		if o.Spec.ClusterIP == "None" {
			ip = "None"
		}
		var ports []string
		for _, p := range o.Spec.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
		return []string{o.Spec.Type, ip, "<none>", orNone(strings.Join(ports, ","))}, []string{orNone(selectorString(o.Spec.Selector))}
	case *object.PersistentVolumeClaim:
		capacity := ""
		if q, ok := o.Status.Capacity["storage"]; ok {
			capacity = q.String()
		}
		class := ""
		if o.Spec.StorageClassName != nil {
			class = *o.Spec.StorageClassName
		}
		volume := ""
		if o.Status.Phase == "Bound" {
			volume = "pvc-" + o.Metadata.UID
		}
		phase := o.Status.Phase
		if o.Metadata.DeletionTimestamp != nil {
			phase = "Terminating" // as kubectl shows a claim held by its protection finalizer
		}
		return []string{orNone(phase), volume, capacity, accessModes(o.Spec.AccessModes), class}, nil
	}
	return nil, nil
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func templateCells(t *pod.PodTemplateSpec, sel *pod.LabelSelector) []string {
	var names, images []string
	for _, c := range t.Spec.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return []string{strings.Join(names, ","), strings.Join(images, ","), orNone(sel.String())}
}

func selectorString(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func accessModes(modes []string) string {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	var out []string
	for _, m := range modes {
		out = append(out, short[m])
	}
	return strings.Join(out, ",")
}

// jobStatus is kubectl's STATUS column of a Job: its conditions by precedence (a complete Job
// also has SuccessCriteriaMet, a failed one FailureTarget), not by their order.
func jobStatus(j *object.Job) string {
	has := func(typ string) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == typ && c.Status == "True" {
				return true
			}
		}
		return false
	}
	for _, typ := range []string{"Complete", "Failed", "Suspended", "FailureTarget", "SuccessCriteriaMet"} {
		if has(typ) {
			return typ
		}
	}
	return "Running"
}

func jobDuration(j *object.Job) string {
	if j.Status.StartTime == nil {
		return ""
	}
	end := now()
	if j.Status.CompletionTime != nil {
		end = *j.Status.CompletionTime
	}
	return shortDuration(end.Sub(*j.Status.StartTime).Truncate(time.Second))
}
