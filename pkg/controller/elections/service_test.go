package elections

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
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

// fakeFencer records what the service asked; Freeze fails while failing is set.
type fakeFencer struct {
	mu      sync.Mutex
	failing bool
	calls   []string
}

func (f *fakeFencer) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeFencer) Freeze(_ context.Context, ns, p, c string) error {
	f.mu.Lock()
	failing := f.failing
	f.mu.Unlock()
	if failing {
		f.record("freeze-failed " + p + "/" + c)
		return errors.New("containerd is down")
	}
	f.record("freeze " + p + "/" + c)
	return nil
}

func (f *fakeFencer) Thaw(_ context.Context, ns, p, c string) error {
	f.record("thaw " + p + "/" + c)
	return nil
}

func (f *fakeFencer) Signal(_ context.Context, ns, p, c string, sig syscall.Signal) error {
	f.record("signal " + p + "/" + c + " " + sig.String())
	return nil
}

func (f *fakeFencer) Stop(_ context.Context, ns, p, c string) error {
	f.record("stop " + p + "/" + c)
	return nil
}

func (f *fakeFencer) has(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.calls, call)
}

// TestServiceFreeze: a fenced leader that stops renewing is frozen before the next grant; while
// the freeze fails nobody else is granted (LeaderFenceFailed); its ack thaws it.
func TestServiceFreeze(t *testing.T) {
	a, b := runningPod("a"), runningPod("b")
	for _, p := range []*pod.Pod{a, b} {
		p.Metadata.Annotations = map[string]string{pod.AnnotationLeaderFence: "freeze"}
	}
	pods := &fakePods{pods: []*pod.Pod{a, b}, changed: make(chan struct{})}
	rec := events.New()
	fencer := &fakeFencer{failing: true}
	svc, err := NewService(pods, &fakeTokens{m: map[string]uint64{}}, rec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.WithFencer(fencer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if g, err := svc.Campaign(ctx, a, "e", CampaignRequest{TTLMillis: 100}); err != nil || g.Token != 1 {
		t.Fatalf("a: %+v %v", g, err)
	}
	granted := make(chan *Grant, 1)
	go func() {
		g, err := svc.Campaign(ctx, b, "e", CampaignRequest{Wait: true})
		if err != nil {
			t.Error(err)
		}
		granted <- g
	}()
	reasons := func() []string {
		var out []string
		for _, e := range rec.List([]string{"uid-a"}) {
			out = append(out, e.Reason)
		}
		return out
	}
	waitUntil(t, "a's freeze to fail twice", func() bool {
		fencer.mu.Lock()
		defer fencer.mu.Unlock()
		n := 0
		for _, c := range fencer.calls {
			if strings.HasPrefix(c, "freeze-failed ") {
				n++
			}
		}
		return n >= 2
	})
	if v := svc.Get("default", "e"); v.Leader != "" {
		t.Fatalf("granted to %s while the old leader's freeze fails", v.Leader)
	}
	if !slices.Contains(reasons(), "LeaderFenceFailed") {
		t.Errorf("events %v lack LeaderFenceFailed", reasons())
	}
	fencer.mu.Lock()
	fencer.failing = false
	fencer.mu.Unlock()
	g := <-granted
	if g == nil || g.Leader != "b" || g.Token != 2 {
		t.Fatalf("b: %+v", g)
	}
	if !fencer.has("freeze a/app") {
		t.Fatalf("b granted without a's freeze: %v", fencer.calls)
	}
	fencer.mu.Lock()
	early := slices.Contains(fencer.calls[slices.Index(fencer.calls, "freeze a/app"):], "thaw a/app")
	fencer.mu.Unlock()
	if early {
		t.Fatal("a thawed before its ack")
	}
	if _, err := svc.Ack(a, "e", AckRequest{}); err == nil {
		t.Error("an ack without a token was accepted")
	}
	r, err := svc.Ack(a, "e", AckRequest{Token: 1})
	if err != nil || !r.Thawed {
		t.Fatalf("a's ack: %+v %v", r, err)
	}
	waitUntil(t, "a thawed", func() bool {
		fencer.mu.Lock()
		defer fencer.mu.Unlock()
		return slices.Contains(fencer.calls[slices.Index(fencer.calls, "freeze a/app"):], "thaw a/app") && slices.Contains(reasons(), "LeaderThawed")
	})
	if !slices.Contains(reasons(), "LeaderFenced") {
		t.Errorf("events %v lack LeaderFenced", reasons())
	}

	// A campaign of a pod asking for freeze resumes its guarded containers even without a
	// record of a freeze (one made by a podd before a restart).
	c := runningPod("c")
	c.Metadata.Annotations = map[string]string{pod.AnnotationLeaderFence: "freeze"}
	pods.mu.Lock()
	pods.pods = append(pods.pods, c)
	pods.mu.Unlock()
	if _, err := svc.Campaign(ctx, c, "other", CampaignRequest{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "c's app resumed at its campaign", func() bool { return fencer.has("thaw c/app") })
}
