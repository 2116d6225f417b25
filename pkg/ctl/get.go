package ctl

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// GetOptions are podctl get's.
type GetOptions struct {
	Namespace     string
	AllNamespaces bool
	// Name is the pod to show; "" lists pods.
	Name   string
	Output Format
}

// Get prints one pod or lists pods.
func Get(ctx context.Context, c *api.Client, o GetOptions, s Streams) error {
	if o.Name != "" {
		if o.AllNamespaces {
			return Usagef("a pod cannot be got by name across all namespaces: drop --all-namespaces or POD")
		}
		p, err := c.GetPod(ctx, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		return Print(s.Out, o.Output, p, podTable([]*pod.Pod{p}, false))
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	pods, err := c.ListPods(ctx, ns)
	if err != nil {
		return err
	}
	if pods == nil {
		pods = []*pod.Pod{}
	}
	if len(pods) == 0 && !o.Output.structured() {
		if o.AllNamespaces {
			fmt.Fprintln(s.Err, "No resources found")
		} else {
			fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
		}
		return nil
	}
	return Print(s.Out, o.Output, api.PodList{Items: pods}, podTable(pods, o.AllNamespaces))
}

// podTable is the table of get.
func podTable(pods []*pod.Pod, withNamespace bool) func(wide bool) Table {
	return func(wide bool) Table {
		var t Table
		if withNamespace {
			t.Header = append(t.Header, "NAMESPACE")
		}
		t.Header = append(t.Header, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
		if wide {
			t.Header = append(t.Header, "IP", "NODE", "IMAGES", "SOURCE")
		}
		for _, p := range pods {
			var row []string
			if withNamespace {
				row = append(row, p.Metadata.Namespace)
			}
			row = append(row, p.Metadata.Name, readyString(p), podStatus(p),
				strconv.Itoa(int(restarts(p))), age(p.Metadata.CreationTimestamp))
			if wide {
				row = append(row, orNone(p.Status.PodIP), orNone(p.Spec.NodeName), images(p), source(p))
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
}

// source says where a pod comes from: "api" (podctl run), or "file:NAME" for a static pod.
func source(p *pod.Pod) string {
	if file, ok := p.Metadata.Annotations[pod.AnnotationConfigFile]; ok {
		return "file:" + filepath.Base(file)
	}
	return "api"
}
