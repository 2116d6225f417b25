package controller

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

const stsManifest = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: busybox
        env: [{name: V, value: "1"}]
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
`

type stsEnv struct {
	t    *testing.T
	ctx  context.Context
	pods *fakePods
	objs *Objects
	sts  *StatefulSets
	pvcs *PVCs
}

func newSTSEnv(t *testing.T) *stsEnv {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pods := newFakePods()
	pods.removeFor = 0
	objs, err := NewObjects(ctx, &memStore{}, &apiPods{pods: map[string]*pod.Pod{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &stsEnv{t: t, ctx: ctx, pods: pods, objs: objs,
		sts:  &StatefulSets{Objects: objs, Pods: pods},
		pvcs: &PVCs{Objects: objs, Pods: pods, Root: t.TempDir()}}
}

// apply applies a manifest, with replacements old → new made in it first.
func (e *stsEnv) apply(manifestText string, replace ...string) {
	e.t.Helper()
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(manifestText, replace[i]) {
			e.t.Fatalf("manifest has no %q", replace[i])
		}
		manifestText = strings.Replace(manifestText, replace[i], replace[i+1], 1)
	}
	objs, err := manifest.DecodeObjects([]byte(manifestText))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.objs.Apply(e.ctx, objs); err != nil {
		e.t.Fatal(err)
	}
}

// sync runs the controllers once each, and waits for the removals they started.
func (e *stsEnv) sync() {
	e.t.Helper()
	if _, err := e.pvcs.Sync(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.sts.Sync(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	waitFor(e.t, "the removals to end", func() bool {
		for k := range e.sts.busy {
			ns, name, _ := strings.Cut(k, "/")
			if p, _ := e.pods.List(e.ctx, ns); slices.ContainsFunc(p, func(p *pod.Pod) bool { return p.Metadata.Name == name }) {
				return false
			}
		}
		return true
	})
}

func (e *stsEnv) names() []string {
	e.t.Helper()
	pods, _ := e.pods.List(e.ctx, "")
	var out []string
	for _, p := range pods {
		out = append(out, p.Metadata.Name)
	}
	sort.Strings(out)
	return out
}

func (e *stsEnv) wantPods(want ...string) {
	e.t.Helper()
	if got := e.names(); !slices.Equal(got, want) {
		e.t.Fatalf("pods: got %v, want %v", got, want)
	}
}

func (e *stsEnv) ready(names ...string) {
	now := time.Now()
	for _, n := range names {
		e.pods.setStatus("default", n, func(s *pod.PodStatus) {
			s.Phase = pod.PodRunning
			s.Conditions = []pod.PodCondition{{Type: "Ready", Status: "True", LastTransitionTime: &now}}
		})
	}
}

func (e *stsEnv) set() *object.StatefulSet {
	e.t.Helper()
	obj, err := e.objs.Get("StatefulSet", "default", "web")
	if err != nil {
		e.t.Fatal(err)
	}
	return obj.(*object.StatefulSet)
}

func (e *stsEnv) claims() map[string]*object.PersistentVolumeClaim {
	out := map[string]*object.PersistentVolumeClaim{}
	for _, obj := range e.objs.List("PersistentVolumeClaim", "") {
		out[obj.GetMetadata().Name] = obj.(*object.PersistentVolumeClaim)
	}
	return out
}

// TestStatefulSetOrderedReady: OrderedReady makes web-0, web-1, web-2 one at a time, each only
// once the one before is Running and Ready, with its name, hostname, subdomain, labels, owner and
// claim; each claim is made once and bound to its own folder.
func TestStatefulSetOrderedReady(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest)
	e.sync()
	e.wantPods("web-0")
	e.sync()
	e.wantPods("web-0") // not ready: web-1 waits
	e.ready("web-0")
	e.sync()
	e.wantPods("web-0", "web-1")
	e.ready("web-1")
	e.sync()
	e.wantPods("web-0", "web-1", "web-2")
	e.ready("web-2")
	e.sync()
	e.sync()

	set := e.set()
	p := e.pods.get("web-1")
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "web" {
		t.Errorf("web-1: hostname %q subdomain %q, want web-1 and web", p.Spec.Hostname, p.Spec.Subdomain)
	}
	l := p.Metadata.Labels
	if l[LabelStatefulSetPodName] != "web-1" || l[LabelPodIndex] != "1" || l[LabelRevisionHash] != set.Status.UpdateRevision || l["app"] != "web" {
		t.Errorf("web-1 labels: %v (update revision %s)", l, set.Status.UpdateRevision)
	}
	if len(p.Metadata.OwnerReferences) != 1 || p.Metadata.OwnerReferences[0].UID != set.Metadata.UID {
		t.Errorf("web-1 owner references: %+v", p.Metadata.OwnerReferences)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-1" {
		t.Errorf("web-1 volumes: %+v", p.Spec.Volumes)
	}
	claims := e.claims()
	if len(claims) != 3 {
		t.Fatalf("claims: %d, want 3", len(claims))
	}
	for _, name := range []string{"data-web-0", "data-web-1", "data-web-2"} {
		c := claims[name]
		if c == nil || c.Status.Phase != ClaimBound || c.Metadata.Labels["app"] != "web" {
			t.Fatalf("claim %s: %+v", name, c)
		}
		if fi, err := os.Stat(ClaimDir(e.pvcs.Root, c.Metadata.UID)); err != nil || !fi.IsDir() {
			t.Errorf("claim %s has no folder: %v", name, err)
		}
		if q := c.Status.Capacity["storage"]; q.String() != "1Gi" {
			t.Errorf("claim %s capacity %s, want 1Gi", name, q.String())
		}
	}
	st := set.Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 || st.CurrentRevision != st.UpdateRevision || !strings.HasPrefix(st.UpdateRevision, "web-") {
		t.Errorf("status: %+v", st)
	}
}

func (e *stsEnv) upReady(n int) {
	e.t.Helper()
	for i := 0; i < n+2; i++ {
		e.sync()
		e.ready(e.names()...)
	}
	e.sync()
}

// TestStatefulSetScaleDown: a scale down removes the highest ordinal first, one at a time, and
// keeps the claims (whenScaled: Retain); scaling up again gives the pods their old claims.
func TestStatefulSetScaleDown(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest)
	e.upReady(3)
	e.wantPods("web-0", "web-1", "web-2")
	before := e.claims()

	e.apply(stsManifest, "replicas: 3", "replicas: 1")
	e.pods.removeFor = 50 * time.Millisecond
	if _, err := e.sts.Sync(e.ctx); err != nil {
		t.Fatal(err)
	}
	// web-2 is on its way out; web-1 waits for it.
	if _, err := e.sts.Sync(e.ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-2's removal", func() bool { return e.pods.get("web-2") == nil })
	if e.pods.get("web-1") == nil {
		t.Fatal("web-1 was removed together with web-2")
	}
	e.sync()
	e.sync()
	e.wantPods("web-0")
	if st := e.set().Status; st.Replicas != 1 {
		t.Errorf("status replicas %d, want 1", st.Replicas)
	}
	after := e.claims()
	if len(after) != 3 {
		t.Fatalf("claims after the scale down: %d, want 3 (Retain)", len(after))
	}

	e.apply(stsManifest)
	e.upReady(3)
	e.wantPods("web-0", "web-1", "web-2")
	for name, c := range e.claims() {
		if c.Metadata.UID != before[name].Metadata.UID {
			t.Errorf("claim %s was made again", name)
		}
	}
}

// TestStatefulSetScaleDownDeletesClaims: whenScaled: Delete deletes the claims of the ordinals
// scaled away, once their pods are gone, and their folders with them.
func TestStatefulSetScaleDownDeletesClaims(t *testing.T) {
	e := newSTSEnv(t)
	m := strings.Replace(stsManifest, "  serviceName: web\n", "  serviceName: web\n  persistentVolumeClaimRetentionPolicy: {whenScaled: Delete}\n", 1)
	e.apply(m)
	e.upReady(3)
	gone := e.claims()["data-web-2"]
	e.apply(m, "replicas: 3", "replicas: 2")
	for range 4 {
		e.sync()
	}
	e.wantPods("web-0", "web-1")
	claims := e.claims()
	if claims["data-web-2"] != nil || claims["data-web-1"] == nil || claims["data-web-0"] == nil {
		t.Fatalf("claims after scaling to 2: %v", keys(claims))
	}
	if _, err := os.Stat(ClaimDir(e.pvcs.Root, gone.Metadata.UID)); !os.IsNotExist(err) {
		t.Errorf("the folder of data-web-2 is still there: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestStatefulSetRollingUpdate: a template change replaces the pods in reverse ordinal order,
// each new pod Ready before the next is replaced, and stops at the partition.
func TestStatefulSetRollingUpdate(t *testing.T) {
	e := newSTSEnv(t)
	m := strings.Replace(stsManifest, "  serviceName: web\n", "  serviceName: web\n  updateStrategy:\n    rollingUpdate: {partition: 1}\n", 1)
	e.apply(m)
	e.upReady(3)
	old := e.set().Status.CurrentRevision

	e.apply(m, `value: "1"`, `value: "2"`)
	update := revisionName("web", &e.set().Spec.Template)
	rev := func(name string) string {
		if p := e.pods.get(name); p != nil {
			return p.Metadata.Labels[LabelRevisionHash]
		}
		return ""
	}
	var order []string
	seen := map[string]bool{}
	for range 12 {
		e.sync()
		for _, n := range []string{"web-0", "web-1", "web-2"} {
			if rev(n) == update && !seen[n] {
				seen[n] = true
				order = append(order, n)
				// Not ready yet: nothing else may be replaced meanwhile.
				e.sync()
				e.sync()
				for _, other := range []string{"web-0", "web-1", "web-2"} {
					if other != n && rev(other) == update && !seen[other] {
						t.Fatalf("%s was replaced before %s was ready", other, n)
					}
				}
				e.ready(n)
			}
		}
	}
	if !slices.Equal(order, []string{"web-2", "web-1"}) {
		t.Fatalf("replaced %v, want [web-2 web-1] (reverse order, partition 1)", order)
	}
	if rev("web-0") != old {
		t.Errorf("web-0 (below the partition) has revision %s, want %s", rev("web-0"), old)
	}
	st := e.set().Status
	if st.CurrentRevision != old || st.UpdateRevision != update || st.UpdatedReplicas != 2 || st.CurrentReplicas != 1 {
		t.Errorf("status: current %s (%d) update %s (%d), want %s (1) and %s (2)", st.CurrentRevision, st.CurrentReplicas, st.UpdateRevision, st.UpdatedReplicas, old, update)
	}

	// A pod below the partition, deleted, comes back at the current revision.
	if err := e.pods.RemoveOwned(e.ctx, OwnerOf(e.set(), ""), "default", "web-0"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if rev("web-0") != old {
		t.Errorf("web-0 made again at %s, want the current revision %s", rev("web-0"), old)
	}

	// Partition 0 finishes the rollout: the update revision becomes the current one.
	e.ready("web-0")
	e.apply(m, `value: "1"`, `value: "2"`, "partition: 1", "partition: 0")
	for range 6 {
		e.sync()
		e.ready(e.names()...)
	}
	if rev("web-0") != update {
		t.Errorf("web-0 not updated with partition 0")
	}
	if st := e.set().Status; st.CurrentRevision != update || st.CurrentReplicas != 3 {
		t.Errorf("after the rollout: current %s (%d), want %s (3)", st.CurrentRevision, st.CurrentReplicas, update)
	}
}

// TestStatefulSetOnDelete: OnDelete leaves running pods alone; a deleted one comes back updated.
func TestStatefulSetOnDelete(t *testing.T) {
	e := newSTSEnv(t)
	m := strings.Replace(stsManifest, "  serviceName: web\n", "  serviceName: web\n  updateStrategy: {type: OnDelete}\n", 1)
	e.apply(m)
	e.upReady(3)
	old := e.pods.get("web-2").Metadata.Labels[LabelRevisionHash]
	e.apply(m, `value: "1"`, `value: "2"`)
	e.upReady(3)
	for _, n := range []string{"web-0", "web-1", "web-2"} {
		if e.pods.get(n).Metadata.Labels[LabelRevisionHash] != old {
			t.Fatalf("%s replaced under OnDelete", n)
		}
	}
	if err := e.pods.RemoveOwned(e.ctx, OwnerOf(e.set(), ""), "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got := e.pods.get("web-1").Metadata.Labels[LabelRevisionHash]; got == old {
		t.Errorf("web-1 made again at the old revision")
	}
}

// TestStatefulSetParallel: Parallel makes every pod at once, ready or not.
func TestStatefulSetParallel(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest, "  serviceName: web\n", "  serviceName: web\n  podManagementPolicy: Parallel\n")
	e.sync()
	e.wantPods("web-0", "web-1", "web-2")
	if len(e.claims()) != 3 {
		t.Errorf("claims: %v", keys(e.claims()))
	}
}

// TestStatefulSetOrdinalsStart: ordinals.start numbers the pods and claims from there.
func TestStatefulSetOrdinalsStart(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest, "  serviceName: web\n", "  serviceName: web\n  ordinals: {start: 5}\n  podManagementPolicy: Parallel\n")
	e.sync()
	e.wantPods("web-5", "web-6", "web-7")
	if e.claims()["data-web-5"] == nil {
		t.Errorf("claims: %v", keys(e.claims()))
	}
}

// TestStatefulSetDeletedPodComesBack: a deleted pod is made again with its name and its claim.
func TestStatefulSetDeletedPodComesBack(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest)
	e.upReady(3)
	uid := e.pods.get("web-1").Metadata.UID
	claim := e.claims()["data-web-1"].Metadata.UID
	if err := e.pods.RemoveOwned(e.ctx, OwnerOf(e.set(), ""), "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	p := e.pods.get("web-1")
	if p == nil || p.Metadata.UID == uid {
		t.Fatalf("web-1 not made again: %v", p)
	}
	if p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-1" || e.claims()["data-web-1"].Metadata.UID != claim || len(e.claims()) != 3 {
		t.Errorf("web-1 came back with claims %v", keys(e.claims()))
	}
}

// TestClaimProtection: a deleted claim a pod uses stays, Terminating, with its folder, until the
// pod is gone; then the folder and the claim go. A claim made again gets a new, empty folder.
func TestClaimProtection(t *testing.T) {
	e := newSTSEnv(t)
	const claimYAML = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: fast
  resources: {requests: {storage: 2Gi}}
`
	e.apply(claimYAML)
	e.sync()
	c := e.claims()["data"]
	dir := ClaimDir(e.pvcs.Root, c.Metadata.UID)
	path, err := ClaimPaths{Objects: e.objs, Root: e.pvcs.Root}.ClaimPath("default", "data")
	if err != nil || path != dir {
		t.Fatalf("ClaimPath: %q, %v; want %q", path, err, dir)
	}
	if !slices.Equal(c.Metadata.Finalizers, []string{object.PVCProtectionFinalizer}) || c.Status.Phase != ClaimBound {
		t.Fatalf("claim: %+v", c)
	}
	if _, err := (ClaimPaths{Objects: e.objs, Root: e.pvcs.Root}).ClaimPath("default", "other"); !errdefs.IsNotFound(err) {
		t.Errorf("ClaimPath of a missing claim: %v, want NotFound", err)
	}
	user := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: "default", Name: "user"}, Spec: pod.PodSpec{Volumes: []pod.Volume{{Name: "v", PersistentVolumeClaim: &pod.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}
	if _, err := e.pods.CreateOwned(e.ctx, pod.Owner{}, []*pod.Pod{user}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/file", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.objs.Delete(e.ctx, "PersistentVolumeClaim", "default", "data", nil); err != nil {
		t.Fatal(err)
	}
	e.sync()
	c = e.claims()["data"]
	if c == nil || c.Metadata.DeletionTimestamp == nil {
		t.Fatalf("claim in use after delete: %+v, want it Terminating", c)
	}
	if _, err := os.Stat(dir + "/file"); err != nil {
		t.Fatalf("the folder of a claim in use went: %v", err)
	}
	if err := e.pods.RemoveOwned(e.ctx, pod.Owner{}, "default", "user"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if e.claims()["data"] != nil {
		t.Fatal("claim still there once no pod uses it")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("folder still there: %v", err)
	}
}

// TestClaimSweep: the folder of a claim that is gone (a podd killed between removing a claim and
// its folder) is removed; the folders of living claims stay.
func TestClaimSweep(t *testing.T) {
	e := newSTSEnv(t)
	if err := os.MkdirAll(ClaimDir(e.pvcs.Root, "gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.apply(stsManifest, "replicas: 3", "replicas: 1")
	e.sync()
	e.sync()
	entries, _ := os.ReadDir(e.pvcs.Root + "/volumes")
	if len(entries) != 1 || entries[0].Name() != "pvc-"+e.claims()["data-web-0"].Metadata.UID {
		t.Fatalf("volumes: %v", entries)
	}
}

// TestPutRefusesDeletedObject: a controller's write about an object deleted since it read it
// does not bring the object back (a status written after a delete made the deleted
// StatefulSet, and so its pods, come back).
func TestPutRefusesDeletedObject(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest)
	set := e.set()
	if err := e.objs.Delete(e.ctx, "StatefulSet", "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	set.Status.Replicas = 3
	if err := e.objs.Put(e.ctx, set); !errdefs.IsNotFound(err) {
		t.Errorf("Put of a deleted object: %v, want NotFound", err)
	}
	if err := e.objs.UpdateStatus(e.ctx, set); !errdefs.IsNotFound(err) {
		t.Errorf("UpdateStatus of a deleted object: %v, want NotFound", err)
	}
	if _, err := e.objs.Get("StatefulSet", "default", "web"); !errdefs.IsNotFound(err) {
		t.Errorf("the deleted StatefulSet is back: %v", err)
	}
}

// TestUpdateStatusKeepsSpecAfterApply: a status written from an old read does not undo an apply since.
func TestUpdateStatusKeepsSpecAfterApply(t *testing.T) {
	e := newSTSEnv(t)
	e.apply(stsManifest)
	old := e.set()
	e.apply(stsManifest, "replicas: 3", "replicas: 5")
	old.Status.ReadyReplicas = 2
	if err := e.objs.UpdateStatus(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	now := e.set()
	if *now.Spec.Replicas != 5 || now.Status.ReadyReplicas != 2 || now.Metadata.Generation != 2 {
		t.Errorf("after UpdateStatus: replicas %d ready %d generation %d, want 5, 2, 2", *now.Spec.Replicas, now.Status.ReadyReplicas, now.Metadata.Generation)
	}
}
