package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Event reasons of the ReplicaSet controller, as kube-controller-manager's.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
)

// LabelPodTemplateHash is the label a Deployment puts on its ReplicaSets, their selectors and
// their pods, to tell the pods of one template from another's.
const LabelPodTemplateHash = "pod-template-hash"

// burstReplicas bounds the pods one sync creates or removes, as Kubernetes' burstReplicas does.
const burstReplicas = 500

// ReplicaSets is the ReplicaSet controller (kube-controller-manager's
// pkg/controller/replicaset): it keeps each ReplicaSet's number of pods at spec.replicas, naming
// new pods <replicaset>-<5 random characters>, removing the least useful first, and reports the
// pods' readiness and availability in its status.
//
// The count of a ReplicaSet's pods is read from the supervisor (Owners) at every sync and kept
// nowhere else: the supervisor stores a pod with its owner before CreateOwned returns, so that a
// podd killed at any instant comes back knowing every pod it made.
type ReplicaSets struct {
	Objects *Objects
	Pods    Pods
	Events  *events.Recorder
	Log     *slog.Logger
	// Now is the clock of availability (minReadySeconds); nil: time.Now.
	Now func() time.Time

	removing map[string]bool // namespace/name of pods whose removal is under way
	done     chan string
}

// Name names the controller in logs.
func (c *ReplicaSets) Name() string { return "replicaset-controller" }

