package apitest

import (
	"context"
	"sort"
	"sync"

	"github.com/podd-dev/podd/pkg/pod"
)

// fakeEvents holds the events of a Pods fake and its watchers; it has its own lock so that a
// watcher's callback may call the fake.
type fakeEvents struct {
	mu       sync.Mutex
	list     []pod.Event
	watchers map[*fakeWatcher]struct{}
	changed  chan struct{} // closed and replaced whenever a watcher comes or goes
}

type fakeWatcher struct {
	namespace, name string
	ch              chan pod.Event
	done            chan struct{}
}

func (w *fakeWatcher) match(e *pod.Event) bool {
	o := e.InvolvedObject
	return (w.namespace == "" || w.namespace == o.Namespace) && (w.name == "" || w.name == o.Name)
}

func (fe *fakeEvents) changedLocked() {
	if fe.changed != nil {
		close(fe.changed)
	}
	fe.changed = make(chan struct{})
}

// AddEvent records e as it is (its involved object's namespace defaults to "default") and sends it
// to the watchers it matches; it returns once they all have it.
func (f *Pods) AddEvent(e pod.Event) {
	if e.InvolvedObject.Namespace == "" {
		e.InvolvedObject.Namespace = "default"
	}
	fe := &f.events
	fe.mu.Lock()
	fe.list = append(fe.list, e)
	var to []*fakeWatcher
	for w := range fe.watchers {
		if w.match(&e) {
			to = append(to, w)
		}
	}
	fe.mu.Unlock()
	for _, w := range to {
		select {
		case w.ch <- e:
		case <-w.done:
		}
	}
}

// WaitWatchers returns once at least n watchers are watching, or ctx's error.
func (f *Pods) WaitWatchers(ctx context.Context, n int) error {
	fe := &f.events
	for {
		fe.mu.Lock()
		have := len(fe.watchers)
		if fe.changed == nil {
			fe.changedLocked()
		}
		changed := fe.changed
		fe.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Watchers is the number of watchers now.
func (f *Pods) Watchers() int {
	f.events.mu.Lock()
	defer f.events.mu.Unlock()
	return len(f.events.watchers)
}

func (f *Pods) Events(ctx context.Context, namespace, name string) ([]pod.Event, error) {
	f.record("Events %s/%s", namespace, name)
	if name != "" {
		if _, err := f.Get(ctx, namespace, name); err != nil {
			return nil, err
		}
	}
	w := &fakeWatcher{namespace: namespace, name: name}
	fe := &f.events
	fe.mu.Lock()
	defer fe.mu.Unlock()
	out := []pod.Event{}
	for _, e := range fe.list {
		if w.match(&e) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastTimestamp.Before(out[j].LastTimestamp) })
	return out, nil
}

func (f *Pods) WatchEvents(ctx context.Context, namespace, name string, fn func(pod.Event) error) error {
	f.record("WatchEvents %s/%s", namespace, name)
	w := &fakeWatcher{namespace: namespace, name: name, ch: make(chan pod.Event), done: make(chan struct{})}
	fe := &f.events
	fe.mu.Lock()
	if fe.watchers == nil {
		fe.watchers = map[*fakeWatcher]struct{}{}
	}
	fe.watchers[w] = struct{}{}
	fe.changedLocked()
	fe.mu.Unlock()
	defer func() {
		fe.mu.Lock()
		delete(fe.watchers, w)
		close(w.done)
		fe.changedLocked()
		fe.mu.Unlock()
	}()
	for {
		select {
		case e := <-w.ch:
			if err := fn(e); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}
