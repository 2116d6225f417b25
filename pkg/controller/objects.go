package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// ObjectStore keeps the objects durably (pkg/store implements it): PutObjects writes all or
// none, a nil value deleting its key.
type ObjectStore interface {
	PutObjects(ctx context.Context, objs map[string][]byte) error
	ListObjects(ctx context.Context) (map[string][]byte, error)
}

// PodAPI is what apply does with the Pods of a manifest: create them as podctl run does (the
// daemon's, held to Pod Security), read them, and change their labels and annotations.
type PodAPI interface {
	CreatePods(ctx context.Context, pods []*pod.Pod) ([]*pod.Pod, error)
	Get(ctx context.Context, namespace, name string) (*pod.Pod, error)
	UpdateMetadata(ctx context.Context, namespace, name string, patch pod.MetadataPatch) (*pod.Pod, error)
	Remove(ctx context.Context, namespace, name string, grace *time.Duration) error
}

// Admit holds a pod to its namespace's Pod Security level; apply calls it for every Pod and
// every workload's template, so that a controller never creates a pod the API would refuse.
type Admit func(*pod.Pod) error

// Apply results, as kubectl prints them.
const (
	Created    = "created"
	Configured = "configured"
	Unchanged  = "unchanged"
	Deleted    = "deleted"
)

// Result says what apply or delete did with one object.
type Result struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Action    string `json:"action"`
}

// Objects holds the objects of the kinds beside Pod: their desired state, stored before any
// caller hears of it, and their status, which the controllers write. It is the controllers'
// shared view: each reads it and is woken by Changed.
type Objects struct {
	store ObjectStore
	pods  PodAPI
	admit Admit
	log   *slog.Logger
	now   func() time.Time

	apply sync.Mutex // one apply or delete at a time: each decides on what the last one left

	mu      sync.Mutex
	objs    map[string]object.Object
	changed chan struct{}
}

// NewObjects loads the stored objects.
func NewObjects(ctx context.Context, store ObjectStore, pods PodAPI, admit Admit, log *slog.Logger) (*Objects, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if admit == nil {
		admit = func(*pod.Pod) error { return nil }
	}
	o := &Objects{store: store, pods: pods, admit: admit, log: log, now: time.Now, objs: map[string]object.Object{}, changed: make(chan struct{})}
	stored, err := store.ListObjects(ctx)
	if err != nil {
		return nil, fmt.Errorf("load objects: %w", err)
	}
	for key, data := range stored {
		kind, _, _ := strings.Cut(key, "/")
		k, ok := object.KindOf(kind)
		if !ok {
			log.Warn("stored object of an unknown kind is ignored", "key", key)
			continue
		}
		obj := k.New()
		if err := json.Unmarshal(data, obj); err != nil {
			return nil, fmt.Errorf("decode stored object %s: %w", key, err)
		}
		o.objs[key] = obj
	}
	return o, nil
}

// Changed returns a channel closed at the next change of any object.
func (o *Objects) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

func (o *Objects) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// Get returns a copy of the object, or an error of class NotFound.
func (o *Objects) Get(kind, namespace, name string) (object.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, ok := o.objs[object.Key(kind, namespace, name)]
	if !ok {
		return nil, fmt.Errorf("%s %q not found in namespace %q: %w", strings.ToLower(kind), name, namespace, errdefs.ErrNotFound)
	}
	return object.Copy(obj), nil
}

// List returns copies of the objects of kind in namespace ("" for all), sorted by namespace and name.
func (o *Objects) List(kind, namespace string) []object.Object {
	o.mu.Lock()
	var out []object.Object
	for _, obj := range o.objs {
		m := obj.GetMetadata()
		if obj.GetKind() == kind && (namespace == "" || m.Namespace == namespace) {
			out = append(out, object.Copy(obj))
		}
	}
	o.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return object.KeyOf(out[i]) < object.KeyOf(out[j]) })
	return out
}

