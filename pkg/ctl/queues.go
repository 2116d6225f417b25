package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// A queue is a workload (Job, Deployment, ReplicaSet, StatefulSet, or a pod of its own) whose pod
// template has the workqueue helper injected; it is named after the workload. podctl reads its
// spool directly on the host, where the helper's --spool lives: a PersistentVolumeClaim's folder
// under podd's --root (<root>/volumes/pvc-<uid>) or a hostPath. podd itself serves nothing for
// queues: the queue's logic stays in the helper's package.

// DefaultRoot is podd's default --root.
const DefaultRoot = "/var/lib/podd"

// IsQueueKind says whether a kind as typed names work queues.
func IsQueueKind(name string) bool {
	switch strings.ToLower(name) {
	case "queue", "queues", "wq":
		return true
	}
	return false
}

// QueueOptions select a queue (or all) and how to show them.
type QueueOptions struct {
	Namespace string
	Name      string
	// Root is podd's --root, where the claims' folders are.
	Root   string
	Output Format
}

// Queue is one queue as podctl finds it.
type Queue struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Spool     string        `json:"spool"`
	Counts    spool.Counts  `json:"counts"`
	Control   spool.Control `json:"control"`
	// DonePerMinute is the items committed in the last minute.
	DonePerMinute int `json:"donePerMinute"`
	// ETA is the time the pending items take at that rate ("" when it is 0).
	ETA string `json:"eta,omitempty"`
}

// QueueList is podctl get queues -o json.
type QueueList struct {
	Items []Queue `json:"items"`
}

// queueRef is a workload of work-queue workers.
type queueRef = workloadRef

// workloadRef is a workload (or a bare pod) whose pods run a pattern's helper container.
type workloadRef struct {
	namespace, name, kind string
	spec                  *pod.PodSpec
	// labels are the pod template's (nil for a bare pod): its pods carry them.
	labels map[string]string
}

// findQueues lists the workloads with the workqueue helper in namespace ns.
func findQueues(ctx context.Context, c *api.Client, ns string) ([]queueRef, error) {
	return workloadsWith(ctx, c, ns, "podd-workqueue")
}

