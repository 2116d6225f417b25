package controller

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Annotations a Deployment's controller puts on its ReplicaSets, as Kubernetes does.
const (
	AnnotationRevision        = "deployment.kubernetes.io/revision"
	AnnotationDesiredReplicas = "deployment.kubernetes.io/desired-replicas"
	AnnotationMaxReplicas     = "deployment.kubernetes.io/max-replicas"
	AnnotationChangeCause     = "kubernetes.io/change-cause"
	// AnnotationRestartedAt is the template annotation of `rollout restart`.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"
)

// Deployment condition types and reasons, as Kubernetes' deployment controller writes them.
const (
	DeploymentAvailable   = "Available"
	DeploymentProgressing = "Progressing"

	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
	ReasonDeploymentResumed          = "DeploymentResumed"
	ReasonScalingReplicaSet          = "ScalingReplicaSet"
)

// Deployments is the Deployment controller (kube-controller-manager's pkg/controller/deployment):
// one ReplicaSet per template (named <deployment>-<template hash>), a rolling update bounded by
// maxSurge and maxUnavailable that counts available pods, or Recreate; revisions, history, the
// Available and Progressing conditions, pause.
//
// Every decision is made again at each sync from what is stored (the ReplicaSets' replicas) and
// what runs (the supervisor's pods): nothing is counted elsewhere, so that a podd killed between
// two steps resumes where the stored state says.
type Deployments struct {
	Objects *Objects
	Pods    Pods
	Events  *events.Recorder
	Log     *slog.Logger
	Now     func() time.Time
}

// Name names the controller in logs.
func (c *Deployments) Name() string { return "deployment-controller" }

// Sync moves every Deployment one step on and writes its status.
func (c *Deployments) Sync(ctx context.Context) (time.Duration, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if !c.Pods.Accepting() {
		return 0, nil
	}
	view, err := readPods(ctx, c.Pods)
	if err != nil {
		return 0, err
	}
	var (
		after time.Duration
		errs  []error
	)
	for _, obj := range c.Objects.List("Deployment", "") {
		d := obj.(*object.Deployment)
		a, err := c.syncOne(ctx, d, view)
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deployment %s/%s: %w", d.Metadata.Namespace, d.Metadata.Name, err))
		}
		after = minAfter(after, a)
	}
	return after, errors.Join(errs...)
}

// rsState is one ReplicaSet of a Deployment with what its pods show.
type rsState struct {
	rs *object.ReplicaSet
	// pods: every pod it owns (terminating ones too); active, ready, available: the active ones.
	pods, active, ready, available int32
	revision                       int64
}

func (s *rsState) replicas() int32 { return deref32(s.rs.Spec.Replicas) }

// availableNow is what the ReplicaSet will keep available: its available pods, at most its
// replicas (a scale-down removes the unavailable pods first).
func (s *rsState) availableNow() int32 { return min(s.available, s.replicas()) }

// dsync is one Deployment's sync.
type dsync struct {
	c    *Deployments
	d    *object.Deployment
	view podView
	now  time.Time
	all  []*rsState // oldest first
	new  *rsState
	old  []*rsState
	// cond is a Progressing condition this sync decided (a new ReplicaSet), nil: from the status.
	cond *object.Condition
}

func (c *Deployments) syncOne(ctx context.Context, d *object.Deployment, view podView) (time.Duration, error) {
	s := &dsync{c: c, d: d, view: view, now: c.Now()}
	s.load()
	if !d.Spec.Paused {
		if err := s.syncRevision(ctx); err != nil {
			return 0, err
		}
	}
	var err error
	switch {
	case d.Spec.Paused:
		err = s.scale(ctx)
	case d.Spec.Strategy.Type == object.RecreateDeploymentStrategy:
		err = s.recreate(ctx)
	default:
		err = s.rolling(ctx)
	}
	if err != nil {
		return 0, err
	}
	after, err := s.writeStatus(ctx)
	if err != nil {
		return 0, err
	}
	if d.Spec.Paused || complete(d, &s.d.Status) {
		if err := s.cleanup(ctx); err != nil {
			return after, err
		}
	}
	return after, nil
}