// Apply creates or updates every object of a manifest (Pods among them), all or none, as kubectl
// apply does: an object that exists with the same spec is unchanged, one whose spec or metadata
// differs is configured (a new generation when its spec changed), a new one created. A change
// Kubernetes refuses (an immutable field, a Pod's spec) refuses the whole manifest.
func (o *Objects) Apply(ctx context.Context, objs []object.Object) ([]Result, error) {
	o.apply.Lock()
	defer o.apply.Unlock()

	results := make([]Result, len(objs))
	writes := map[string][]byte{}
	undo := map[string][]byte{}
	next := map[string]object.Object{}
	var (
		newPods []*pod.Pod
		patches []func() error
		errs    []error
	)
	seen := map[string]bool{}
	for i, in := range objs {
		m := in.GetMetadata()
		results[i] = Result{Kind: in.GetKind(), Namespace: m.Namespace, Name: m.Name}
		key := object.Key(in.GetKind(), m.Namespace, m.Name)
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w: the manifest holds it twice", in.GetKind(), m.Namespace, m.Name, errdefs.ErrInvalidArgument))
			continue
		}
		seen[key] = true
		if p, ok := in.(*pod.Pod); ok {
			action, patch, err := o.applyPod(ctx, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			results[i].Action = action
			if action == Created {
				newPods = append(newPods, p)
			}
			if patch != nil {
				patches = append(patches, patch)
			}
			continue
		}
		if err := o.admitTemplate(in); err != nil {
			errs = append(errs, err)
			continue
		}
		o.mu.Lock()
		old := o.objs[key]
		o.mu.Unlock()
		stored, action, err := o.merge(old, in)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results[i].Action = action
		if action == Unchanged {
			continue
		}
		data, err := json.Marshal(stored)
		if err != nil {
			errs = append(errs, fmt.Errorf("encode %s: %w", key, err))
			continue
		}
		writes[key] = data
		next[key] = stored
		if old != nil {
			undo[key], _ = json.Marshal(old)
		} else {
			undo[key] = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(writes) > 0 {
		if err := o.store.PutObjects(ctx, writes); err != nil {
			return nil, err
		}
	}
	if len(newPods) > 0 {
		if _, err := o.pods.CreatePods(ctx, newPods); err != nil {
			if len(undo) > 0 {
				if uerr := o.store.PutObjects(context.WithoutCancel(ctx), undo); uerr != nil {
					o.log.Error("undo an apply whose pods failed", "err", uerr)
				}
			}
			return nil, err
		}
	}
	o.mu.Lock()
	for key, obj := range next {
		o.objs[key] = obj
	}
	if len(next) > 0 {
		o.notifyLocked()
	}
	o.mu.Unlock()
	var perrs []error
	for _, patch := range patches {
		if err := patch(); err != nil {
			perrs = append(perrs, err)
		}
	}
	return results, errors.Join(perrs...)
}

// merge decides what storing in over old (nil: none) means: the object to store and the action.
func (o *Objects) merge(old, in object.Object) (object.Object, string, error) {
	if old == nil {
		stored := object.Copy(in)
		sm := stored.GetMetadata()
		sm.UID = pod.NewUID()
		now := o.now().UTC().Truncate(time.Second)
		sm.CreationTimestamp = &now
		sm.Generation = 1
		object.SetServerFields(stored, sm.UID)
		return stored, Created, nil
	}
	om := old.GetMetadata()
	candidate := object.Copy(in)
	cm := candidate.GetMetadata()
	cm.UID, cm.CreationTimestamp, cm.Generation, cm.OwnerReferences = om.UID, om.CreationTimestamp, om.Generation, om.OwnerReferences
	cm.Finalizers, cm.DeletionTimestamp = om.Finalizers, om.DeletionTimestamp
	object.SetServerFields(candidate, om.UID)
	if verrs := object.ValidateUpdate(old, candidate); len(verrs) > 0 {
		return nil, "", fieldErrors(in, verrs)
	}
	sameSpec := object.SameSpec(old, candidate)
	if sameSpec && sameMeta(om, cm) {
		return old, Unchanged, nil
	}
	if !sameSpec {
		cm.Generation = om.Generation + 1
	}
	copyStatus(old, candidate)
	return candidate, Configured, nil
}

func sameMeta(a, b *pod.ObjectMeta) bool {
	ja, _ := json.Marshal([]any{a.Labels, a.Annotations})
	jb, _ := json.Marshal([]any{b.Labels, b.Annotations})
	return string(ja) == string(jb)
}

// copyStatus keeps the controllers' status across an apply: a manifest's own was dropped.
func copyStatus(from, to object.Object) {
	switch f := from.(type) {
	case *object.Deployment:
		to.(*object.Deployment).Status = f.Status
	case *object.ReplicaSet:
		to.(*object.ReplicaSet).Status = f.Status
	case *object.StatefulSet:
		to.(*object.StatefulSet).Status = f.Status
	case *object.Job:
		to.(*object.Job).Status = f.Status
	case *object.PersistentVolumeClaim:
		to.(*object.PersistentVolumeClaim).Status = f.Status
	}
}

// fieldErrors joins validation errors about obj, each named with its object.
func fieldErrors(obj object.Object, errs pod.ErrorList) error {
	m := obj.GetMetadata()
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = fmt.Errorf("%s %s/%s: %w", obj.GetKind(), m.Namespace, m.Name, e)
	}
	return errors.Join(joined...)
}

// applyPod decides what applying p means: create it, change its labels and annotations (patch,
// run once the manifest is accepted), or nothing. A Pod's spec cannot change, as in Kubernetes.
func (o *Objects) applyPod(ctx context.Context, p *pod.Pod) (string, func() error, error) {
	if err := o.admit(p); err != nil {
		return "", nil, err
	}
	cur, err := o.pods.Get(ctx, p.Metadata.Namespace, p.Metadata.Name)
	if errdefs.IsNotFound(err) {
		return Created, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	a, b := cur.Spec, p.Spec
	a.NodeName, b.NodeName = "", ""
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return "", nil, fmt.Errorf("pod %s/%s: spec: Forbidden: pod updates may not change fields other than labels and annotations; remove the pod first (podctl delete pod %s): %w",
			p.Metadata.Namespace, p.Metadata.Name, p.Metadata.Name, errdefs.ErrInvalidArgument)
	}
	if sameMeta(&cur.Metadata, &p.Metadata) {
		return Unchanged, nil, nil
	}
	patch := pod.MetadataPatch{Labels: map[string]*string{}, Annotations: map[string]*string{}}
	diff(patch.Labels, cur.Metadata.Labels, p.Metadata.Labels)
	diff(patch.Annotations, cur.Metadata.Annotations, p.Metadata.Annotations)
	return Configured, func() error {
		_, err := o.pods.UpdateMetadata(ctx, p.Metadata.Namespace, p.Metadata.Name, patch)
		return err
	}, nil
}

// diff writes into patch what turns from into to: a value to set, nil to remove.
func diff(patch map[string]*string, from, to map[string]string) {
	for k, v := range to {
		if old, ok := from[k]; !ok || old != v {
			patch[k] = &v
		}
	}
	for k := range from {
		if _, ok := to[k]; !ok {
			patch[k] = nil
		}
	}
}

// admitTemplate holds a workload's pod template to its namespace's Pod Security level.
func (o *Objects) admitTemplate(obj object.Object) error {
	t := Template(obj)
	if t == nil {
		return nil
	}
	m := obj.GetMetadata()
	if err := o.admit(pod.TemplatePod(t, m.Namespace, m.Name)); err != nil {
		return fmt.Errorf("%s %s/%s: spec.template: %w", obj.GetKind(), m.Namespace, m.Name, err)
	}
	return nil
}

// Template is a workload's pod template, nil for the other kinds.
func Template(obj object.Object) *pod.PodTemplateSpec {
	switch o := obj.(type) {
	case *object.Deployment:
		return &o.Spec.Template
	case *object.ReplicaSet:
		return &o.Spec.Template
	case *object.StatefulSet:
		return &o.Spec.Template
	case *object.Job:
		return &o.Spec.Template
	}
	return nil
}

// Delete removes an object and, as Kubernetes' garbage collector does in the background, every
// object it owns (a Deployment's ReplicaSets); the controllers then remove the pods of owners
// that are gone. A Pod is removed through the supervisor.
func (o *Objects) Delete(ctx context.Context, kind, namespace, name string, grace *time.Duration) error {
	if kind == "Pod" {
		return o.pods.Remove(ctx, namespace, name, grace)
	}
	o.apply.Lock()
	defer o.apply.Unlock()
	o.mu.Lock()
	key := object.Key(kind, namespace, name)
	obj, ok := o.objs[key]
	if !ok {
		o.mu.Unlock()
		return fmt.Errorf("%s %q not found in namespace %q: %w", strings.ToLower(kind), name, namespace, errdefs.ErrNotFound)
	}
	gone := map[string][]byte{key: nil}
	uids := []string{obj.GetMetadata().UID}
	for len(uids) > 0 {
		uid := uids[0]
		uids = uids[1:]
		for k, other := range o.objs {
			if _, done := gone[k]; done {
				continue
			}
			if slices.ContainsFunc(other.GetMetadata().OwnerReferences, func(r pod.OwnerReference) bool { return r.UID == uid }) {
				gone[k] = nil
				uids = append(uids, other.GetMetadata().UID)
			}
		}
	}
	// An object with finalizers is only marked Terminating: its controller removes it once it
	// has let it go (a claim no pod uses any more), as Kubernetes does.
	terminating := map[string]object.Object{}
	now := o.now().UTC().Truncate(time.Second)
	for k := range gone {
		other := o.objs[k]
		if len(other.GetMetadata().Finalizers) == 0 {
			continue
		}
		c := object.Copy(other)
		if c.GetMetadata().DeletionTimestamp == nil {
			c.GetMetadata().DeletionTimestamp = &now
		}
		data, err := json.Marshal(c)
		if err != nil {
			o.mu.Unlock()
			return fmt.Errorf("encode %s: %w", k, err)
		}
		gone[k] = data
		terminating[k] = c
	}
	o.mu.Unlock()
	if err := o.store.PutObjects(ctx, gone); err != nil {
		return err
	}
	o.mu.Lock()
	for k := range gone {
		if c, ok := terminating[k]; ok {
			o.objs[k] = c
			continue
		}
		delete(o.objs, k)
	}
	o.notifyLocked()
	o.mu.Unlock()
	return nil
}

// Put stores an object a controller made or changed (a ReplicaSet, a scale, a status), keeping
// its identity: a new one gets a UID and creation time. Controllers are the only writers of what
// they own and of status, so a Put replaces without a version check.
func (o *Objects) Put(ctx context.Context, objs ...object.Object) error {
	o.apply.Lock()
	defer o.apply.Unlock()
	writes := map[string][]byte{}
	stored := map[string]object.Object{}
	for _, in := range objs {
		obj := object.Copy(in)
		m := obj.GetMetadata()
		key := object.KeyOf(obj)
		if m.UID != "" {
			// A controller's write about an object deleted (or deleted and made again) since it
			// read it must not bring the old one back.
			o.mu.Lock()
			cur, ok := o.objs[key]
			o.mu.Unlock()
			if !ok || cur.GetMetadata().UID != m.UID {
				return fmt.Errorf("%s %s/%s was deleted: %w", obj.GetKind(), m.Namespace, m.Name, errdefs.ErrNotFound)
			}
		}
		if m.UID == "" {
			m.UID = pod.NewUID()
			now := o.now().UTC().Truncate(time.Second)
			m.CreationTimestamp = &now
			if m.Generation == 0 {
				m.Generation = 1
			}
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key, err)
		}
		writes[key] = data
		stored[key] = obj
	}
	if err := o.store.PutObjects(ctx, writes); err != nil {
		return err
	}
	o.mu.Lock()
	for k, obj := range stored {
		o.objs[k] = obj
	}
	o.notifyLocked()
	o.mu.Unlock()
	return nil
}