// workloadsWith lists the Jobs, Deployments, ReplicaSets of no Deployment, StatefulSets and bare
// pods in namespace ns whose pods have the init container named container (an injected helper).
func workloadsWith(ctx context.Context, c *api.Client, ns, container string) ([]workloadRef, error) {
	var out []workloadRef
	for _, kind := range []string{"Job", "Deployment", "ReplicaSet", "StatefulSet"} {
		k, _ := object.KindOf(kind)
		objs, err := c.ListObjects(ctx, k, ns)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			var meta, tmeta pod.ObjectMeta
			var spec *pod.PodSpec
			switch w := o.(type) {
			case *object.Job:
				meta, tmeta, spec = w.Metadata, w.Spec.Template.Metadata, &w.Spec.Template.Spec
			case *object.Deployment:
				meta, tmeta, spec = w.Metadata, w.Spec.Template.Metadata, &w.Spec.Template.Spec
			case *object.ReplicaSet:
				if len(w.Metadata.OwnerReferences) > 0 {
					continue // a Deployment's: listed as the Deployment
				}
				meta, tmeta, spec = w.Metadata, w.Spec.Template.Metadata, &w.Spec.Template.Spec
			case *object.StatefulSet:
				meta, tmeta, spec = w.Metadata, w.Spec.Template.Metadata, &w.Spec.Template.Spec
			default:
				continue
			}
			if containerNamed(spec, container) != nil {
				out = append(out, workloadRef{namespace: meta.Namespace, name: meta.Name, kind: kind, spec: spec, labels: tmeta.Labels})
			}
		}
	}
	pods, err := c.ListPods(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		if len(p.Metadata.OwnerReferences) == 0 && containerNamed(&p.Spec, container) != nil {
			out = append(out, workloadRef{namespace: p.Metadata.Namespace, name: p.Metadata.Name, kind: "Pod", spec: &p.Spec})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].namespace != out[j].namespace {
			return out[i].namespace < out[j].namespace
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

func helperContainer(spec *pod.PodSpec) *pod.Container { return containerNamed(spec, "podd-workqueue") }

// containerNamed is the spec's init container of that name (an injected helper), or nil.
func containerNamed(spec *pod.PodSpec, name string) *pod.Container {
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == name {
			return &spec.InitContainers[i]
		}
	}
	return nil
}

// SpoolPath is the host folder of the spool the helper of spec names with --spool: through the
// volume mounted at (or above) that path, a claim's folder under root or a hostPath.
func SpoolPath(spec *pod.PodSpec, claimUID func(claim string) (string, error), root string) (string, error) {
	h := helperContainer(spec)
	if h == nil {
		return "", fmt.Errorf("no podd-workqueue container: %w", errdefs.ErrNotFound)
	}
	path := ""
	for i, a := range h.Args {
		if v, ok := strings.CutPrefix(a, "--spool="); ok {
			path = v
		} else if a == "--spool" && i+1 < len(h.Args) {
			path = h.Args[i+1]
		}
	}
	if path == "" {
		return "", fmt.Errorf("the helper has no --spool: %w", errdefs.ErrInvalidArgument)
	}
	var best *pod.VolumeMount
	for i, m := range h.VolumeMounts {
		mp := strings.TrimSuffix(m.MountPath, "/")
		if (path == mp || strings.HasPrefix(path, mp+"/")) && (best == nil || len(mp) > len(best.MountPath)) {
			best = &h.VolumeMounts[i]
		}
	}
	if best == nil {
		return "", fmt.Errorf("the spool %s is on no volume of the pod: podctl cannot read it", path)
	}
	rel := filepath.Join(best.SubPath, strings.TrimPrefix(path, strings.TrimSuffix(best.MountPath, "/")))
	for _, v := range spec.Volumes {
		if v.Name != best.Name {
			continue
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			uid, err := claimUID(v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return "", err
			}
			return filepath.Join(root, "volumes", "pvc-"+uid, rel), nil
		case v.HostPath != nil:
			return filepath.Join(v.HostPath.Path, rel), nil
		}
		return "", fmt.Errorf("the spool %s is on volume %s, neither a claim nor a hostPath: podctl cannot read it", path, v.Name)
	}
	return "", fmt.Errorf("the spool's volume %s is not in the pod: %w", best.Name, errdefs.ErrInvalidArgument)
}

func (r queueRef) open(ctx context.Context, c *api.Client, root string) (*spool.Spool, error) {
	k, _ := object.KindOf("PersistentVolumeClaim")
	path, err := SpoolPath(r.spec, func(claim string) (string, error) {
		o, err := c.GetObject(ctx, k, r.namespace, claim)
		if err != nil {
			return "", fmt.Errorf("the spool's claim %s: %w", claim, err)
		}
		return o.(*object.PersistentVolumeClaim).Metadata.UID, nil
	}, root)
	if err != nil {
		return nil, fmt.Errorf("queue %s/%s: %w", r.namespace, r.name, err)
	}
	return spool.Open(path)
}

func queueOf(ctx context.Context, c *api.Client, r queueRef, root string) (Queue, error) {
	q := Queue{Namespace: r.namespace, Name: r.name, Kind: r.kind}
	s, err := r.open(ctx, c, root)
	if err != nil {
		return q, err
	}
	q.Spool = s.Dir()
	if q.Counts, err = s.Counts(); err != nil {
		return q, err
	}
	if q.Control, err = s.Control(); err != nil {
		return q, err
	}
	if q.DonePerMinute, err = s.DoneSince(time.Now().Add(-time.Minute)); err != nil {
		return q, err
	}
	q.ETA = ETA(q.Counts.Pending(), q.DonePerMinute)
	return q, nil
}

// ETA is how long pending items take at perMinute items a minute; "" when unknown.
func ETA(pending, perMinute int) string {
	if pending == 0 {
		return "0s"
	}
	if perMinute <= 0 {
		return ""
	}
	d := time.Duration(float64(pending) / float64(perMinute) * float64(time.Minute))
	return d.Round(time.Second).String()
}

func oneQueue(ctx context.Context, c *api.Client, o QueueOptions) (queueRef, error) {
	refs, err := findQueues(ctx, c, o.Namespace)
	if err != nil {
		return queueRef{}, err
	}
	for _, r := range refs {
		if r.name == o.Name {
			return r, nil
		}
	}
	return queueRef{}, fmt.Errorf("queue %q not found in namespace %q (no workload with the workqueue helper of that name): %w", o.Name, o.Namespace, errdefs.ErrNotFound)
}

// openQueue opens the spool of the queue o names.
func openQueue(ctx context.Context, c *api.Client, o QueueOptions) (*spool.Spool, error) {
	r, err := oneQueue(ctx, c, o)
	if err != nil {
		return nil, err
	}
	return r.open(ctx, c, o.Root)
}

func state(c spool.Control) string {
	switch {
	case c.Draining:
		return "Draining"
	case c.Paused:
		return "Paused"
	}
	return "Running"
}

// GetQueues is podctl get queues [NAME].
func GetQueues(ctx context.Context, c *api.Client, o QueueOptions, s Streams) error {
	refs, err := findQueues(ctx, c, o.Namespace)
	if err != nil {
		return err
	}
	list := QueueList{Items: []Queue{}}
	var errs []error
	for _, r := range refs {
		if o.Name != "" && r.name != o.Name {
			continue
		}
		q, err := queueOf(ctx, c, r, o.Root)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list.Items = append(list.Items, q)
	}
	if o.Name != "" && len(list.Items) == 0 && len(errs) == 0 {
		return fmt.Errorf("queue %q not found in namespace %q: %w", o.Name, o.Namespace, errdefs.ErrNotFound)
	}
	if len(list.Items) == 0 && len(errs) == 0 && !o.Output.structured() {
		fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
		return nil
	}
	err = Print(s.Out, o.Output, list, func(bool) Table {
		t := Table{Header: []string{"NAME", "KIND", "STATE", "PENDING", "LEASED", "DONE", "FAILED", "DEAD", "RATE/MIN", "ETA"}}
		for _, q := range list.Items {
			t.Rows = append(t.Rows, []string{q.Name, q.Kind, state(q.Control), strconv.Itoa(q.Counts.New + q.Counts.Retry),
				strconv.Itoa(q.Counts.Leased), strconv.Itoa(q.Counts.Done), strconv.Itoa(q.Counts.Retry),
				strconv.Itoa(q.Counts.Dead), strconv.Itoa(q.DonePerMinute), etaOrUnknown(q.ETA)})
		}
		return t
	})
	return errors.Join(append([]error{err}, errs...)...)
}

func etaOrUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// DescribeQueue is podctl describe queue NAME.
func DescribeQueue(ctx context.Context, c *api.Client, o QueueOptions, s Streams) error {
	r, err := oneQueue(ctx, c, o)
	if err != nil {
		return err
	}
	q, err := queueOf(ctx, c, r, o.Root)
	if err != nil {
		return err
	}
	if o.Output.structured() {
		return Print(s.Out, o.Output, q, nil)
	}
	for _, l := range describeLines(q) {
		fmt.Fprintln(s.Out, l)
	}
	return nil
}

// QueueDead is podctl queue dead NAME: the dead letters with their reasons.
func QueueDead(ctx context.Context, c *api.Client, o QueueOptions, s Streams) error {
	sp, err := openQueue(ctx, c, o)
	if err != nil {
		return err
	}
	items, err := sp.Items(spool.StateDead)
	if err != nil {
		return err
	}
	if o.Output.structured() {
		return Print(s.Out, o.Output, struct {
			Items []spool.Meta `json:"items"`
		}{items}, nil)
	}
	if len(items) == 0 {
		fmt.Fprintf(s.Err, "No dead letters in queue %s.\n", o.Name)
		return nil
	}
	for i, m := range items {
		if i > 0 {
			fmt.Fprintln(s.Out)
		}
		code := "none (the worker died)"
		if m.LastExitCode != nil {
			code = strconv.Itoa(*m.LastExitCode)
		}
		fmt.Fprintf(s.Out, "%s: %s after %d attempt(s), exit code %s, %s\n", m.ID, m.Reason, m.Attempts, code, m.LastError)
		if tail := strings.TrimRight(m.LogTail, "\n"); tail != "" {
			for _, l := range strings.Split(tail, "\n") {
				fmt.Fprintf(s.Out, "  | %s\n", l)
			}
		}
	}
	return nil
}

// QueueRetry is podctl queue retry NAME ITEM|--all-dead.
func QueueRetry(ctx context.Context, c *api.Client, o QueueOptions, item string, allDead bool, s Streams) error {
	sp, err := openQueue(ctx, c, o)
	if err != nil {
		return err
	}
	if allDead {
		n, err := sp.RetryAllDead()
		fmt.Fprintf(s.Out, "%d dead item(s) of queue %s queued again\n", n, o.Name)
		return err
	}
	if err := sp.Retry(item); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "item %s of queue %s queued again\n", item, o.Name)
	return nil
}