// load finds the Deployment's ReplicaSets, their pods, and which one has its template.
func (s *dsync) load() {
	uid := s.d.Metadata.UID
	minReady := s.d.Spec.MinReadySeconds
	for _, obj := range s.c.Objects.List("ReplicaSet", s.d.Metadata.Namespace) {
		rs := obj.(*object.ReplicaSet)
		if !controlledBy(rs.Metadata.OwnerReferences, uid) {
			continue
		}
		st := &rsState{rs: rs, revision: revision(rs)}
		for _, p := range s.view.owned(rs) {
			st.pods++
			if !active(p) {
				continue
			}
			st.active++
			if readySince(p) != nil {
				st.ready++
			}
			if ok, _ := available(p, minReady, s.now); ok {
				st.available++
			}
		}
		s.all = append(s.all, st)
	}
	sort.Slice(s.all, func(i, j int) bool {
		a, b := s.all[i].rs.Metadata.CreationTimestamp, s.all[j].rs.Metadata.CreationTimestamp
		if a != nil && b != nil && !a.Equal(*b) {
			return a.Before(*b)
		}
		return s.all[i].rs.Metadata.Name < s.all[j].rs.Metadata.Name
	})
	s.split()
}

func (s *dsync) split() {
	s.new, s.old = nil, nil
	for _, st := range s.all {
		// The oldest of several with the template is the new one, as in Kubernetes.
		if s.new == nil && sameTemplate(&st.rs.Spec.Template, &s.d.Spec.Template) {
			s.new = st
			continue
		}
		s.old = append(s.old, st)
	}
}

func revision(rs *object.ReplicaSet) int64 {
	v, _ := strconv.ParseInt(rs.Metadata.Annotations[AnnotationRevision], 10, 64)
	return v
}

// sameTemplate compares two templates without the pod-template-hash label (Kubernetes'
// EqualIgnoreHash).
func sameTemplate(a, b *pod.PodTemplateSpec) bool {
	strip := func(t *pod.PodTemplateSpec) string {
		c := *t
		c.Metadata.Labels = maps.Clone(t.Metadata.Labels)
		delete(c.Metadata.Labels, LabelPodTemplateHash)
		if len(c.Metadata.Labels) == 0 {
			c.Metadata.Labels = nil
		}
		data, _ := json.Marshal(c)
		return string(data)
	}
	return strip(a) == strip(b)
}

// TemplateHash is the pod-template-hash of a template: the FNV-32a hash of its JSON form and of
// the collision count, written in the alphabet of Kubernetes' rand.SafeEncodeString. Its shape
// is Kubernetes' (up to 10 characters of that alphabet); its value is not, since Kubernetes
// hashes its own printed form of the Go struct.
func TemplateHash(t *pod.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, _ := json.Marshal(t)
	h.Write(data)
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		h.Write(b[:])
	}
	return safeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// maxRevision is the highest revision among the ReplicaSets.
func maxRevision(list []*rsState) int64 {
	var m int64
	for _, st := range list {
		m = max(m, st.revision)
	}
	return m
}

// syncRevision makes sure the ReplicaSet of the current template exists and has the highest
// revision, storing either before anything is scaled.
func (s *dsync) syncRevision(ctx context.Context) error {
	next := maxRevision(s.old) + 1
	if s.new != nil {
		if s.new.revision >= next {
			return nil
		}
		rs, err := s.c.Objects.Update(ctx, "ReplicaSet", s.d.Metadata.Namespace, s.new.rs.Metadata.Name, func(obj object.Object) error {
			setAnnotation(obj.GetMetadata(), AnnotationRevision, strconv.FormatInt(next, 10))
			return nil
		})
		if err != nil {
			return err
		}
		s.new.rs, s.new.revision = rs.(*object.ReplicaSet), next
		fault.Point(fault.DeploymentAfterRevision)
		if cur := condition(s.d.Status.Conditions, DeploymentProgressing); cur == nil || cur.Reason == ReasonNewReplicaSetAvailable {
			s.cond = &object.Condition{Type: DeploymentProgressing, Status: "True", Reason: ReasonFoundNewReplicaSet, Message: fmt.Sprintf("Found new replica set %q", s.new.rs.Metadata.Name)}
		}
		return nil
	}
	if s.d.Spec.Strategy.Type == object.RecreateDeploymentStrategy {
		return nil // made once the old pods are gone (recreate)
	}
	return s.createNew(ctx, next, s.newReplicas(0))
}

