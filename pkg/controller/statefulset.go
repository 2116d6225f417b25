package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Labels Kubernetes puts on a StatefulSet's pods.
const (
	LabelStatefulSetPodName = "statefulset.kubernetes.io/pod-name"
	LabelPodIndex           = "apps.kubernetes.io/pod-index"
	LabelRevisionHash       = "controller-revision-hash"
)

// StatefulSets runs StatefulSets as kube-controller-manager's StatefulSet controller does
// (pkg/controller/statefulset/stateful_set_control.go): pods <name>-<ordinal> with stable
// hostnames and claims, created in order (OrderedReady: each Running and Ready before the next;
// Parallel: all at once), removed from the highest ordinal, and replaced on a template change in
// reverse ordinal order down to the partition (RollingUpdate) or only when deleted (OnDelete).
//
// Every decision is taken again from what is stored and running at each sync: pod and claim
// names are fixed by the ordinal, so that a podd killed at any step finds what it did and does
// the rest, never a pod or a claim twice.
type StatefulSets struct {
	Objects *Objects
	Pods    Pods
	Log     *slog.Logger
	// Now is the clock of minReadySeconds (time.Now when nil).
	Now func() time.Time

	busy map[string]bool // namespace/name of pods being removed
	done chan string
}

// Name names the controller in logs.
func (c *StatefulSets) Name() string { return "statefulset" }

// setView is what one sync sees of one StatefulSet.
type setView struct {
	set       *object.StatefulSet
	start     int
	replicas  []*pod.Pod // index: ordinal - start, for the ordinals the spec asks for
	condemned []*pod.Pod // the others, highest ordinal first
	claims    map[string]*object.PersistentVolumeClaim
	update    string // updateRevision
	current   string // currentRevision
}

// Sync acts once on every StatefulSet: see stateful_set_control.go's UpdateStatefulSet.
func (c *StatefulSets) Sync(ctx context.Context) (time.Duration, error) {
	if c.busy == nil {
		c.busy, c.done = map[string]bool{}, make(chan string, 64)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for drained := false; !drained; {
		select {
		case k := <-c.done:
			delete(c.busy, k)
		default:
			drained = true
		}
	}
	if !c.Pods.Accepting() {
		return 0, nil
	}
	sets := c.Objects.List("StatefulSet", "")
	if len(sets) == 0 {
		return 0, nil
	}
	pods, err := c.Pods.List(ctx, "")
	if err != nil {
		return 0, err
	}
	// A removal whose pod is gone is over, even if its goroutine has not said so yet: the pod's
	// change may wake this sync first, and its ordinal should not wait for the next.
	listed := map[string]bool{}
	for _, p := range pods {
		listed[key(p.Metadata.Namespace, p.Metadata.Name)] = true
	}
	for k := range c.busy {
		if !listed[k] {
			delete(c.busy, k)
		}
	}
	owners := c.Pods.Owners()
	claims := map[string]*object.PersistentVolumeClaim{}
	for _, obj := range c.Objects.List("PersistentVolumeClaim", "") {
		claims[key(obj.GetMetadata().Namespace, obj.GetMetadata().Name)] = obj.(*object.PersistentVolumeClaim)
	}
	var (
		after time.Duration
		errs  []error
	)
	for _, obj := range sets {
		set := obj.(*object.StatefulSet)
		v := c.view(set, pods, owners, claims)
		a, err := c.syncSet(ctx, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("statefulset %s/%s: %w", set.Metadata.Namespace, set.Metadata.Name, err))
		}
		if a > 0 && (after == 0 || a < after) {
			after = a
		}
	}
	if len(c.busy) > 0 && (after == 0 || after > retryAfterError) {
		after = retryAfterError
	}
	return after, errors.Join(errs...)
}

