package supervisor

import (
	"context"

	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/pod"
)

// Events lists the events of one pod, or of every pod in the namespace when name is ""
// (every namespace when namespace is "").
func (m *Manager) Events(ctx context.Context, namespace, name string) ([]pod.Event, error) {
	m.mu.Lock()
	var uids []string
	if name != "" {
		w, err := m.lookupLocked(namespace, name)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		uids = append(uids, w.rec.Pod.Metadata.UID)
	} else {
		for _, w := range m.pods {
			if namespace == "" || w.rec.Pod.Metadata.Namespace == namespace {
				uids = append(uids, w.rec.Pod.Metadata.UID)
			}
		}
		uids = append(uids, events.FilesKey)
		uids = append(uids, m.events.ObjectKeys(namespace)...)
	}
	m.mu.Unlock()
	out := m.events.List(uids)
	if out == nil {
		out = []pod.Event{}
	}
	return out, nil
}

// WatchEvents calls fn with every new event that matches (namespace "" = all, name "" = all pods)
// until ctx ends or fn fails.
func (m *Manager) WatchEvents(ctx context.Context, namespace, name string, fn func(pod.Event) error) error {
	return m.events.Watch(ctx, namespace, name, fn)
}