// createNew stores the ReplicaSet of the current template with replicas, or counts a collision
// (a ReplicaSet of that name with another template) so that the next sync tries another name.
func (s *dsync) createNew(ctx context.Context, rev int64, replicas int32) error {
	d := s.d
	hash := TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	name := d.Metadata.Name + "-" + hash
	if existing, err := s.c.Objects.Get("ReplicaSet", d.Metadata.Namespace, name); err == nil {
		rs := existing.(*object.ReplicaSet)
		if controlledBy(rs.Metadata.OwnerReferences, d.Metadata.UID) && sameTemplate(&rs.Spec.Template, &d.Spec.Template) {
			return nil // found at the next load
		}
		_, err := s.c.Objects.Update(ctx, "Deployment", d.Metadata.Namespace, d.Metadata.Name, func(obj object.Object) error {
			cur := obj.(*object.Deployment)
			n := deref32(cur.Status.CollisionCount) + 1
			cur.Status.CollisionCount = &n
			return nil
		})
		if err != nil {
			return err
		}
		return fmt.Errorf("replicaset %q exists with another template: collision count raised: %w", name, errdefs.ErrAlreadyExists)
	}
	t := *pod.Clone(&d.Spec.Template)
	t.Metadata.Labels = maps.Clone(t.Metadata.Labels)
	if t.Metadata.Labels == nil {
		t.Metadata.Labels = map[string]string{}
	}
	t.Metadata.Labels[LabelPodTemplateHash] = hash
	sel := pod.Clone(d.Spec.Selector)
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[LabelPodTemplateHash] = hash
	annotations := map[string]string{}
	for k, v := range d.Metadata.Annotations {
		if k != annotationLastApplied && k != AnnotationRevision {
			annotations[k] = v
		}
	}
	annotations[AnnotationRevision] = strconv.FormatInt(rev, 10)
	s.replicaAnnotations(annotations)
	rs := &object.ReplicaSet{
		APIVersion: "apps/v1", Kind: "ReplicaSet",
		Metadata: pod.ObjectMeta{
			Name: name, Namespace: d.Metadata.Namespace,
			Labels: maps.Clone(t.Metadata.Labels), Annotations: annotations,
			OwnerReferences: []pod.OwnerReference{ControllerRef(d)},
		},
		Spec: object.ReplicaSetSpec{Replicas: &replicas, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: t},
	}
	if err := s.c.Objects.Put(ctx, rs); err != nil {
		return err
	}
	fault.Point(fault.DeploymentAfterNewReplicaSet)
	stored, err := s.c.Objects.Get("ReplicaSet", rs.Metadata.Namespace, rs.Metadata.Name)
	if err != nil {
		return err
	}
	st := &rsState{rs: stored.(*object.ReplicaSet), revision: rev}
	s.all = append(s.all, st)
	s.new = st
	s.event(pod.EventNormal, ReasonScalingReplicaSet, "Scaled up replica set %s from 0 to %d", name, replicas)
	s.cond = &object.Condition{Type: DeploymentProgressing, Status: "True", Reason: ReasonNewReplicaSetCreated, Message: fmt.Sprintf("Created new replica set %q", name)}
	return nil
}

func (s *dsync) replicaAnnotations(a map[string]string) {
	a[AnnotationDesiredReplicas] = strconv.Itoa(int(deref32(s.d.Spec.Replicas)))
	surge, _ := s.fenceposts()
	a[AnnotationMaxReplicas] = strconv.Itoa(int(deref32(s.d.Spec.Replicas) + surge))
}

func setAnnotation(m *pod.ObjectMeta, k, v string) {
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[k] = v
}