// view sorts the set's pods (those the supervisor says it owns) by ordinal.
func (c *StatefulSets) view(set *object.StatefulSet, pods []*pod.Pod, owners map[string]pod.Owner, claims map[string]*object.PersistentVolumeClaim) *setView {
	m := &set.Metadata
	v := &setView{set: set, claims: claims, update: revisionName(set.Metadata.Name, &set.Spec.Template)}
	if set.Spec.Ordinals != nil {
		v.start = int(set.Spec.Ordinals.Start)
	}
	v.current = set.Status.CurrentRevision
	if v.current == "" {
		v.current = v.update
	}
	v.replicas = make([]*pod.Pod, int(*set.Spec.Replicas))
	for _, p := range pods {
		k := key(p.Metadata.Namespace, p.Metadata.Name)
		o := owners[k]
		if o.Kind != "StatefulSet" || o.Name != key(m.Namespace, m.Name) || !setOwns(p, set) {
			continue
		}
		ord, ok := ordinalOf(set.Metadata.Name, p.Metadata.Name)
		if !ok {
			continue
		}
		if i := ord - v.start; i >= 0 && i < len(v.replicas) {
			v.replicas[i] = p
		} else {
			v.condemned = append(v.condemned, p)
		}
	}
	sort.Slice(v.condemned, func(i, j int) bool {
		a, _ := ordinalOf(set.Metadata.Name, v.condemned[i].Metadata.Name)
		b, _ := ordinalOf(set.Metadata.Name, v.condemned[j].Metadata.Name)
		return a > b
	})
	return v
}

// setOwns: the pod's controller reference (if any) names this set, not an earlier one of the
// same name (the collector removes those).
func setOwns(p *pod.Pod, set *object.StatefulSet) bool {
	for _, r := range p.Metadata.OwnerReferences {
		if r.Kind == "StatefulSet" && r.UID != set.Metadata.UID {
			return false
		}
	}
	return true
}

// ordinalOf reads the ordinal of a pod named <set>-<ordinal>.
func ordinalOf(set, name string) (int, bool) {
	s, ok := strings.CutPrefix(name, set+"-")
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// revisionName is a template's revision, as Kubernetes names a ControllerRevision: <set>-<hash>.
func revisionName(set string, t *pod.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return set + "-" + hex.EncodeToString(sum[:5])
}

// ClaimName is the claim of a volumeClaimTemplate for one pod: <template>-<set>-<ordinal>.
func ClaimName(template, set string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template, set, ordinal)
}

