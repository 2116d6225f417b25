package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/internal/privcontainerd"
	"github.com/podd-dev/podd/pkg/object"
)

// The work-queue part (-only workqueue): the cost of the work-queue framework per item
// (specs/patterns/work-queue.md) on podd, against what the same user program costs without it.
// Each of -wq-runs runs measures, in this order:
//
//   - the floor (wq_floor_ms): -wq-floor-items items, each a container started directly with the
//     containerd client — created with its snapshot, its task created, waited for, started, its
//     exit awaited, task and container deleted — running the user's program on a folder
//     bind-mounted at /work. As a pod's containers do on podd, the items' containers share the
//     floor's namespaces (made once, as floor.go makes them) and one shim, kept by a sleeping
//     container of the same group that plays the pod's helper;
//   - the user's own work (wq_user_work_ms): the same sh line run -wq-items times as a process
//     of the host (fork and exec of the same busybox, cat being its applet);
//   - long-lived mode (workqueue.podd.io/run: long-lived) at parallelism 1, 2 and 4: a Job with the workqueue helper, -wq-items items
//     from a ConfigMap (--source-dir), the spool on a claim. The time per item is the span from
//     the first commit to the last (the records' finished times) over the items committed after
//     the first, so pod starts are not in it; wq_longlived_overhead_ms is that at parallelism 1
//     minus the user's own work, wq_items_per_s_pN its inverse at parallelism N;
//   - fresh-container mode (annotation workqueue.podd.io/run: fresh) at parallelism 1 on
//     -wq-floor-items items, measured as the long-lived mode; wq_fresh_overhead_ms is its time per
//     item minus the user's own work, against 1.25 × the floor. While podd refuses the annotation
//     it stays null ("not measured: fresh mode absent").
//
// The figures are the medians of the runs' figures.

// wqUserCommand is the user's program: it reads its item and writes its output, nothing more.
const wqUserCommand = `cat "$WORK_ITEM" > "$WORK_OUTPUT/r"`

// wqResults are the part's figures, in results; the six keys the issue names are null when the
// part did not run (wq_fresh_overhead_ms also while podd has no fresh-container mode).
type wqResults struct {
	WQFloor             *float64 `json:"wq_floor_ms"`
	WQFreshOverhead     *float64 `json:"wq_fresh_overhead_ms"`
	WQLongLivedOverhead *float64 `json:"wq_longlived_overhead_ms"`
	WQItemsPerSP1       *float64 `json:"wq_items_per_s_p1"`
	WQItemsPerSP2       *float64 `json:"wq_items_per_s_p2"`
	WQItemsPerSP4       *float64 `json:"wq_items_per_s_p4"`
	// The user's own work per item, and the framework's whole time per item (long-lived, p1).
	WQUserWork      float64   `json:"wq_user_work_ms,omitempty"`
	WQLongLivedItem float64   `json:"wq_longlived_item_ms,omitempty"`
	WQFreshItem     float64   `json:"wq_fresh_item_ms,omitempty"`
	WQFreshAbsent   string    `json:"wq_fresh_not_measured,omitempty"`
	WQLongLivedRuns []float64 `json:"wq_longlived_overhead_runs_ms,omitempty"`
	WQFloorRuns     []float64 `json:"wq_floor_runs_ms,omitempty"`
	WQItems         int       `json:"wq_items,omitempty"`
	WQFloorItems    int       `json:"wq_floor_items,omitempty"`
	WQRuns          int       `json:"wq_runs,omitempty"`
	WQSeconds       float64   `json:"wq_part_s,omitempty"`
}

// errModeAbsent: podd refused the annotation of a run mode it does not have.
var errModeAbsent = errors.New("mode absent")