// fenceposts are maxSurge and maxUnavailable in pods (Kubernetes' ResolveFenceposts): surge
// rounded up, unavailable down, and never both 0. Recreate has neither.
func (s *dsync) fenceposts() (surge, unavailable int32) {
	ru := s.d.Spec.Strategy.RollingUpdate
	if s.d.Spec.Strategy.Type != object.RollingUpdateDeploymentStrategy || ru == nil {
		return 0, 0
	}
	replicas := deref32(s.d.Spec.Replicas)
	surge = object.ScaledValue(ru.MaxSurge, replicas, true)
	unavailable = object.ScaledValue(ru.MaxUnavailable, replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// maxUnavailable is Kubernetes' MaxUnavailable: at most the replicas, 0 for Recreate.
func (s *dsync) maxUnavailable() int32 {
	replicas := deref32(s.d.Spec.Replicas)
	if s.d.Spec.Strategy.Type != object.RollingUpdateDeploymentStrategy || replicas == 0 {
		return 0
	}
	_, u := s.fenceposts()
	return min(u, replicas)
}

// specTotal is the sum of the ReplicaSets' replicas.
func specTotal(list []*rsState) int32 {
	var n int32
	for _, st := range list {
		n += st.replicas()
	}
	return n
}

// newReplicas is what the new ReplicaSet (now at current) may grow to (Kubernetes'
// NewRSNewReplicas for a rolling update): up to replicas+maxSurge pods in all.
func (s *dsync) newReplicas(current int32) int32 {
	replicas := deref32(s.d.Spec.Replicas)
	surge, _ := s.fenceposts()
	total := specTotal(s.all)
	if s.new == nil {
		total += current
	}
	maxTotal := replicas + surge
	if total >= maxTotal {
		return current
	}
	return current + min(maxTotal-total, replicas-current)
}

// scaleRS stores a ReplicaSet's new replicas (with the Deployment's replica annotations).
func (s *dsync) scaleRS(ctx context.Context, st *rsState, replicas int32) error {
	from := st.replicas()
	if from == replicas {
		return nil
	}
	rs, err := s.c.Objects.Update(ctx, "ReplicaSet", st.rs.Metadata.Namespace, st.rs.Metadata.Name, func(obj object.Object) error {
		r := obj.(*object.ReplicaSet)
		r.Spec.Replicas = &replicas
		if r.Metadata.Annotations == nil {
			r.Metadata.Annotations = map[string]string{}
		}
		s.replicaAnnotations(r.Metadata.Annotations)
		return nil
	})
	if err != nil {
		return err
	}
	st.rs = rs.(*object.ReplicaSet)
	fault.Point(fault.DeploymentAfterScale)
	way := "up"
	if replicas < from {
		way = "down"
	}
	s.event(pod.EventNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", way, st.rs.Metadata.Name, from, replicas)
	return nil
}

// rolling is one step of a rolling update (Kubernetes' rolloutRolling): grow the new
// ReplicaSet within maxSurge, then shrink the old ones within maxUnavailable, counting
// available pods.
func (s *dsync) rolling(ctx context.Context) error {
	replicas := deref32(s.d.Spec.Replicas)
	if n := s.new; n != nil {
		switch cur := n.replicas(); {
		case cur > replicas:
			return s.scaleRS(ctx, n, replicas)
		case cur < replicas:
			if want := s.newReplicas(cur); want != cur {
				return s.scaleRS(ctx, n, want)
			}
		}
	}
	return s.shrinkOld(ctx)
}

// shrinkOld is Kubernetes' reconcileOldReplicaSets: first the old ReplicaSets' unavailable pods,
// then available ones down to replicas-maxUnavailable available in all.
func (s *dsync) shrinkOld(ctx context.Context) error {
	if specTotal(s.old) == 0 {
		return nil
	}
	replicas := deref32(s.d.Spec.Replicas)
	minAvailable := replicas - s.maxUnavailable()
	var newUnavailable int32
	if s.new != nil {
		newUnavailable = s.new.replicas() - s.new.availableNow()
	}
	maxScaledDown := specTotal(s.all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil
	}
	// The unhealthy pods of old ReplicaSets go first: they serve nothing.
	var cleaned int32
	for _, st := range s.old {
		if cleaned >= maxScaledDown {
			break
		}
		cur := st.replicas()
		if cur == 0 || cur == st.availableNow() {
			continue
		}
		down := min(maxScaledDown-cleaned, cur-st.availableNow())
		if err := s.scaleRS(ctx, st, cur-down); err != nil {
			return err
		}
		cleaned += down
	}
	var availableAll int32
	for _, st := range s.all {
		availableAll += st.availableNow()
	}
	if availableAll <= minAvailable {
		return nil
	}
	total := availableAll - minAvailable
	var done int32
	for _, st := range s.old {
		if done >= total {
			break
		}
		cur := st.replicas()
		if cur == 0 {
			continue
		}
		down := min(cur, total-done)
		if err := s.scaleRS(ctx, st, cur-down); err != nil {
			return err
		}
		done += down
	}
	return nil
}

// recreate is Kubernetes' rolloutRecreate: every old pod gone before the new ReplicaSet grows.
func (s *dsync) recreate(ctx context.Context) error {
	for _, st := range s.old {
		if err := s.scaleRS(ctx, st, 0); err != nil {
			return err
		}
	}
	for _, st := range s.old {
		if st.pods > 0 {
			return nil // wait until the old pods are gone, terminating ones too
		}
	}
	replicas := deref32(s.d.Spec.Replicas)
	if s.new == nil {
		return s.createNew(ctx, maxRevision(s.old)+1, replicas)
	}
	return s.scaleRS(ctx, s.new, replicas)
}

// scale is the sync of a paused Deployment (Kubernetes' sync without a rollout): when a single
// ReplicaSet has replicas (or only the new one exists), it follows spec.replicas.
func (s *dsync) scale(ctx context.Context) error {
	var activeRS []*rsState
	for _, st := range s.all {
		if st.replicas() > 0 {
			activeRS = append(activeRS, st)
		}
	}
	target := s.new
	switch {
	case len(activeRS) == 1:
		target = activeRS[0]
	case len(activeRS) > 1:
		return nil // several at once: left as they are while paused
	}
	if target == nil {
		return nil
	}
	return s.scaleRS(ctx, target, deref32(s.d.Spec.Replicas))
}

// cleanup deletes the old ReplicaSets beyond revisionHistoryLimit that have no replicas and no
// pod left, oldest revision first.
func (s *dsync) cleanup(ctx context.Context) error {
	if s.d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var idle []*rsState
	for _, st := range s.old {
		if st.replicas() == 0 && st.pods == 0 {
			idle = append(idle, st)
		}
	}
	extra := len(idle) - int(*s.d.Spec.RevisionHistoryLimit)
	if extra <= 0 {
		return nil
	}
	sort.SliceStable(idle, func(i, j int) bool { return idle[i].revision < idle[j].revision })
	var gone []object.Object
	for _, st := range idle[:extra] {
		gone = append(gone, st.rs)
	}
	return s.c.Objects.Remove(ctx, gone...)
}

func (s *dsync) event(typ, reason, format string, args ...any) {
	if s.c.Events != nil {
		s.c.Events.Object(objectRef(s.d), typ, reason, format, args...)
	}
}

// complete is Kubernetes' DeploymentComplete: every replica updated and available, and the
// latest spec observed.
func complete(d *object.Deployment, st *object.DeploymentStatus) bool {
	r := deref32(d.Spec.Replicas)
	return st.UpdatedReplicas == r && st.Replicas == r && st.AvailableReplicas == r && st.ObservedGeneration >= d.Metadata.Generation
}

func condition(conds []object.Condition, typ string) *object.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// setCondition puts c among conds, keeping the transition time when the status is unchanged.
func setCondition(conds []object.Condition, c object.Condition) []object.Condition {
	out := make([]object.Condition, 0, len(conds)+1)
	replaced := false
	for _, old := range conds {
		if old.Type != c.Type {
			out = append(out, old)
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			out = append(out, old)
		} else {
			if old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			out = append(out, c)
		}
		replaced = true
	}
	if !replaced {
		out = append(out, c)
	}
	return out
}

// writeStatus computes the status from the ReplicaSets and their pods (Kubernetes'
// calculateStatus and syncRolloutStatus) and stores it when it changed; the duration is when
// time alone changes it (a pod's minReadySeconds, the progress deadline).
func (s *dsync) writeStatus(ctx context.Context) (time.Duration, error) {
	d := s.d
	now := s.now.UTC().Truncate(time.Second)
	st := object.DeploymentStatus{ObservedGeneration: d.Metadata.Generation, CollisionCount: d.Status.CollisionCount}
	for _, rs := range s.all {
		st.Replicas += rs.active
		st.ReadyReplicas += rs.ready
		st.AvailableReplicas += rs.available
	}
	if s.new != nil {
		st.UpdatedReplicas = s.new.active
	}
	st.UnavailableReplicas = max(0, deref32(d.Spec.Replicas)-st.AvailableReplicas)
	conds := append([]object.Condition(nil), d.Status.Conditions...)
	mk := func(typ, status, reason, msg string) object.Condition {
		return object.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastUpdateTime: &now, LastTransitionTime: &now}
	}
	if st.AvailableReplicas >= deref32(d.Spec.Replicas)-s.maxUnavailable() {
		conds = setCondition(conds, mk(DeploymentAvailable, "True", ReasonMinimumReplicasAvailable, "Deployment has minimum availability."))
	} else {
		conds = setCondition(conds, mk(DeploymentAvailable, "False", ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability."))
	}
	var after time.Duration
	cur := condition(conds, DeploymentProgressing)
	newName := ""
	if s.new != nil {
		newName = s.new.rs.Metadata.Name
	}
	switch {
	case d.Spec.Paused:
		if cur == nil || cur.Reason != ReasonDeploymentPaused {
			conds = setCondition(conds, mk(DeploymentProgressing, "Unknown", ReasonDeploymentPaused, "Deployment is paused"))
		}
	case cur != nil && cur.Reason == ReasonDeploymentPaused:
		conds = setCondition(conds, mk(DeploymentProgressing, "Unknown", ReasonDeploymentResumed, "Deployment is resumed"))
	case s.cond != nil:
		c := *s.cond
		c.LastUpdateTime, c.LastTransitionTime = &now, &now
		conds = setCondition(conds, c)
	case cur != nil && cur.Reason == ReasonNewReplicaSetAvailable && st.Replicas == st.UpdatedReplicas:
		// complete, and still so
	case complete(d, &st):
		conds = setCondition(conds, mk(DeploymentProgressing, "True", ReasonNewReplicaSetAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", newName)))
	case progressed(&d.Status, &st):
		c := mk(DeploymentProgressing, "True", ReasonReplicaSetUpdated, fmt.Sprintf("ReplicaSet %q is progressing.", newName))
		if cur != nil && cur.Status == "True" {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		// Progress moves the deadline on even when the message is the same.
		conds = replaceCondition(conds, c)
	case cur != nil && cur.Reason != ReasonProgressDeadlineExceeded && d.Spec.ProgressDeadlineSeconds != nil:
		from := cur.LastUpdateTime
		if from == nil {
			from = cur.LastTransitionTime
		}
		if from != nil {
			deadline := from.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
			if s.now.After(deadline) {
				conds = setCondition(conds, mk(DeploymentProgressing, "False", ReasonProgressDeadlineExceeded, fmt.Sprintf("ReplicaSet %q has timed out progressing.", newName)))
			} else {
				after = deadline.Sub(s.now) + time.Second
			}
		}
	}
	// Ready pods that will become available.
	if d.Spec.MinReadySeconds > 0 {
		for _, rs := range s.all {
			for _, p := range s.view.owned(rs.rs) {
				if _, wait := available(p, d.Spec.MinReadySeconds, s.now); wait > 0 && active(p) {
					after = minAfter(after, wait)
				}
			}
		}
	}
	st.Conditions = conds
	if statusEqual(d.Status, st) {
		return after, nil
	}
	_, err := s.c.Objects.Update(ctx, "Deployment", d.Metadata.Namespace, d.Metadata.Name, func(obj object.Object) error {
		cur := obj.(*object.Deployment)
		if cur.Metadata.UID != d.Metadata.UID {
			return fmt.Errorf("replaced meanwhile: %w", errdefs.ErrConflict)
		}
		if cur.Status.CollisionCount != nil {
			st.CollisionCount = cur.Status.CollisionCount
		}
		cur.Status = st
		return nil
	})
	if errdefs.IsConflict(err) {
		err = nil
	}
	s.d.Status = st
	return after, err
}

func replaceCondition(conds []object.Condition, c object.Condition) []object.Condition {
	for i := range conds {
		if conds[i].Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// progressed is Kubernetes' DeploymentProgressing: more pods updated, ready or available, or
// fewer old ones, than the last status said.
func progressed(old, cur *object.DeploymentStatus) bool {
	oldOld := old.Replicas - old.UpdatedReplicas
	curOld := cur.Replicas - cur.UpdatedReplicas
	return cur.UpdatedReplicas > old.UpdatedReplicas || curOld < oldOld ||
		cur.ReadyReplicas > old.ReadyReplicas || cur.AvailableReplicas > old.AvailableReplicas
}
