package controller

import (
	"context"
	"log/slog"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Reconciler is the controller of one kind: Sync compares the desired objects with the pods and
// acts once. It returns how soon it wants to look again even if nothing changes (0: only on a
// change), for what time alone moves on (minReadySeconds, deadlines, backoff).
type Reconciler interface {
	Name() string
	Sync(ctx context.Context) (time.Duration, error)
}

// retryAfterError is how soon a failed sync is tried again.
const retryAfterError = 2 * time.Second

// Run drives each reconciler in its own loop until ctx ends: a sync runs at start, at every change
// of an object or a pod, and when the reconciler asked for it. Changes that come during a sync
// are coalesced into one more sync. A slow reconciler (one waiting for a grace period) delays
// only itself.
func Run(ctx context.Context, objs *Objects, pods Pods, log *slog.Logger, recs ...Reconciler) {
	for _, r := range recs {
		go loop(ctx, objs, pods, log, r)
	}
}

func loop(ctx context.Context, objs *Objects, pods Pods, log *slog.Logger, r Reconciler) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Take the channels before reading, so that no change between the read and the wait is missed.
		objsChanged, podsChanged := objs.Changed(), pods.Changed()
		after, err := r.Sync(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("controller sync failed", "controller", r.Name(), "err", err)
			if after == 0 || after > retryAfterError {
				after = retryAfterError
			}
		}
		if after <= 0 {
			after = time.Hour
		}
		timer.Reset(after)
		select {
		case <-ctx.Done():
			return
		case <-objsChanged:
		case <-podsChanged:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// OwnerOf is the supervisor's owner of the pods obj makes: its kind and namespace/name.
func OwnerOf(obj object.Object, hash string) pod.Owner {
	m := obj.GetMetadata()
	return pod.Owner{Kind: obj.GetKind(), Name: m.Namespace + "/" + m.Name, Hash: hash}
}

// ControllerRef is the ownerReference a controller puts on what it makes, as Kubernetes does.
func ControllerRef(obj object.Object) pod.OwnerReference {
	k, _ := object.KindOf(obj.GetKind())
	yes := true
	return pod.OwnerReference{APIVersion: k.APIVersion, Kind: obj.GetKind(), Name: obj.GetMetadata().Name, UID: obj.GetMetadata().UID, Controller: &yes, BlockOwnerDeletion: &yes}
}

// PodCollector removes the pods whose owning object is gone (deleted, or deleted and made again
// under the same name: a new UID), as Kubernetes' garbage collector does.
type PodCollector struct {
	Objects *Objects
	Pods    Pods
	Log     *slog.Logger

	busy map[string]bool
	done chan string
}

// Name names the collector in logs.
func (c *PodCollector) Name() string { return "garbage-collector" }

// Sync starts the removal of every orphan; removals run in the background (each waits for its
// pod's grace period) and their end wakes the loop through the pods' change.
func (c *PodCollector) Sync(ctx context.Context) (time.Duration, error) {
	if c.busy == nil {
		c.busy, c.done = map[string]bool{}, make(chan string, 64)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	for drained := false; !drained; {
		select {
		case k := <-c.done:
			delete(c.busy, k)
		default:
			drained = true
		}
	}
	pods, err := c.Pods.List(ctx, "")
	if err != nil {
		return 0, err
	}
	owners := c.Pods.Owners()
	for _, p := range pods {
		key := p.Metadata.Namespace + "/" + p.Metadata.Name
		owner := owners[key]
		if _, ok := object.KindOf(owner.Kind); !ok || c.busy[key] {
			continue
		}
		if c.ownerExists(owner, p) {
			continue
		}
		c.busy[key] = true
		go func() {
			err := c.Pods.RemoveOwned(context.WithoutCancel(ctx), owner, p.Metadata.Namespace, p.Metadata.Name)
			if err != nil {
				c.Log.Warn("remove a pod whose owner is gone", "pod", key, "owner", owner.Kind+"/"+owner.Name, "err", err)
			}
			c.done <- key
		}()
	}
	if len(c.busy) > 0 {
		return retryAfterError, nil
	}
	return 0, nil
}

func (c *PodCollector) ownerExists(owner pod.Owner, p *pod.Pod) bool {
	ns, name, _ := cutLast(owner.Name)
	obj, err := c.Objects.Get(owner.Kind, ns, name)
	if err != nil {
		return false
	}
	for _, ref := range p.Metadata.OwnerReferences {
		if ref.Kind == owner.Kind && ref.UID != obj.GetMetadata().UID {
			return false
		}
	}
	return true
}

func cutLast(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}
