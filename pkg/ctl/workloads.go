package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// pollInterval is how often rollout status and wait look again.
var pollInterval = 250 * time.Millisecond

// ScaleOptions are podctl scale's.
type ScaleOptions struct {
	Namespace string
	Kind      string
	Name      string
	Replicas  int64
}

// Scale sets the replicas of a Deployment, ReplicaSet or StatefulSet, as kubectl scale does.
func Scale(ctx context.Context, c *api.Client, o ScaleOptions, s Streams) error {
	if o.Replicas < 0 || o.Replicas > 1<<31-1 {
		return Usagef("scale: --replicas %d: the count must be between 0 and %d", o.Replicas, 1<<31-1)
	}
	kind, err := ResolveKind(o.Kind)
	if err != nil {
		return err
	}
	k, ok := object.KindOf(kind)
	if !ok || (kind != "Deployment" && kind != "ReplicaSet" && kind != "StatefulSet") {
		return Usagef("scale: %s cannot be scaled: want deployments (deploy), replicasets (rs) or statefulsets (sts)", o.Kind)
	}
	if _, err := c.Scale(ctx, k, o.Namespace, o.Name, int32(o.Replicas)); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%s/%s scaled\n", qualifiedKind(kind), o.Name)
	return nil
}

// RolloutOptions are podctl rollout's.
type RolloutOptions struct {
	Namespace  string
	Action     string // status, history, restart, undo, pause, resume
	Kind, Name string
	ToRevision int64
	Revision   int64 // history --revision
	Timeout    time.Duration
	Watch      bool
}

// Rollout runs `podctl rollout ACTION deploy/NAME`.
func Rollout(ctx context.Context, c *api.Client, o RolloutOptions, s Streams) error {
	kind, err := ResolveKind(o.Kind)
	if err != nil {
		return err
	}
	if kind != "Deployment" {
		return Usagef("rollout %s: %s is not supported: only deployments (deploy)", o.Action, o.Kind)
	}
	k, _ := object.KindOf(kind)
	switch o.Action {
	case "status":
		return rolloutStatus(ctx, c, k, o, s)
	case "history":
		return rolloutHistory(ctx, c, k, o, s)
	case api.RolloutRestart, api.RolloutUndo, api.RolloutPause, api.RolloutResume:
		msg, err := c.Rollout(ctx, k, o.Namespace, o.Name, api.RolloutRequest{Action: o.Action, ToRevision: o.ToRevision})
		if err != nil {
			return err
		}
		fmt.Fprintln(s.Out, msg)
		return nil
	}
	return Usagef("rollout: unknown action %q: want status, history, restart, undo, pause or resume", o.Action)
}

// DeploymentRolloutStatus is kubectl's rollout status of a Deployment: a sentence, and whether
// the rollout is done. A rollout past its progress deadline is an error.
func DeploymentRolloutStatus(d *object.Deployment) (string, bool, error) {
	name := d.Metadata.Name
	if d.Metadata.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == controller.DeploymentProgressing && c.Reason == controller.ReasonProgressDeadlineExceeded {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
		}
	}
	replicas := deref(d.Spec.Replicas)
	st := d.Status
	switch {
	case st.UpdatedReplicas < replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n", name, st.UpdatedReplicas, replicas), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n", name, st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", name), true, nil
}

func rolloutStatus(ctx context.Context, c *api.Client, k object.Kind, o RolloutOptions, s Streams) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	last := ""
	for {
		obj, err := c.GetObject(ctx, k, o.Namespace, o.Name)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out waiting for the condition")
			}
			return err
		}
		msg, done, err := DeploymentRolloutStatus(obj.(*object.Deployment))
		if err != nil {
			return err
		}
		if msg != last {
			fmt.Fprint(s.Out, msg)
			last = msg
		}
		if done || !o.Watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for the condition")
		case <-time.After(pollInterval):
		}
	}
}

// deploymentRevisions lists a Deployment's ReplicaSets by revision, oldest first.
func deploymentRevisions(ctx context.Context, c *api.Client, namespace string, d object.Object) ([]*object.ReplicaSet, error) {
	rk, _ := object.KindOf("ReplicaSet")
	all, err := c.ListObjects(ctx, rk, namespace)
	if err != nil {
		return nil, err
	}
	var out []*object.ReplicaSet
	for _, obj := range all {
		rs := obj.(*object.ReplicaSet)
		if ref := controllerOf(rs.Metadata.OwnerReferences); ref != nil && ref.UID == d.GetMetadata().UID {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return revisionOf(out[i]) < revisionOf(out[j]) })
	return out, nil
}

