package elections

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/pod"
)

type fakePods struct {
	mu      sync.Mutex
	pods    []*pod.Pod
	changed chan struct{}
}

func (f *fakePods) List(context.Context, string) ([]*pod.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pod.Pod(nil), f.pods...), nil
}

func (f *fakePods) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

type fakeTokens struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (f *fakeTokens) PutElectionToken(ns, name string, tok uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[ns+"/"+name] = tok
	return nil
}

func (f *fakeTokens) ElectionTokens() (map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]uint64{}
	for k, v := range f.m {
		out[k] = v
	}
	return out, nil
}

func runningPod(name string) *pod.Pod {
	return &pod.Pod{
		Metadata: pod.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec:     pod.PodSpec{Containers: []pod.Container{{Name: "app"}}},
		Status: pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{{Name: "app", ContainerID: "c-" + name, Ready: true,
			State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}}}},
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServiceLongPolls: a waiting campaign whose client goes away leaves the queue; a lease not
// renewed expires on Run's timer and the next waiter is granted; grants and losses are events.
func TestServiceLongPolls(t *testing.T) {
	a, b, c := runningPod("a"), runningPod("b"), runningPod("c")
	pods := &fakePods{pods: []*pod.Pod{a, b, c}, changed: make(chan struct{})}
	rec := events.New()
	svc, err := NewService(pods, &fakeTokens{m: map[string]uint64{}}, rec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if g, err := svc.Campaign(ctx, a, "e", CampaignRequest{TTLMillis: 100}); err != nil || g.Token != 1 {
		t.Fatalf("a: %+v %v", g, err)
	}
	// b waits, then goes away: it leaves the queue.
	bctx, bcancel := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	go func() { _, err := svc.Campaign(bctx, b, "e", CampaignRequest{Wait: true}); bdone <- err }()
	waitUntil(t, "b queued", func() bool { return len(svc.Get("default", "e").Candidates) == 1 })
	bcancel()
	if err := <-bdone; !errors.Is(err, context.Canceled) {
		t.Errorf("b's cancelled campaign: %v", err)
	}
	if v := svc.Get("default", "e"); len(v.Candidates) != 0 {
		t.Errorf("candidates after b went away: %v", v.Candidates)
	}
	// c waits; a never renews its 100 ms lease: c is granted when it expires.
	g, err := svc.Campaign(ctx, c, "e", CampaignRequest{Wait: true})
	if err != nil || g.Leader != "c" || g.Token != 2 {
		t.Fatalf("c: %+v %v", g, err)
	}
	var reasons []string
	for _, e := range rec.List([]string{"uid-a", "uid-c"}) {
		reasons = append(reasons, e.Reason+" "+e.InvolvedObject.Name)
	}
	want := map[string]bool{"LeaderElected a": true, "LeaderLost a": true, "LeaderElected c": true}
	for _, r := range reasons {
		delete(want, r)
	}
	if len(want) != 0 {
		t.Errorf("events %v lack %v", reasons, want)
	}
}