func (c *StatefulSets) syncSet(ctx context.Context, v *setView) (time.Duration, error) {
	set := v.set
	spec := &set.Spec
	monotonic := spec.PodManagementPolicy != object.ParallelPodManagement
	minReady := time.Duration(spec.MinReadySeconds) * time.Second
	var requeue time.Duration
	wait := func(d time.Duration) {
		if d > 0 && (requeue == 0 || d < requeue) {
			requeue = d
		}
	}

	status := c.status(v, minReady)
	defer func() {
		// The status is observed before acting, as Kubernetes reports it; the next sync (woken
		// by what the actions change) reports their outcome.
		if err := c.Objects.UpdateStatus(context.WithoutCancel(ctx), statusOnly(set, status)); err != nil && !errdefs.IsNotFound(err) {
			c.Log.Warn("store statefulset status", "statefulset", set.Metadata.Namespace+"/"+set.Metadata.Name, "err", err)
		}
		fault.Point(fault.StatefulSetAfterStatus)
	}()

	// Pods that ended are removed, and made again below, as Kubernetes does.
	for _, p := range append(append([]*pod.Pod{}, v.replicas...), v.condemned...) {
		if p != nil && (p.Status.Phase == pod.PodFailed || p.Status.Phase == pod.PodSucceeded) && !c.isBusy(p) {
			c.Log.Info("statefulset pod ended: recreating it", "pod", p.Metadata.Name, "phase", p.Status.Phase)
			c.remove(ctx, set, p)
		}
	}

	// Create and wait, lowest ordinal first.
	for i, p := range v.replicas {
		ord := v.start + i
		if p == nil {
			if c.busy[key(set.Metadata.Namespace, podName(set, ord))] {
				if monotonic {
					return requeue, nil
				}
				continue
			}
			if err := c.ensureClaims(ctx, set, ord, v.claims); err != nil {
				if errdefs.IsFailedPrecondition(err) {
					c.Log.Info("statefulset pod waits for its claim", "pod", podName(set, ord), "reason", err)
					return retryAfterError, nil
				}
				return 0, err
			}
			fault.Point(fault.StatefulSetAfterClaims)
			if err := c.create(ctx, v, ord, i); err != nil {
				return 0, err
			}
			fault.Point(fault.StatefulSetAfterPod)
			if monotonic {
				return requeue, nil
			}
			continue
		}
		if !monotonic {
			continue
		}
		if c.isBusy(p) {
			return requeue, nil
		}
		if !runningAndReady(p) {
			return requeue, nil
		}
		if left := availableIn(p, minReady, c.Now()); left > 0 {
			wait(left)
			return requeue, nil
		}
	}

	// Remove what the spec no longer asks for, highest ordinal first.
	for _, p := range v.condemned {
		if c.isBusy(p) {
			if monotonic {
				return requeue, nil
			}
			continue
		}
		c.Log.Info("statefulset scales down", "pod", p.Metadata.Name)
		c.remove(ctx, set, p)
		if monotonic {
			return requeue, nil
		}
	}
	if err := c.releaseScaledClaims(ctx, v); err != nil {
		return 0, err
	}

	if spec.UpdateStrategy.Type != object.RollingUpdateStatefulSetStrategyType {
		return requeue, nil
	}
	// Replace the pods of another revision, highest ordinal first, down to the partition, one
	// at a time, each updated pod Ready before the next.
	partition := 0
	if ru := spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for i := len(v.replicas) - 1; i >= partition; i-- {
		p := v.replicas[i]
		if p == nil {
			return requeue, nil
		}
		if p.Metadata.Labels[LabelRevisionHash] != v.update && !c.isBusy(p) {
			c.Log.Info("statefulset rolls a pod to its update revision", "pod", p.Metadata.Name, "revision", v.update)
			c.remove(ctx, set, p)
			return requeue, nil
		}
		if c.isBusy(p) || !runningAndReady(p) {
			return requeue, nil
		}
		if left := availableIn(p, minReady, c.Now()); left > 0 {
			wait(left)
			return requeue, nil
		}
	}
	return requeue, nil
}

func podName(set *object.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Metadata.Name, ordinal)
}

func (c *StatefulSets) isBusy(p *pod.Pod) bool {
	return c.busy[key(p.Metadata.Namespace, p.Metadata.Name)]
}

// status counts the set's pods as Kubernetes' updateStatefulSetStatus does.
func (c *StatefulSets) status(v *setView, minReady time.Duration) object.StatefulSetStatus {
	set := v.set
	st := object.StatefulSetStatus{
		ObservedGeneration: set.Metadata.Generation,
		CurrentRevision:    v.current,
		UpdateRevision:     v.update,
		CollisionCount:     set.Status.CollisionCount,
		CurrentTemplate:    set.Status.CurrentTemplate,
	}
	now := c.Now()
	for _, p := range append(append([]*pod.Pod{}, v.replicas...), v.condemned...) {
		if p == nil {
			continue
		}
		st.Replicas++
		if runningAndReady(p) {
			st.ReadyReplicas++
			if availableIn(p, minReady, now) == 0 {
				st.AvailableReplicas++
			}
		}
		if c.isBusy(p) {
			continue
		}
		if p.Metadata.Labels[LabelRevisionHash] == v.current {
			st.CurrentReplicas++
		}
		if p.Metadata.Labels[LabelRevisionHash] == v.update {
			st.UpdatedReplicas++
		}
	}
	// A finished rollout makes the update revision the current one.
	want := int32(len(v.replicas))
	if st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentRevision, st.CurrentReplicas = v.update, st.UpdatedReplicas
	}
	if st.CurrentRevision == v.update {
		t := set.Spec.Template
		st.CurrentTemplate = &t
	}
	return st
}

func statusOnly(set *object.StatefulSet, st object.StatefulSetStatus) *object.StatefulSet {
	out := object.Copy(set).(*object.StatefulSet)
	out.Status = st
	return out
}