func controllerOf(refs []pod.OwnerReference) *pod.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

func revisionOf(rs *object.ReplicaSet) int64 {
	v, _ := strconv.ParseInt(rs.Metadata.Annotations[controller.AnnotationRevision], 10, 64)
	return v
}

func rolloutHistory(ctx context.Context, c *api.Client, k object.Kind, o RolloutOptions, s Streams) error {
	d, err := c.GetObject(ctx, k, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	sets, err := deploymentRevisions(ctx, c, o.Namespace, d)
	if err != nil {
		return err
	}
	if o.Revision > 0 {
		for _, rs := range sets {
			if revisionOf(rs) == o.Revision {
				fmt.Fprintf(s.Out, "deployment.apps/%s with revision #%d\n", o.Name, o.Revision)
				dd := &describer{tw: tabwriter.NewWriter(s.Out, 0, 8, 2, ' ', 0)}
				describeTemplate(dd, 0, &rs.Spec.Template)
				return dd.tw.Flush()
			}
		}
		return fmt.Errorf("unable to find the specified revision")
	}
	fmt.Fprintf(s.Out, "deployment.apps/%s \n", o.Name)
	tw := tabwriter.NewWriter(s.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, rs := range sets {
		fmt.Fprintf(tw, "%d\t%s\n", revisionOf(rs), orNone(rs.Metadata.Annotations[controller.AnnotationChangeCause]))
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

// WaitOptions are podctl wait's.
type WaitOptions struct {
	Namespace string
	For       string // condition=NAME[=VALUE] or delete
	Timeout   time.Duration
	Targets   []WaitTarget
}

// WaitTarget is one object to wait for.
type WaitTarget struct{ Kind, Name string }

// waitFor is a parsed --for.
type waitFor struct {
	deleted   bool
	condition string
	value     string
}

// ParseWaitFor reads --for: condition=NAME, condition=NAME=VALUE (VALUE default True), or delete.
func ParseWaitFor(s string) (waitFor, error) {
	if s == "delete" {
		return waitFor{deleted: true}, nil
	}
	rest, ok := strings.CutPrefix(s, "condition=")
	if !ok || rest == "" {
		return waitFor{}, Usagef("wait: --for %q: want condition=NAME[=VALUE] or delete", s)
	}
	name, value, found := strings.Cut(rest, "=")
	if !found {
		value = "True"
	}
	if name == "" || value == "" {
		return waitFor{}, Usagef("wait: --for %q: want condition=NAME[=VALUE] or delete", s)
	}
	return waitFor{condition: name, value: value}, nil
}

// Wait waits until every target meets --for, as kubectl wait does: "KIND/NAME condition met"
// for each, or an error naming the first that did not within --timeout.
func Wait(ctx context.Context, c *api.Client, o WaitOptions, s Streams) error {
	f, err := ParseWaitFor(o.For)
	if err != nil {
		return err
	}
	if len(o.Targets) == 0 {
		return Usagef("wait: want at least one KIND/NAME")
	}
	if o.Timeout < 0 {
		o.Timeout = 7 * 24 * time.Hour // kubectl: a negative timeout is a week
	}
	deadline := time.Now().Add(o.Timeout)
	for _, t := range o.Targets {
		kind, err := ResolveKind(t.Kind)
		if err != nil {
			return err
		}
		for {
			met, err := waitCheck(ctx, c, kind, o.Namespace, t.Name, f)
			if err != nil {
				return err
			}
			if met {
				fmt.Fprintf(s.Out, "%s/%s condition met\n", qualifiedKind(kind), t.Name)
				break
			}
			if !time.Now().Before(deadline) {
				return fmt.Errorf("timed out waiting for the condition on %s/%s", resourceOf(kind), t.Name)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(pollInterval, time.Until(deadline)+time.Millisecond)):
			}
		}
	}
	return nil
}

func resourceOf(kind string) string {
	if kind == "Pod" {
		return "pods"
	}
	k, _ := object.KindOf(kind)
	return k.Resource
}

// waitCheck reads the object once and says whether it meets f.
func waitCheck(ctx context.Context, c *api.Client, kind, namespace, name string, f waitFor) (bool, error) {
	var obj any
	var err error
	if kind == "Pod" {
		obj, err = c.GetPod(ctx, namespace, name)
	} else {
		k, _ := object.KindOf(kind)
		obj, err = c.GetObject(ctx, k, namespace, name)
	}
	if errdefs.IsNotFound(err) && f.deleted {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if f.deleted {
		return false, nil
	}
	return conditionIs(obj, f.condition, f.value), nil
}

// conditionIs: obj's status.conditions has type cond (any case, as kubectl) with status value.
func conditionIs(obj any, cond, value string) bool {
	data, err := json.Marshal(obj)
	if err != nil {
		return false
	}
	var v struct {
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status string `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	for _, c := range v.Status.Conditions {
		if strings.EqualFold(c.Type, cond) {
			return strings.EqualFold(c.Status, value)
		}
	}
	return false
}

// DescribeObject prints a Deployment or a ReplicaSet for people, in kubectl describe's layout.
func DescribeObject(ctx context.Context, c *api.Client, kind string, o DescribeOptions, s Streams) error {
	k, ok := object.KindOf(kind)
	if !ok || (kind != "Deployment" && kind != "ReplicaSet") {
		return Usagef("describe: %s is not supported yet: pods, deployments (deploy), replicasets (rs)", kind)
	}
	obj, err := c.GetObject(ctx, k, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	all, err := c.Events(ctx, o.Namespace, "")
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(s.Err, "warning: events of %s %s/%s: %v\n", strings.ToLower(kind), o.Namespace, o.Name, err)
	}
	var events []pod.Event
	for _, e := range all {
		if e.InvolvedObject.UID == obj.GetMetadata().UID {
			events = append(events, e)
		}
	}
	d := &describer{tw: tabwriter.NewWriter(s.Out, 0, 8, 2, ' ', 0)}
	switch x := obj.(type) {
	case *object.Deployment:
		sets, err := deploymentRevisions(ctx, c, o.Namespace, x)
		if err != nil {
			return err
		}
		describeDeployment(d, x, sets, events)
	case *object.ReplicaSet:
		pods, err := c.ListPods(ctx, o.Namespace)
		if err != nil {
			return err
		}
		var mine []*pod.Pod
		for _, p := range pods {
			if ref := controllerOf(p.Metadata.OwnerReferences); ref != nil && ref.UID == x.Metadata.UID {
				mine = append(mine, p)
			}
		}
		describeReplicaSet(d, x, mine, events)
	}
	return d.tw.Flush()
}

func describeMeta(d *describer, m *pod.ObjectMeta) {
	d.value(0, "Name", m.Name)
	d.value(0, "Namespace", m.Namespace)
	if m.CreationTimestamp != nil {
		d.value(0, "CreationTimestamp", m.CreationTimestamp.Format(time.RFC1123Z))
	}
	d.value(0, "Labels", keyValues(m.Labels, "="))
	d.value(0, "Annotations", keyValues(m.Annotations, ": "))
}

func describeDeployment(d *describer, x *object.Deployment, sets []*object.ReplicaSet, events []pod.Event) {
	describeMeta(d, &x.Metadata)
	d.value(0, "Selector", orNone(x.Spec.Selector.String()))
	st := x.Status
	d.value(0, "Replicas", fmt.Sprintf("%d desired | %d updated | %d total | %d available | %d unavailable",
		deref(x.Spec.Replicas), st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas))
	d.value(0, "StrategyType", x.Spec.Strategy.Type)
	d.value(0, "MinReadySeconds", strconv.Itoa(int(x.Spec.MinReadySeconds)))
	if ru := x.Spec.Strategy.RollingUpdate; ru != nil && x.Spec.Strategy.Type == object.RollingUpdateDeploymentStrategy {
		d.value(0, "RollingUpdateStrategy", fmt.Sprintf("%s max unavailable, %s max surge", intOrString(ru.MaxUnavailable), intOrString(ru.MaxSurge)))
	}
	if x.Spec.Paused {
		d.value(0, "Paused", "true")
	}
	d.line(0, "Pod Template:")
	describeTemplate(d, 1, &x.Spec.Template)
	describeConditions(d, st.Conditions)
	var old []string
	newRS := "<none>"
	for _, rs := range sets {
		desc := fmt.Sprintf("%s (%d/%d replicas created)", rs.Metadata.Name, rs.Status.Replicas, deref(rs.Spec.Replicas))
		if sameTemplateIgnoringHash(&rs.Spec.Template, &x.Spec.Template) {
			newRS = desc
		} else if deref(rs.Spec.Replicas) > 0 || rs.Status.Replicas > 0 {
			old = append(old, desc)
		}
	}
	if len(old) == 0 {
		d.value(0, "OldReplicaSets", "<none>")
	} else {
		d.value(0, "OldReplicaSets", strings.Join(old, ", "))
	}
	d.value(0, "NewReplicaSet", newRS)
	describeObjectEvents(d, events, "deployment-controller")
}

func sameTemplateIgnoringHash(a, b *pod.PodTemplateSpec) bool {
	strip := func(t *pod.PodTemplateSpec) string {
		c := *t
		labels := map[string]string{}
		for k, v := range t.Metadata.Labels {
			if k != controller.LabelPodTemplateHash {
				labels[k] = v
			}
		}
		c.Metadata.Labels = labels
		data, _ := json.Marshal(c)
		return string(data)
	}
	return strip(a) == strip(b)
}

func describeReplicaSet(d *describer, x *object.ReplicaSet, pods []*pod.Pod, events []pod.Event) {
	d.value(0, "Name", x.Metadata.Name)
	d.value(0, "Namespace", x.Metadata.Namespace)
	d.value(0, "Selector", orNone(x.Spec.Selector.String()))
	d.value(0, "Labels", keyValues(x.Metadata.Labels, "="))
	d.value(0, "Annotations", keyValues(x.Metadata.Annotations, ": "))
	if ref := controllerOf(x.Metadata.OwnerReferences); ref != nil {
		d.value(0, "Controlled By", ref.Kind+"/"+ref.Name)
	}
	d.value(0, "Replicas", fmt.Sprintf("%d current / %d desired", x.Status.Replicas, deref(x.Spec.Replicas)))
	var running, waiting, succeeded, failed int
	for _, p := range pods {
		switch p.Status.Phase {
		case pod.PodRunning:
			running++
		case pod.PodSucceeded:
			succeeded++
		case pod.PodFailed:
			failed++
		default:
			waiting++
		}
	}
	d.value(0, "Pods Status", fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed", running, waiting, succeeded, failed))
	d.line(0, "Pod Template:")
	describeTemplate(d, 1, &x.Spec.Template)
	if len(x.Status.Conditions) > 0 {
		describeConditions(d, x.Status.Conditions)
	}
	describeObjectEvents(d, events, "replicaset-controller")
}

func intOrString(v *pod.IntOrString) string {
	if v == nil {
		return "0"
	}
	if v.IsStr {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// describeTemplate is kubectl's Pod Template block at level.
func describeTemplate(d *describer, level int, t *pod.PodTemplateSpec) {
	d.value(level, "Labels", keyValues(t.Metadata.Labels, "="))
	if len(t.Metadata.Annotations) > 0 {
		d.value(level, "Annotations", keyValues(t.Metadata.Annotations, ": "))
	}
	if len(t.Spec.InitContainers) > 0 {
		d.line(level, "Init Containers:")
		for _, c := range t.Spec.InitContainers {
			describeTemplateContainer(d, level+1, c)
		}
	}
	d.line(level, "Containers:")
	for _, c := range t.Spec.Containers {
		describeTemplateContainer(d, level+1, c)
	}
	var vols []string
	for _, v := range t.Spec.Volumes {
		vols = append(vols, v.Name)
	}
	d.value(level, "Volumes", orNone(strings.Join(vols, ", ")))
}

func describeTemplateContainer(d *describer, level int, c pod.Container) {
	d.line(level, "%s:", c.Name)
	d.value(level+1, "Image", c.Image)
	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, orDefault(string(p.Protocol), "TCP")))
	}
	if len(ports) == 0 {
		d.value(level+1, "Port", "<none>")
	} else {
		d.value(level+1, "Port", strings.Join(ports, ", "))
	}
	if len(c.Command) > 0 {
		d.value(level+1, "Command", strings.Join(c.Command, "\n"))
	}
	if len(c.Args) > 0 {
		d.value(level+1, "Args", strings.Join(c.Args, "\n"))
	}
	for _, p := range []struct {
		title string
		probe *pod.Probe
	}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
		if p.probe != nil {
			d.value(level+1, p.title, probeString(p.probe))
		}
	}
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name+":\t"+e.Value)
	}
	if len(env) == 0 {
		d.value(level+1, "Environment", "<none>")
	} else {
		d.line(level+1, "Environment:")
		for _, e := range env {
			d.line(level+2, "%s", e)
		}
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.MountPath+" from "+m.Name)
	}
	d.value(level+1, "Mounts", orNone(strings.Join(mounts, "\n")))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func describeConditions(d *describer, conds []object.Condition) {
	d.line(0, "Conditions:")
	if len(conds) == 0 {
		d.line(1, "<none>")
		return
	}
	d.line(1, "Type\tStatus\tReason")
	d.line(1, "----\t------\t------")
	for _, c := range conds {
		d.line(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
	}
}

func describeObjectEvents(d *describer, events []pod.Event, from string) {
	if len(events) == 0 {
		d.line(0, "Events:  <none>")
		return
	}
	d.line(0, "Events:")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, e := range events {
		d.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, eventAge(e), from, oneLine(e.Message))
	}
}
