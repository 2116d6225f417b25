package apitest

import (
	"context"
	"fmt"
	"sort"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// SetStats sets what Stats (and AllStats) answer for a pod, and SetTop what Top answers.
func (f *Pods) SetStats(namespace, name string, st *pod.PodStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stats == nil {
		f.stats = map[string]*pod.PodStats{}
	}
	f.stats[namespace+"/"+name] = st
}

// SetTop sets what Top answers for a pod.
func (f *Pods) SetTop(namespace, name string, procs []pod.ContainerProcesses) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.top == nil {
		f.top = map[string][]pod.ContainerProcesses{}
	}
	f.top[namespace+"/"+name] = procs
}

func (f *Pods) Stats(ctx context.Context, namespace, name string) (*pod.PodStats, error) {
	f.record("Stats %s/%s", namespace, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stats[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("pod %q not found: %w", name, errdefs.ErrNotFound)
	}
	return st, nil
}

func (f *Pods) AllStats(ctx context.Context, namespace string) ([]*pod.PodStats, error) {
	f.record("AllStats %s", namespace)
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.stats))
	for k, st := range f.stats {
		if namespace == "" || st.PodRef.Namespace == namespace {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := []*pod.PodStats{}
	for _, k := range keys {
		out = append(out, f.stats[k])
	}
	return out, nil
}

func (f *Pods) Top(ctx context.Context, namespace, name string) ([]pod.ContainerProcesses, error) {
	f.record("Top %s/%s", namespace, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	procs, ok := f.top[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("pod %q not found: %w", name, errdefs.ErrNotFound)
	}
	return procs, nil
}
