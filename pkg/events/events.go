// Package events keeps what happened to pods and to the objects around them (static manifest files
// today, workloads next) in memory, shaped like Kubernetes' core/v1 Events: repeats counted, a
// bounded list per object, and watchers that never stall the recorder.
package events

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// maxEventsPerPod bounds the memory a pod's events take: the oldest go first.
const maxEventsPerPod = 100

// Recorder records events and streams them to watchers; it is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	byPod    map[string][]pod.Event // pod UID → events, oldest first
	watchers map[chan pod.Event]watchFilter
}

type watchFilter struct{ namespace, name string }

// match: a pod's events by namespace and name; the events about files (which have no
// namespace) go to every watcher of more than one pod.
func (f watchFilter) match(e *pod.Event) bool {
	if e.InvolvedObject.Kind == "File" {
		return f.name == ""
	}
	return (f.namespace == "" || f.namespace == e.InvolvedObject.Namespace) && (f.name == "" || f.name == e.InvolvedObject.Name)
}

// New returns an empty recorder.
func New() *Recorder {
	return &Recorder{byPod: map[string][]pod.Event{}, watchers: map[chan pod.Event]watchFilter{}}
}

// Pod adds an event about a pod (or one of its containers) and sends it to the watchers.
func (ev *Recorder) Pod(p *pod.Pod, container, typ, reason, format string, args ...any) {
	ref := pod.ObjectReference{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, UID: p.Metadata.UID}
	if container != "" {
		ref.FieldPath = fieldPath(p, container)
	}
	ev.add(p.Metadata.UID, ref, typ, reason, fmt.Sprintf(format, args...))
}

// FilesKey keeps the events about files (static pod manifests), which belong to no pod.
const FilesKey = "files"

// File adds an event about a file of podd's manifests folder.
func (ev *Recorder) File(path, typ, reason, format string, args ...any) {
	ev.add(FilesKey, pod.ObjectReference{Kind: "File", Name: path}, typ, reason, fmt.Sprintf(format, args...))
}

// objectPrefix starts the keys of the events about workload objects: objectPrefix+namespace+"/"+uid.
const objectPrefix = "object/"

// Object adds an event about a workload object (a Deployment, a ReplicaSet, ...): ref names it by
// kind, namespace, name and UID. Its events are kept by UID, as a pod's are.
func (ev *Recorder) Object(ref pod.ObjectReference, typ, reason, format string, args ...any) {
	ev.add(objectPrefix+ref.Namespace+"/"+ref.UID, ref, typ, reason, fmt.Sprintf(format, args...))
}

// ObjectKeys are the keys (for List) of the events about the objects of namespace ("": all).
func (ev *Recorder) ObjectKeys(namespace string) []string {
	prefix := objectPrefix
	if namespace != "" {
		prefix += namespace + "/"
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []string
	for k := range ev.byPod {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// add adds an event (or counts a repeat of a recent one) under key and sends it to the watchers.
func (ev *Recorder) add(key string, ref pod.ObjectReference, typ, reason, message string) {
	now := time.Now().UTC()
	e := pod.Event{
		Type:           typ,
		Reason:         reason,
		InvolvedObject: ref,
		Message:        message,
		Count:          1,
		FirstTimestamp: now,
		LastTimestamp:  now,
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	list := ev.byPod[key]
	found := false
	for i := len(list) - 1; i >= 0 && i >= len(list)-10; i-- {
		o := &list[i]
		if o.Reason == e.Reason && o.Message == e.Message && o.Type == e.Type && o.InvolvedObject == e.InvolvedObject {
			o.Count++
			o.LastTimestamp = now
			e = *o
			// Keep the list in order of last occurrence.
			list = append(append(list[:i:i], list[i+1:]...), e)
			found = true
			break
		}
	}
	if !found {
		list = append(list, e)
		// Cut back to the newest maxEventsPerPod once the list has doubled: a copy per event
		// would cost each event the whole list.
		if len(list) >= 2*maxEventsPerPod {
			list = append([]pod.Event(nil), list[len(list)-maxEventsPerPod:]...)
		}
	}
	ev.byPod[key] = list
	for ch, f := range ev.watchers {
		if f.match(&e) {
			select {
			case ch <- e:
			default: // a watcher that does not keep up loses events rather than stalling pods
			}
		}
	}
}

func fieldPath(p *pod.Pod, container string) string {
	for _, c := range p.Spec.InitContainers {
		if c.Name == container {
			return "spec.initContainers{" + container + "}"
		}
	}
	return "spec.containers{" + container + "}"
}

// Forget drops a removed pod's events.
func (ev *Recorder) Forget(uid string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	delete(ev.byPod, uid)
}

// List returns the events kept under those keys (pod UIDs, FilesKey), oldest first by last occurrence.
func (ev *Recorder) List(uids []string) []pod.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []pod.Event
	for _, uid := range uids {
		list := ev.byPod[uid]
		out = append(out, list[max(0, len(list)-maxEventsPerPod):]...)
	}
	sortEvents(out)
	return out
}

func sortEvents(es []pod.Event) {
	slices.SortStableFunc(es, func(a, b pod.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp) })
}

// Watch calls fn with every new event that matches (namespace "" = all, name "" = every pod, and
// the files' events too) until ctx ends or fn fails.
func (ev *Recorder) Watch(ctx context.Context, namespace, name string, fn func(pod.Event) error) error {
	ch := make(chan pod.Event, 256)
	ev.mu.Lock()
	ev.watchers[ch] = watchFilter{namespace: namespace, name: name}
	ev.mu.Unlock()
	defer func() {
		ev.mu.Lock()
		delete(ev.watchers, ch)
		ev.mu.Unlock()
	}()
	for {
		select {
		case e := <-ch:
			if err := fn(e); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}
