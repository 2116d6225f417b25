package ctl

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// GetOptions are podctl get's.
type GetOptions struct {
	Namespace     string
	AllNamespaces bool
	// Kinds are the kinds to list, as typed (deploy, po, ...); none means pods.
	Kinds []string
	// Name is the object to show; "" lists them.
	Name string
	// Selector filters by label, in kubectl's -l syntax.
	Selector string
	Output   Format
}

// Get prints one object or lists objects of one or several kinds, as kubectl get does.
func Get(ctx context.Context, c *api.Client, o GetOptions, s Streams) error {
	if o.Name != "" && o.AllNamespaces {
		return Usagef("an object cannot be got by name across all namespaces: drop --all-namespaces or NAME")
	}
	var sel *pod.LabelSelector
	if o.Selector != "" {
		var err error
		if sel, err = pod.ParseSelector(o.Selector); err != nil {
			return Usagef("-l: %v", err)
		}
	}
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = []string{"Pod"}
	}
	if len(kinds) > 1 && o.Name != "" {
		return Usagef("a NAME can be got for one kind only")
	}
	if len(kinds) > 1 && o.Output.structured() {
		return Usagef("-o json|yaml prints one kind at a time")
	}
	if len(kinds) == 1 && IsElectionKind(kinds[0]) {
		return getElections(ctx, c, o, s)
	}
	// Among several kinds, as kubectl: every name is qualified by its kind (pod/web), a blank line
	// separates the tables printed, an empty kind prints nothing, and "No resources found" comes
	// once, when every kind was empty.
	m := &multiKinds{several: len(kinds) > 1}
	for _, name := range kinds {
		kind, err := ResolveKind(name)
		if err != nil {
			return err
		}
		if kind == "Pod" {
			err = getPods(ctx, c, o, sel, s, m)
		} else {
			k, _ := object.KindOf(kind)
			err = getObjects(ctx, c, k, o, sel, s, m)
		}
		if err != nil {
			return err
		}
	}
	if m.several && !m.printed && !o.Output.structured() {
		noResources(o, s)
	}
	return nil
}

// multiKinds is what get's tables need to know of the other kinds listed with theirs.
type multiKinds struct {
	several bool // more than one kind asked for
	printed bool // a table has been printed
}

// table is called before a kind's table is printed: it separates it from the one before.
func (m *multiKinds) table(s Streams) {
	if m.printed {
		fmt.Fprintln(s.Out)
	}
	m.printed = true
}

func getPods(ctx context.Context, c *api.Client, o GetOptions, sel *pod.LabelSelector, s Streams, m *multiKinds) error {
	if o.Name != "" {
		p, err := c.GetPod(ctx, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		return Print(s.Out, o.Output, p, podTable([]*pod.Pod{p}, false, false))
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	all, err := c.ListPods(ctx, ns)
	if err != nil {
		return err
	}
	pods := []*pod.Pod{}
	for _, p := range all {
		if sel == nil || sel.Matches(p.Metadata.Labels) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 && !o.Output.structured() {
		if !m.several {
			noResources(o, s)
		}
		return nil
	}
	if !o.Output.structured() {
		m.table(s)
	}
	return Print(s.Out, o.Output, api.PodList{Items: pods}, podTable(pods, o.AllNamespaces, m.several))
}

// podTable is the table of get; qualify names the pods pod/NAME, as kubectl does when it lists
// several kinds.
func podTable(pods []*pod.Pod, withNamespace, qualify bool) func(wide bool) Table {
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
			name := p.Metadata.Name
			if qualify {
				name = "pod/" + name
			}
			row = append(row, name, readyString(p), podStatus(p),
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