func (b *bench) measureWorkQueue(ctx context.Context) error {
	begin := time.Now()
	o := b.opts
	if o.wqItems < 2 || o.wqFloorItems < 2 || o.wqRuns < 1 {
		return fmt.Errorf("-wq-items %d, -wq-floor-items %d, -wq-runs %d: want at least 2, 2 and 1", o.wqItems, o.wqFloorItems, o.wqRuns)
	}
	fl, err := b.newWQFloor(ctx)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	defer fl.close()
	var floor, user, ll, fresh []time.Duration
	rates := map[int][]float64{}
	freshAbsent := ""
	for run := 1; run <= o.wqRuns; run++ {
		d, err := fl.items(ctx, run, o.wqFloorItems)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		floor = append(floor, d)
		if d, err = wqUserWork(filepath.Join(b.dir, "wq-user"), o.wqItems); err != nil {
			return fmt.Errorf("the user's work: %w", err)
		}
		user = append(user, d)
		for _, par := range []int{1, 2, 4} {
			per, rate, err := b.runQueue(ctx, fmt.Sprintf("wqb-ll-p%d-%d", par, run), o.wqItems, par, "long-lived")
			if err != nil {
				return fmt.Errorf("long-lived, parallelism %d: %w", par, err)
			}
			rates[par] = append(rates[par], rate)
			if par == 1 {
				ll = append(ll, per)
			}
		}
		line := fmt.Sprintf("podbench: work queue %d/%d  floor %.1f ms  user %.2f ms  long-lived %.2f ms/item  items/s p1 %.0f p2 %.0f p4 %.0f",
			run, o.wqRuns, ms(floor, -1), ms(user, -1), ms(ll, -1), rates[1][run-1], rates[2][run-1], rates[4][run-1])
		if freshAbsent == "" {
			per, _, err := b.runQueue(ctx, fmt.Sprintf("wqb-fresh-%d", run), o.wqFloorItems, 1, "fresh")
			switch {
			case errors.Is(err, errModeAbsent):
				freshAbsent = "fresh mode absent"
				fmt.Fprintf(os.Stderr, "podbench: work queue: fresh-container mode: not measured: %s (%v)\n", freshAbsent, err)
			case err != nil:
				return fmt.Errorf("fresh containers: %w", err)
			default:
				fresh = append(fresh, per)
				line += fmt.Sprintf("  fresh %.1f ms/item", ms(fresh, -1))
			}
		}
		fmt.Fprintln(os.Stderr, line)
	}
	r := &b.res
	r.WQFloor = ptr(percentile(floor, 50))
	r.WQUserWork = percentile(user, 50)
	r.WQLongLivedItem = percentile(ll, 50)
	for i := range ll {
		r.WQLongLivedRuns = append(r.WQLongLivedRuns, ms(ll, i)-ms(user, i))
		r.WQFloorRuns = append(r.WQFloorRuns, ms(floor, i))
	}
	r.WQLongLivedOverhead = ptr(median(r.WQLongLivedRuns))
	r.WQItemsPerSP1, r.WQItemsPerSP2, r.WQItemsPerSP4 = ptr(median(rates[1])), ptr(median(rates[2])), ptr(median(rates[4]))
	if len(fresh) > 0 {
		r.WQFreshItem = percentile(fresh, 50)
		r.WQFreshOverhead = ptr(r.WQFreshItem - r.WQUserWork)
	}
	r.WQFreshAbsent = freshAbsent
	r.WQItems, r.WQFloorItems, r.WQRuns = o.wqItems, o.wqFloorItems, o.wqRuns
	r.WQSeconds = time.Since(begin).Seconds()
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// wqUserWork is the user's program's own time per item: the same sh line, run n times as a
// process of the host with the image's busybox (the PATH holds only its cat, as in the image).
func wqUserWork(dir string, n int) (time.Duration, error) {
	bin, in, out := filepath.Join(dir, "bin"), filepath.Join(dir, "input"), filepath.Join(dir, "output")
	for _, d := range []string{bin, in, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	if err := os.Symlink(ociimage.BusyboxPath, filepath.Join(bin, "cat")); err != nil && !errors.Is(err, os.ErrExist) {
		return 0, err
	}
	item := filepath.Join(in, "item")
	if err := os.WriteFile(item, []byte("item\n"), 0o644); err != nil {
		return 0, err
	}
	env := []string{"PATH=" + bin, "WORK_ITEM=" + item, "WORK_OUTPUT=" + out}
	start := time.Now()
	for range n {
		cmd := exec.Command(ociimage.BusyboxPath, "sh", "-c", wqUserCommand)
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%w: %s", err, b)
		}
	}
	d := time.Since(start) / time.Duration(n)
	if b, err := os.ReadFile(filepath.Join(out, "r")); err != nil || string(b) != "item\n" {
		return 0, fmt.Errorf("the program's output: %q %v", b, err)
	}
	return d, nil
}

// wqManifest is a queue of n items worked by a Job of par workers with the workqueue helper;
// mode is the annotation workqueue.podd.io/run ("": none).
func wqManifest(name string, n, par int, mode string) string {
	var items strings.Builder
	for i := range n {
		fmt.Fprintf(&items, "  i-%05d: \"item %d\"\n", i, i)
	}
	run := ""
	if mode != "" {
		run = fmt.Sprintf("        workqueue.podd.io/run: %s\n", mode)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: %[1]s-items}
data:
%[2]s---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %[1]s-spool}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 100Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: %[1]s}
spec:
  parallelism: %[3]d
  backoffLimit: 2
  template:
    metadata:
      annotations:
        podd.io/inject: workqueue
        workqueue.podd.io/spool: /spool
        workqueue.podd.io/source-dir: /items
        workqueue.podd.io/volumes: "spool:/spool,work:/podd-wq,items:/items:ro"