// runningAndReady is Kubernetes' isRunningAndReady.
func runningAndReady(p *pod.Pod) bool {
	if p.Status.Phase != pod.PodRunning {
		return false
	}
	return readySince(p) != nil
}

// availableIn is how long a ready pod still has to stay ready to count as available (0: it is).
func availableIn(p *pod.Pod, minReady time.Duration, now time.Time) time.Duration {
	if minReady <= 0 {
		return 0
	}
	since := readySince(p)
	if since == nil {
		return minReady
	}
	if left := since.Add(minReady).Sub(now); left > 0 {
		return left
	}
	return 0
}

// create makes the pod of ordinal (index i in the set's range) from the revision Kubernetes'
// newVersionedStatefulSetPod picks: the current one below the partition, else the update one.
func (c *StatefulSets) create(ctx context.Context, v *setView, ordinal, i int) error {
	set := v.set
	t, rev := &set.Spec.Template, v.update
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && i < int(*ru.Partition) &&
		v.current != v.update && set.Status.CurrentTemplate != nil {
		t, rev = set.Status.CurrentTemplate, v.current
	}
	p := NewStatefulSetPod(set, t, rev, ordinal)
	_, err := c.Pods.CreateOwned(ctx, OwnerOf(set, rev), []*pod.Pod{p})
	if errdefs.IsAlreadyExists(err) {
		return nil // made meanwhile: the next sync sees it
	}
	if err != nil {
		return fmt.Errorf("create pod %s: %w", p.Metadata.Name, err)
	}
	c.Log.Info("statefulset created pod", "pod", set.Metadata.Namespace+"/"+p.Metadata.Name, "revision", rev)
	return nil
}

// NewStatefulSetPod is the pod of ordinal as Kubernetes' newStatefulSetPod makes it: named
// <set>-<ordinal>, its hostname its name and its subdomain the set's serviceName, labelled with
// its name, index and revision, and each volumeClaimTemplate's volume its own claim.
func NewStatefulSetPod(set *object.StatefulSet, t *pod.PodTemplateSpec, revision string, ordinal int) *pod.Pod {
	name := podName(set, ordinal)
	p := pod.TemplatePod(t, set.Metadata.Namespace, name)
	if p.Metadata.Labels == nil {
		p.Metadata.Labels = map[string]string{}
	}
	p.Metadata.Labels[LabelStatefulSetPodName] = name
	p.Metadata.Labels[LabelPodIndex] = strconv.Itoa(ordinal)
	p.Metadata.Labels[LabelRevisionHash] = revision
	p.Metadata.OwnerReferences = []pod.OwnerReference{ControllerRef(set)}
	p.Spec.Hostname = name
	p.Spec.Subdomain = set.Spec.ServiceName
	for _, ct := range set.Spec.VolumeClaimTemplates {
		src := &pod.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(ct.Metadata.Name, set.Metadata.Name, ordinal)}
		replaced := false
		for j := range p.Spec.Volumes {
			if p.Spec.Volumes[j].Name == ct.Metadata.Name {
				p.Spec.Volumes[j] = pod.Volume{Name: ct.Metadata.Name, PersistentVolumeClaim: src}
				replaced = true
			}
		}
		if !replaced {
			p.Spec.Volumes = append(p.Spec.Volumes, pod.Volume{Name: ct.Metadata.Name, PersistentVolumeClaim: src})
		}
	}
	return p
}

// ensureClaims creates the claims of ordinal's pod that do not exist; one being deleted makes
// the pod wait (FailedPrecondition) until it is gone, and then it is made anew.
func (c *StatefulSets) ensureClaims(ctx context.Context, set *object.StatefulSet, ordinal int, claims map[string]*object.PersistentVolumeClaim) error {
	var create []object.Object
	for i := range set.Spec.VolumeClaimTemplates {
		ct := &set.Spec.VolumeClaimTemplates[i]
		name := ClaimName(ct.Metadata.Name, set.Metadata.Name, ordinal)
		if have := claims[key(set.Metadata.Namespace, name)]; have != nil {
			if have.Metadata.DeletionTimestamp != nil {
				return fmt.Errorf("claim %s is being deleted: %w", name, errdefs.ErrFailedPrecondition)
			}
			continue
		}
		create = append(create, newClaim(set, ct, name))
	}
	if len(create) == 0 {
		return nil
	}
	if err := c.Objects.Put(ctx, create...); err != nil {
		return fmt.Errorf("create claims: %w", err)
	}
	for _, obj := range create {
		claims[key(set.Metadata.Namespace, obj.GetMetadata().Name)] = obj.(*object.PersistentVolumeClaim)
		c.Log.Info("statefulset created claim", "claim", set.Metadata.Namespace+"/"+obj.GetMetadata().Name)
	}
	return nil
}

