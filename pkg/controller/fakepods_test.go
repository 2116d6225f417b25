package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// fakePods is the supervisor as controllers see it, in memory: pods are created and removed at
// once (after removeFor), and setStatus plays what the workers would report.
type fakePods struct {
	mu        sync.Mutex
	changed   chan struct{}
	pods      map[string]*pod.Pod
	owners    map[string]pod.Owner
	uids      int
	refusing  bool
	removeFor time.Duration
	// failRemove, when set, fails every removal and leaves the pod: a crash before it.
	failRemove error
}

func newFakePods() *fakePods {
	return &fakePods{pods: map[string]*pod.Pod{}, owners: map[string]pod.Owner{}, removeFor: 10 * time.Millisecond, changed: make(chan struct{})}
}

func (f *fakePods) CreateOwned(ctx context.Context, owner pod.Owner, pods []*pod.Pod) ([]*pod.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refusing {
		return nil, fmt.Errorf("shutting down: %w", errdefs.ErrUnavailable)
	}
	for _, p := range pods {
		if f.pods[key(p.Metadata.Namespace, p.Metadata.Name)] != nil {
			return nil, fmt.Errorf("pod %s exists: %w", p.Metadata.Name, errdefs.ErrAlreadyExists)
		}
	}
	for _, p := range pods {
		f.uids++
		p.Metadata.UID = fmt.Sprint(f.uids)
		k := key(p.Metadata.Namespace, p.Metadata.Name)
		f.pods[k], f.owners[k] = p, owner
	}
	f.notifyLocked()
	return pods, nil
}

func (f *fakePods) RemoveOwned(ctx context.Context, owner pod.Owner, namespace, name string) error {
	time.Sleep(f.removeFor)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRemove != nil {
		return f.failRemove
	}
	k := key(namespace, name)
	if f.pods[k] == nil {
		return fmt.Errorf("pod %s: %w", name, errdefs.ErrNotFound)
	}
	if !f.owners[k].Owns(owner) {
		return fmt.Errorf("pod %s is not %s's: %w", name, owner.Name, errdefs.ErrFailedPrecondition)
	}
	delete(f.pods, k)
	delete(f.owners, k)
	f.notifyLocked()
	return nil
}

func (f *fakePods) Owners() map[string]pod.Owner {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]pod.Owner{}
	for k, o := range f.owners {
		out[k] = o
	}
	return out
}

func (f *fakePods) Accepting() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.refusing
}

func (f *fakePods) get(name string) *pod.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pods[key("default", name)]
}

func (f *fakePods) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakePods) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakePods) List(ctx context.Context, namespace string) ([]*pod.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*pod.Pod
	for _, p := range f.pods {
		if namespace == "" || p.Metadata.Namespace == namespace {
			out = append(out, pod.Clone(p))
		}
	}
	return out, nil
}

// setStatus changes a pod's status as its worker would, and wakes the watchers.
func (f *fakePods) setStatus(namespace, name string, change func(*pod.PodStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.pods[key(namespace, name)]; p != nil {
		change(&p.Status)
		f.notifyLocked()
	}
}