func (c *ReplicaSets) init() {
	if c.removing == nil {
		c.removing, c.done = map[string]bool{}, make(chan string, 1024)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Sync brings every ReplicaSet one step closer to its spec and writes its status.
func (c *ReplicaSets) Sync(ctx context.Context) (time.Duration, error) {
	c.init()
	for drained := false; !drained; {
		select {
		case k := <-c.done:
			delete(c.removing, k)
		default:
			drained = true
		}
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
	for _, obj := range c.Objects.List("ReplicaSet", "") {
		rs := obj.(*object.ReplicaSet)
		a, err := c.syncOne(ctx, rs, view)
		if err != nil {
			errs = append(errs, fmt.Errorf("replicaset %s/%s: %w", rs.Metadata.Namespace, rs.Metadata.Name, err))
		}
		after = minAfter(after, a)
	}
	if len(c.removing) > 0 {
		after = minAfter(after, retryAfterError)
	}
	return after, errors.Join(errs...)
}

// podView is what one sync sees of the pods: each pod with its owner.
type podView struct {
	pods   map[string]*pod.Pod // namespace/name → pod with status
	owners map[string]pod.Owner
}

func readPods(ctx context.Context, pods Pods) (podView, error) {
	owners := pods.Owners()
	list, err := pods.List(ctx, "")
	if err != nil {
		return podView{}, err
	}
	v := podView{pods: make(map[string]*pod.Pod, len(list)), owners: owners}
	for _, p := range list {
		v.pods[key(p.Metadata.Namespace, p.Metadata.Name)] = p
	}
	return v, nil
}

// owned are the pods obj made: the supervisor's owner is obj and the pod's controller reference
// names obj's UID (a pod of an earlier object of the same name is the garbage collector's).
func (v podView) owned(obj object.Object) []*pod.Pod {
	owner := OwnerOf(obj, "")
	uid := obj.GetMetadata().UID
	var out []*pod.Pod
	for k, o := range v.owners {
		if !o.Owns(owner) {
			continue
		}
		p := v.pods[k]
		if p == nil || !controlledBy(p.Metadata.OwnerReferences, uid) {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

func controlledBy(refs []pod.OwnerReference, uid string) bool {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.UID == uid
		}
	}
	return false
}

// terminating: the pod's removal was asked (the supervisor's record says so) — Kubernetes'
// deletionTimestamp.
func terminating(p *pod.Pod) bool { return p.Status.Reason == "Terminating" }

// readySince is when the pod last became Ready, nil when it is not Ready.
func readySince(p *pod.Pod) *time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status != "True" {
				return nil
			}
			if c.LastTransitionTime == nil {
				t := time.Time{}
				return &t
			}
			return c.LastTransitionTime
		}
	}
	return nil
}

// available: Ready for at least minReady seconds (Kubernetes' IsPodAvailable). wait is how long
// until a Ready pod becomes available (0 when it is, or is not Ready).
func available(p *pod.Pod, minReady int32, now time.Time) (ok bool, wait time.Duration) {
	since := readySince(p)
	if since == nil {
		return false, 0
	}
	if minReady <= 0 {
		return true, 0
	}
	at := since.Add(time.Duration(minReady) * time.Second)
	if !now.Before(at) {
		return true, 0
	}
	return false, at.Sub(now)
}

// active: counted among the replicas — not terminating, not ended (Kubernetes' IsPodActive).
func active(p *pod.Pod) bool {
	return !terminating(p) && p.Status.Phase != pod.PodSucceeded && p.Status.Phase != pod.PodFailed
}

func minAfter(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func (c *ReplicaSets) syncOne(ctx context.Context, rs *object.ReplicaSet, view podView) (time.Duration, error) {
	ns := rs.Metadata.Namespace
	owner := OwnerOf(rs, "")
	var act []*pod.Pod
	var errs []error
	for _, p := range view.owned(rs) {
		k := key(ns, p.Metadata.Name)
		switch {
		case c.removing[k] || terminating(p):
		case p.Status.Phase == pod.PodFailed || p.Status.Phase == pod.PodSucceeded:
			// Ended for good (an eviction): replaced, and removed so as not to pile up.
			c.remove(ctx, rs, owner, p)
		default:
			act = append(act, p)
		}
	}
	want := int(deref32(rs.Spec.Replicas))
	diff := len(act) - want
	var failure error
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		created, err := c.create(ctx, rs, owner, view, n)
		if err != nil {
			failure = err
			errs = append(errs, err)
		}
		act = append(act, created...)
	case diff > 0:
		victims := podsToDelete(act, min(diff, burstReplicas), c.Now(), rs.Metadata.Annotations[AnnotationScaleDownVictim])
		for _, p := range victims {
			c.remove(ctx, rs, owner, p)
		}
		act = act[:0:0]
		gone := map[string]bool{}
		for _, p := range victims {
			gone[p.Metadata.Name] = true
		}
		for _, p := range view.owned(rs) {
			if !gone[p.Metadata.Name] && !c.removing[key(ns, p.Metadata.Name)] && active(p) {
				act = append(act, p)
			}
		}
	}
	after, err := c.writeStatus(ctx, rs, act, failure)
	if err != nil {
		errs = append(errs, err)
	}
	return after, errors.Join(errs...)
}

// create makes n pods of the ReplicaSet's template, all in one call (the supervisor stores them
// together, or none of them).
func (c *ReplicaSets) create(ctx context.Context, rs *object.ReplicaSet, owner pod.Owner, view podView, n int) ([]*pod.Pod, error) {
	ns := rs.Metadata.Namespace
	taken := map[string]bool{}
	pods := make([]*pod.Pod, 0, n)
	ref := ControllerRef(rs)
	for len(pods) < n {
		name := rs.Metadata.Name + "-" + randString(5)
		// Kubernetes' generateName leaves a name of at most 63 characters.
		if len(rs.Metadata.Name) > 57 {
			name = rs.Metadata.Name[:57] + "-" + randString(5)
		}
		k := key(ns, name)
		if _, exists := view.owners[k]; exists || taken[k] {
			continue
		}
		taken[k] = true
		p := pod.TemplatePod(&rs.Spec.Template, ns, name)
		p.Metadata.OwnerReferences = []pod.OwnerReference{ref}
		pods = append(pods, p)
	}
	fault.Point(fault.ReplicaSetBeforeCreate)
	created, err := c.Pods.CreateOwned(ctx, owner, pods)
	if err != nil {
		c.event(rs, pod.EventWarning, ReasonFailedCreate, "Error creating: %v", err)
		return nil, err
	}
	fault.Point(fault.ReplicaSetAfterCreate)
	for _, p := range created {
		c.event(rs, pod.EventNormal, ReasonSuccessfulCreate, "Created pod: %s", p.Metadata.Name)
	}
	return created, nil
}

// remove stops and removes a pod in the background; its end wakes the loop (a pod change).
func (c *ReplicaSets) remove(ctx context.Context, rs *object.ReplicaSet, owner pod.Owner, p *pod.Pod) {
	k := key(p.Metadata.Namespace, p.Metadata.Name)
	c.removing[k] = true
	fault.Point(fault.ReplicaSetBeforeDelete)
	c.event(rs, pod.EventNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Metadata.Name)
	go func() {
		err := c.Pods.RemoveOwned(context.WithoutCancel(ctx), owner, p.Metadata.Namespace, p.Metadata.Name)
		if err != nil && !errdefs.IsNotFound(err) {
			c.Log.Warn("remove a replicaset's pod", "pod", k, "err", err)
		}
		c.done <- k
	}()
}

func (c *ReplicaSets) event(rs *object.ReplicaSet, typ, reason, format string, args ...any) {
	if c.Events == nil {
		return
	}
	c.Events.Object(objectRef(rs), typ, reason, format, args...)
}

func objectRef(obj object.Object) pod.ObjectReference {
	m := obj.GetMetadata()
	return pod.ObjectReference{Kind: obj.GetKind(), Namespace: m.Namespace, Name: m.Name, UID: m.UID}
}

// writeStatus stores the status the pods show, when it changed; the duration is when a Ready pod
// becomes available.
func (c *ReplicaSets) writeStatus(ctx context.Context, rs *object.ReplicaSet, act []*pod.Pod, failure error) (time.Duration, error) {
	now := c.Now()
	st := object.ReplicaSetStatus{Replicas: int32(len(act)), ObservedGeneration: rs.Metadata.Generation}
	var after time.Duration
	for _, p := range act {
		if templateLabelsMatch(rs.Spec.Template.Metadata.Labels, p.Metadata.Labels) {
			st.FullyLabeledReplicas++
		}
		if readySince(p) != nil {
			st.ReadyReplicas++
		}
		ok, wait := available(p, rs.Spec.MinReadySeconds, now)
		if ok {
			st.AvailableReplicas++
		} else if wait > 0 {
			after = minAfter(after, wait)
		}
	}
	if failure != nil {
		t := now.UTC().Truncate(time.Second)
		st.Conditions = []object.Condition{{Type: "ReplicaFailure", Status: "True", Reason: ReasonFailedCreate, Message: failure.Error(), LastTransitionTime: &t}}
		for _, old := range rs.Status.Conditions {
			if old.Type == "ReplicaFailure" && old.Message == failure.Error() {
				st.Conditions[0].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	if statusEqual(rs.Status, st) {
		return after, nil
	}
	_, err := c.Objects.Update(ctx, "ReplicaSet", rs.Metadata.Namespace, rs.Metadata.Name, func(obj object.Object) error {
		cur := obj.(*object.ReplicaSet)
		if cur.Metadata.UID != rs.Metadata.UID {
			return fmt.Errorf("replaced meanwhile: %w", errdefs.ErrConflict)
		}
		cur.Status = st
		return nil
	})
	if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
		return after, nil
	}
	return after, err
}

func statusEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func templateLabelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// podsToDelete picks the n pods a scale-down removes first, as Kubernetes ranks them: pending
// before running, not ready before ready, ready for less time before longer, more restarts
// before fewer, newer before older. The pod named first (a replica that asked to go, see
// SelfScale) goes before all.
func podsToDelete(pods []*pod.Pod, n int, now time.Time, first string) []*pod.Pod {
	ranked := append([]*pod.Pod(nil), pods...)
	phaseRank := func(p *pod.Pod) int {
		switch p.Status.Phase {
		case pod.PodPending, "":
			return 0
		case pod.PodUnknown:
			return 1
		case pod.PodRunning:
			return 2
		}
		return 3
	}
	restarts := func(p *pod.Pod) int32 {
		var n int32
		for _, c := range p.Status.ContainerStatuses {
			n = max(n, c.RestartCount)
		}
		return n
	}
	created := func(p *pod.Pod) time.Time {
		if p.Metadata.CreationTimestamp == nil {
			return time.Time{}
		}
		return *p.Metadata.CreationTimestamp
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		a, b := ranked[i], ranked[j]
		if fa, fb := a.Metadata.Name == first, b.Metadata.Name == first; fa != fb {
			return fa
		}
		if ra, rb := phaseRank(a), phaseRank(b); ra != rb {
			return ra < rb
		}
		ta, tb := readySince(a), readySince(b)
		if (ta == nil) != (tb == nil) {
			return ta == nil
		}
		if ta != nil && !ta.Equal(*tb) {
			return ta.After(*tb) // ready for less time first
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		if ca, cb := created(a), created(b); !ca.Equal(cb) {
			return ca.After(cb)
		}
		return a.Metadata.Name > b.Metadata.Name
	})
	if n > len(ranked) {
		n = len(ranked)
	}
	return ranked[:n]
}

// randAlphabet is Kubernetes' rand.String alphabet: no vowels (no words), no confusable characters.
const randAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func randString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = randAlphabet[rand.IntN(len(randAlphabet))]
	}
	return string(b)
}

// safeEncodeString is Kubernetes' rand.SafeEncodeString: each byte mapped into randAlphabet.
func safeEncodeString(s string) string {
	r := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = randAlphabet[int(s[i])%len(randAlphabet)]
	}
	return string(r)
}