%[4]s    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      containers:
      - name: worker
        image: %[5]s
        command: [/podd-wq/podd-patterns, wq-run, --, sh, -c, '%[6]s']
        volumeMounts: [{name: work, mountPath: /podd-wq}]
      volumes:
      - {name: work, emptyDir: {}}
      - {name: spool, persistentVolumeClaim: {claimName: %[1]s-spool}}
      - {name: items, configMap: {name: %[1]s-items}}
`, name, items.String(), par, run, benchImage, wqUserCommand)
}

// runQueue runs a queue of n items with par workers until every item is committed, and returns
// the time per item from the first commit to the last and the items per second it makes.
func (b *bench) runQueue(ctx context.Context, name string, n, par int, mode string) (time.Duration, float64, error) {
	p := b.podd
	path, err := b.writeManifest(name, wqManifest(name, n, par, mode))
	if err != nil {
		return 0, 0, err
	}
	if out, err := p.podctl(ctx, "apply", "-f", path); err != nil {
		if mode != "" && bytes.Contains(out, []byte("workqueue.podd.io/run")) {
			return 0, 0, fmt.Errorf("%w: %s", errModeAbsent, bytes.TrimSpace(out))
		}
		return 0, 0, fmt.Errorf("podctl apply %s: %w: %s", name, err, out)
	}
	defer func() {
		if err := p.deleteFile(context.WithoutCancel(ctx), path); err != nil {
			fmt.Fprintln(os.Stderr, "podbench:", err)
		}
	}()
	k, _ := object.KindOf("PersistentVolumeClaim")
	var spoolDir string
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if spoolDir == "" {
			if o, err := p.client.GetObject(ctx, k, "default", name+"-spool"); err == nil {
				if uid := o.(*object.PersistentVolumeClaim).Metadata.UID; uid != "" {
					spoolDir = filepath.Join(p.dir, "root", "volumes", "pvc-"+uid)
				}
			}
		}
		if spoolDir != "" {
			done, _ := os.ReadDir(filepath.Join(spoolDir, "done"))
			dead, _ := os.ReadDir(filepath.Join(spoolDir, "dead"))
			if len(dead) > 0 {
				m, _ := os.ReadFile(filepath.Join(spoolDir, "dead", dead[0].Name(), "meta.json"))
				return 0, 0, fmt.Errorf("a dead letter: %s", m)
			}
			if len(done) == n {
				break
			}
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s: not every item committed within 5 minutes (spool %q)", name, spoolDir)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	var finished []time.Time
	entries, err := os.ReadDir(filepath.Join(spoolDir, "done"))
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		var m struct {
			Finished time.Time `json:"finished"`
		}
		dir := filepath.Join(spoolDir, "done", e.Name())
		data, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("item %s: %w", e.Name(), err)
		}
		out, err := os.ReadFile(filepath.Join(dir, "output", "r"))
		if err != nil || !strings.HasPrefix(string(out), "item ") {
			return 0, 0, fmt.Errorf("item %s: output %q %v", e.Name(), out, err)
		}
		finished = append(finished, m.Finished)
	}
	slices.SortFunc(finished, func(a, b time.Time) int { return a.Compare(b) })
	span := finished[len(finished)-1].Sub(finished[0])
	if span <= 0 {
		return 0, 0, fmt.Errorf("%s: the commits span %v", name, span)
	}
	per := span / time.Duration(n-1)
	return per, float64(n-1) / span.Seconds(), nil
}

// wqFloor starts the user's program in a container per item with the containerd client alone.
type wqFloor struct {
	b      *bench
	dir    string
	ctx    context.Context
	ns     map[string]string
	img    containerd.Image
	holder containerd.Container
}

const wqFloorGroup = "wqfloor"

func (b *bench) newWQFloor(ctx context.Context) (*wqFloor, error) {
	fl := &wqFloor{b: b, dir: filepath.Join(b.dir, "floor", wqFloorGroup), ctx: namespaces.WithNamespace(ctx, floorNamespace)}
	if err := os.MkdirAll(fl.dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if fl.ns, err = makeNamespaces(fl.dir); err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	if fl.img, err = b.client.GetImage(fl.ctx, benchImage); err != nil {
		return nil, err
	}
	// The pod's long-lived container (the helper's place): it keeps the group's shim.
	id := wqFloorGroup + "-holder"
	if fl.holder, err = b.client.NewContainer(fl.ctx, id, fl.opts(id, oci.WithProcessArgs("sleep", "1000000"))...); err != nil {
		return nil, err
	}
	task, err := fl.holder.NewTask(fl.ctx, cio.NullIO)
	if err != nil {
		return nil, err
	}
	return fl, task.Start(fl.ctx)
}

func (fl *wqFloor) opts(id string, more ...oci.SpecOpts) []containerd.NewContainerOpts {
	spec := append([]oci.SpecOpts{oci.WithDefaultSpec(), oci.WithImageConfig(fl.img),
		oci.WithAnnotations(map[string]string{"io.containerd.runc.v2.group": wqFloorGroup}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: fl.ns["net"]}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: fl.ns["ipc"]}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: fl.ns["uts"]}),
		oci.WithHostname(wqFloorGroup)}, more...)
	return []containerd.NewContainerOpts{containerd.WithImage(fl.img), containerd.WithSnapshotter("overlayfs"),
		containerd.WithNewSnapshot(id, fl.img), containerd.WithNewSpec(spec...)}
}

// items runs n items, one container each, and returns the time per item.
func (fl *wqFloor) items(ctx context.Context, run, n int) (time.Duration, error) {
	ctx = namespaces.WithNamespace(ctx, floorNamespace)
	start := time.Now()
	for i := range n {
		if err := fl.item(ctx, fmt.Sprintf("%s-%d-%d", wqFloorGroup, run, i)); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// item: the input written, the container created and run to its end, removed, its output read.
func (fl *wqFloor) item(ctx context.Context, id string) error {
	work := filepath.Join(fl.dir, id)
	if err := os.MkdirAll(filepath.Join(work, "input"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(work, "output"), 0o777); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "input", id), []byte("item "+id+"\n"), 0o644); err != nil {
		return err
	}
	ctr, err := fl.b.client.NewContainer(ctx, id, fl.opts(id,
		oci.WithProcessArgs("sh", "-c", wqUserCommand),
		oci.WithEnv([]string{"WORK_ITEM=/work/input/" + id, "WORK_OUTPUT=/work/output"}),
		oci.WithMounts([]specs.Mount{{Type: "bind", Source: work, Destination: "/work", Options: []string{"rbind", "rprivate", "rw"}}}),
	)...)
	if err != nil {
		return err
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		return err
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return err
	}
	st := <-exit
	if _, err := task.Delete(ctx); err != nil {
		return err
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		return err
	}
	if code, _, err := st.Result(); err != nil || code != 0 {
		return fmt.Errorf("item %s: exit %d %v", id, code, err)
	}
	if b, err := os.ReadFile(filepath.Join(work, "output", "r")); err != nil || string(b) != "item "+id+"\n" {
		return fmt.Errorf("item %s: output %q %v", id, b, err)
	}
	return os.RemoveAll(work)
}

func (fl *wqFloor) close() {
	ctx := context.WithoutCancel(fl.ctx)
	if fl.holder != nil {
		if task, err := fl.holder.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = fl.holder.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	_ = privcontainerd.UnmountAll(fl.dir)
	_ = os.RemoveAll(fl.dir)
}