// newClaim is a claim made from a template, labelled with the set's selector, owned by the set
// when the set's claims go with it (whenDeleted: Delete).
func newClaim(set *object.StatefulSet, ct *object.PersistentVolumeClaim, name string) *object.PersistentVolumeClaim {
	tmpl := *ct
	tmpl.APIVersion, tmpl.Kind = "v1", "PersistentVolumeClaim" // a template has neither
	claim := object.Copy(&tmpl).(*object.PersistentVolumeClaim)
	claim.Metadata = pod.ObjectMeta{Name: name, Namespace: set.Metadata.Namespace, Labels: map[string]string{}, Annotations: ct.Metadata.Annotations}
	for k, val := range ct.Metadata.Labels {
		claim.Metadata.Labels[k] = val
	}
	if set.Spec.Selector != nil {
		for k, val := range set.Spec.Selector.MatchLabels {
			claim.Metadata.Labels[k] = val
		}
	}
	if rp := set.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil && rp.WhenDeleted == object.DeleteClaims {
		claim.Metadata.OwnerReferences = []pod.OwnerReference{ControllerRef(set)}
	}
	object.AddFinalizer(&claim.Metadata, object.PVCProtectionFinalizer)
	claim.Status = object.PersistentVolumeClaimStatus{Phase: ClaimPending}
	return claim
}

// releaseScaledClaims deletes, with whenScaled: Delete, the claims of ordinals the set no longer
// runs once their pods are gone.
func (c *StatefulSets) releaseScaledClaims(ctx context.Context, v *setView) error {
	set := v.set
	rp := set.Spec.PersistentVolumeClaimRetentionPolicy
	if rp == nil || rp.WhenScaled != object.DeleteClaims || len(v.condemned) > 0 {
		return nil
	}
	for k, claim := range v.claims {
		if claim.Metadata.Namespace != set.Metadata.Namespace || claim.Metadata.DeletionTimestamp != nil {
			continue
		}
		for _, ct := range set.Spec.VolumeClaimTemplates {
			ord, ok := ordinalOf(ct.Metadata.Name+"-"+set.Metadata.Name, claim.Metadata.Name)
			if !ok || (ord >= v.start && ord < v.start+len(v.replicas)) {
				continue
			}
			if set.Spec.Selector != nil && !set.Spec.Selector.Matches(claim.Metadata.Labels) {
				continue
			}
			if c.busy[key(set.Metadata.Namespace, podName(set, ord))] {
				continue
			}
			c.Log.Info("statefulset scaled down: deleting the claim (whenScaled: Delete)", "claim", k)
			if err := c.Objects.Delete(ctx, "PersistentVolumeClaim", claim.Metadata.Namespace, claim.Metadata.Name, nil); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// remove stops and removes a pod of the set in the background; its end wakes the loop.
func (c *StatefulSets) remove(ctx context.Context, set *object.StatefulSet, p *pod.Pod) {
	k := key(p.Metadata.Namespace, p.Metadata.Name)
	c.busy[k] = true
	owner := OwnerOf(set, "")
	go func() {
		err := c.Pods.RemoveOwned(context.WithoutCancel(ctx), owner, p.Metadata.Namespace, p.Metadata.Name)
		if err != nil && !errdefs.IsNotFound(err) {
			c.Log.Warn("remove statefulset pod", "pod", k, "err", err)
		}
		c.done <- k
	}()
}