// QueueControl is podctl queue pause|resume|drain NAME.
func QueueControl(ctx context.Context, c *api.Client, o QueueOptions, verb string, s Streams) error {
	sp, err := openQueue(ctx, c, o)
	if err != nil {
		return err
	}
	ctl, err := sp.Control()
	if err != nil {
		return err
	}
	switch verb {
	case "pause":
		ctl.Paused = true
	case "resume":
		ctl = spool.Control{}
	case "drain":
		ctl.Draining, ctl.Paused = true, false
	default:
		return fmt.Errorf("queue %s: unknown verb %q: %w", o.Name, verb, errdefs.ErrInvalidArgument)
	}
	if err := sp.SetControl(ctl); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "queue %s %s\n", o.Name, strings.ToLower(state(ctl)))
	return nil
}

// ProgressBar draws finished (done and dead) of total items in width characters.
func ProgressBar(finished, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := min(width, finished*width/total)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// progressLine is a queue's progress: the bar of done and dead items of all, the counts, the
// rate (items committed in the last minute) and the ETA at that rate.
func progressLine(q Queue) string {
	c := q.Counts
	finished, total := c.Done+c.Dead, c.Done+c.Dead+c.Pending()
	pct := 100
	if total > 0 {
		pct = finished * 100 / total
	}
	return fmt.Sprintf("%s %3d%% %d/%d  leased %d  failed %d  dead %d  %d/min  ETA %s",
		ProgressBar(finished, total, 30), pct, finished, total, c.Leased, c.Retry, c.Dead, q.DonePerMinute, etaOrUnknown(q.ETA))
}

// progressLines are the lines of podctl get queues -w and podctl queue watch: a queue a line,
// its name (padded to the longest) before its progress.
func progressLines(qs []Queue) []string {
	width := 0
	for _, q := range qs {
		width = max(width, len(q.Name))
	}
	lines := make([]string, 0, len(qs))
	for _, q := range qs {
		lines = append(lines, fmt.Sprintf("%-*s  %s", width, q.Name, progressLine(q)))
	}
	return lines
}

// describeLines are podctl describe queue's lines for a queue.
func describeLines(q Queue) []string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", q.Name)
	fmt.Fprintf(tw, "Namespace:\t%s\n", q.Namespace)
	fmt.Fprintf(tw, "Workers:\t%s %s\n", q.Kind, q.Name)
	fmt.Fprintf(tw, "Spool:\t%s\n", q.Spool)
	fmt.Fprintf(tw, "State:\t%s\n", state(q.Control))
	fmt.Fprintf(tw, "Pending:\t%d\n", q.Counts.New)
	fmt.Fprintf(tw, "Leased:\t%d\n", q.Counts.Leased)
	fmt.Fprintf(tw, "Done:\t%d\n", q.Counts.Done)
	fmt.Fprintf(tw, "Failed:\t%d (waiting for a retry)\n", q.Counts.Retry)
	fmt.Fprintf(tw, "Dead:\t%d\n", q.Counts.Dead)
	fmt.Fprintf(tw, "Rate:\t%d/min\n", q.DonePerMinute)
	fmt.Fprintf(tw, "ETA:\t%s\n", etaOrUnknown(q.ETA))
	_ = tw.Flush()
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// renderFrame is what one update of a live view writes: on a terminal, it moves the cursor up over
// the previous frame's lines (prev of them), clears from there down and draws lines in their
// place; elsewhere (a pipe, a file, a test) it appends lines, so each update is plain lines.
func renderFrame(prev int, lines []string, tty bool) string {
	var b strings.Builder
	if tty && prev > 0 {
		fmt.Fprintf(&b, "\033[%dF\033[J", prev)
	}
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// WatchOptions are a live view's: the time between two updates and whether its output is a
// terminal (redrawn in place) or not (a line per queue and update).
type WatchOptions struct {
	Interval time.Duration
	TTY      bool
}

// watch draws frames every interval until every watched queue is finished (nothing new, retried
// or leased) or ctx ends (an interrupt). frame reads the queues and says whether all are
// finished.
func watch(ctx context.Context, w WatchOptions, out io.Writer, frame func() (lines []string, finished bool, err error)) error {
	prev := 0
	for {
		lines, finished, err := frame()
		if err != nil {
			return err
		}
		if _, err := io.WriteString(out, renderFrame(prev, lines, w.TTY)); err != nil {
			return err
		}
		prev = len(lines)
		if finished {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.Interval):
		}
	}
}

// WatchQueues is podctl get queues -w [NAME] (and podctl queue watch NAME): the progress of the
// namespace's queues (or of NAME), a line each, until all are finished or interrupted. Queues
// created meanwhile join the view; with none yet it waits for one.
func WatchQueues(ctx context.Context, c *api.Client, o QueueOptions, w WatchOptions, s Streams) error {
	if o.Name != "" {
		if _, err := oneQueue(ctx, c, o); err != nil {
			return err
		}
	}
	return watch(ctx, w, s.Out, func() ([]string, bool, error) {
		refs, err := findQueues(ctx, c, o.Namespace)
		if err != nil {
			return nil, false, err
		}
		var qs []Queue
		var unread []string
		for _, r := range refs {
			if o.Name != "" && r.name != o.Name {
				continue
			}
			q, err := queueOf(ctx, c, r, o.Root)
			if err != nil {
				// Say so and look again at the next update (a claim not bound yet, say).
				unread = append(unread, err.Error())
				continue
			}
			qs = append(qs, q)
		}
		if len(qs)+len(unread) == 0 {
			if o.Name != "" {
				return nil, false, fmt.Errorf("queue %q not found in namespace %q (deleted): %w", o.Name, o.Namespace, errdefs.ErrNotFound)
			}
			return []string{fmt.Sprintf("No queues in %s namespace yet.", o.Namespace)}, false, nil
		}
		return append(progressLines(qs), unread...), len(unread) == 0 && allFinished(qs), nil
	})
}

// WatchDescribeQueue is podctl describe queue NAME -w: the description with the progress bar
// below it, redrawn until the queue is finished or interrupted.
func WatchDescribeQueue(ctx context.Context, c *api.Client, o QueueOptions, w WatchOptions, s Streams) error {
	r, err := oneQueue(ctx, c, o)
	if err != nil {
		return err
	}
	return watch(ctx, w, s.Out, func() ([]string, bool, error) {
		q, err := queueOf(ctx, c, r, o.Root)
		if err != nil {
			return nil, false, err
		}
		lines := append(describeLines(q), "Progress: "+progressLine(q))
		if !w.TTY {
			lines = append(lines, "") // a blank line between two descriptions
		}
		return lines, allFinished([]Queue{q}), nil
	})
}

// allFinished: every queue has finished items and none pending. A queue with no item yet has
// not started (its sources are read when its first worker starts): it is waited for.
func allFinished(qs []Queue) bool {
	for _, q := range qs {
		if q.Counts.Pending() > 0 || q.Counts.Done+q.Counts.Dead == 0 {
			return false
		}
	}
	return true
}