// Remove deletes objects a controller owns (an old ReplicaSet), without following owners.
func (o *Objects) Remove(ctx context.Context, objs ...object.Object) error {
	o.apply.Lock()
	defer o.apply.Unlock()
	gone := map[string][]byte{}
	for _, obj := range objs {
		gone[object.KeyOf(obj)] = nil
	}
	if err := o.store.PutObjects(ctx, gone); err != nil {
		return err
	}
	o.mu.Lock()
	for k := range gone {
		delete(o.objs, k)
	}
	o.notifyLocked()
	o.mu.Unlock()
	return nil
}

// Update changes one stored object with change, as the API server's update does: the object's
// identity (UID, creation time) is kept, a change of its spec is a new generation, the result
// is validated as apply would (immutable fields, the kind's rules), and it is stored before
// Update returns. change sees a copy of the current object, under the lock of every write, so
// that two writers (a controller's status, podctl scale) never lose each other's change. An
// error from change, or a refused result, changes nothing. Unchanged objects are not written.
func (o *Objects) Update(ctx context.Context, kind, namespace, name string, change func(object.Object) error) (object.Object, error) {
	o.apply.Lock()
	defer o.apply.Unlock()
	key := object.Key(kind, namespace, name)
	o.mu.Lock()
	old, ok := o.objs[key]
	o.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s %q not found in namespace %q: %w", strings.ToLower(kind), name, namespace, errdefs.ErrNotFound)
	}
	next := object.Copy(old)
	if err := change(next); err != nil {
		return nil, err
	}
	om, nm := old.GetMetadata(), next.GetMetadata()
	nm.UID, nm.CreationTimestamp, nm.Name, nm.Namespace, nm.Generation = om.UID, om.CreationTimestamp, om.Name, om.Namespace, om.Generation
	k, _ := object.KindOf(kind)
	if verrs := append(object.ValidateUpdate(old, next), k.Validate(next)...); len(verrs) > 0 {
		return nil, fieldErrors(next, verrs)
	}
	before, _ := json.Marshal(old)
	if !object.SameSpec(old, next) {
		nm.Generation = om.Generation + 1
	}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	if string(data) == string(before) {
		return object.Copy(old), nil
	}
	if err := o.store.PutObjects(ctx, map[string][]byte{key: data}); err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.objs[key] = next
	o.notifyLocked()
	o.mu.Unlock()
	return object.Copy(next), nil
}
