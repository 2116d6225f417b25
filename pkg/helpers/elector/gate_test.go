package elector

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"
)

func TestAppReady(t *testing.T) {
	pod := func(deleting bool, statuses string) *podView {
		var p podView
		doc := `{"metadata":{` + map[bool]string{true: `"deletionTimestamp":"2026-12-06T00:00:00Z"`}[deleting] + `},
			"spec":{"containers":[{"name":"app"},{"name":"web"}]},"status":{"containerStatuses":[` + statuses + `]}}`
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	const (
		appUp    = `{"name":"app","ready":true,"state":{"running":{}}}`
		webUp    = `{"name":"web","ready":true,"state":{"running":{}}}`
		webUnrd  = `{"name":"web","ready":false,"state":{"running":{}}}`
		webDead  = `{"name":"web","ready":true,"state":{"terminated":{"exitCode":137}}}`
		appStale = `{"name":"app","ready":true,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}`
	)
	for _, tc := range []struct {
		name  string
		p     *podView
		guard []string
		want  bool
	}{
		{"all regular containers ready", pod(false, appUp+","+webUp), nil, true},
		{"one regular container unready", pod(false, appUp+","+webUnrd), nil, false},
		{"only the guarded one counts", pod(false, appUp+","+webUnrd), []string{"app"}, true},
		{"a dead container is not ready, whatever its last readiness", pod(false, appUp+","+webDead), nil, false},
		{"a waiting container is not ready", pod(false, appStale+","+webUp), nil, false},
		{"no status yet", pod(false, ""), nil, false},
		{"a guarded name the pod lacks", pod(false, appUp+","+webUp), []string{"db"}, false},
		{"a pod being deleted", pod(true, appUp+","+webUp), nil, false},
		{"no containers at all", &podView{}, nil, false},
	} {
		if got := appReady(tc.p, tc.guard); got != tc.want {
			t.Errorf("%s: appReady = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// testGate is a Gate set by the test.
type testGate struct {
	mu      sync.Mutex
	ready   bool
	changed chan struct{}
}

func newTestGate(ready bool) *testGate { return &testGate{ready: ready, changed: make(chan struct{})} }

func (g *testGate) Ready() (bool, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ready, g.changed
}

func (g *testGate) set(ready bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ready = ready
	close(g.changed)
	g.changed = make(chan struct{})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	hosttest.WaitFor(t, what, 10*time.Second, cond)
}

// TestGateHoldsTheCampaign: with a gate, auto mode campaigns only while the application is
// ready, withdraws a waiting campaign when it turns unready, and resigns a lead it holds.
func TestGateHoldsTheCampaign(t *testing.T) {
	a := newArbiter()
	ga, gb := newTestGate(false), newTestGate(true)
	ea, _ := testElector(t, a, "a", Config{Gate: ga})
	eb, _ := testElector(t, a, "b", Config{Gate: gb})
	leads := func(e *Elector) bool { st, _ := e.Status("e"); return st.IsLeader }
	waitUntil(t, "b leads (a's application is not ready)", func() bool { return leads(eb) })
	time.Sleep(50 * time.Millisecond)
	if a.mu.Lock(); len(a.queue) != 0 {
		t.Errorf("a campaigns while unready: queue %v", a.queue)
	}
	a.mu.Unlock()
	ga.set(true)
	waitUntil(t, "a waits in the queue", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.queue) == 1 })
	ga.set(false)
	waitUntil(t, "a withdraws its campaign", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.queue) == 0 })
	ga.set(true)
	gb.set(false)
	waitUntil(t, "a leads once b's application is unready", func() bool { return leads(ea) && !leads(eb) })
	if st, _ := ea.Status("e"); st.Token != 2 {
		t.Errorf("a's token = %d, want 2", st.Token)
	}
}

// resignChecker is a backend that checks, when told of a resign, that its elector already
// stopped saying it leads.
type resignChecker struct {
	fakeBackend
	e           *Elector
	leadingWhen []bool
	mu          sync.Mutex
}

func (r *resignChecker) Resign(ctx context.Context, name string, token uint64) error {
	st, _ := r.e.Status(name)
	r.mu.Lock()
	r.leadingWhen = append(r.leadingWhen, st.IsLeader)
	r.mu.Unlock()
	return r.fakeBackend.Resign(ctx, name, token)
}

// TestResignStopsLeadingFirst: every way of resigning (the API in auto and manual mode, an
// unready application, shutting down) stops answering isLeader before the backend learns of
// it and may grant another candidate.
func TestResignStopsLeadingFirst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		manual bool
		how    func(e *Elector, g *testGate, cancel context.CancelFunc)
	}{
		{"resign in auto mode", false, func(e *Elector, _ *testGate, _ context.CancelFunc) { e.Resign(context.Background(), "e") }},
		{"resign in manual mode", true, func(e *Elector, _ *testGate, _ context.CancelFunc) { e.Resign(context.Background(), "e") }},
		{"the application turns unready", false, func(_ *Elector, g *testGate, _ context.CancelFunc) { g.set(false) }},
		{"the elector stops", false, func(_ *Elector, _ *testGate, cancel context.CancelFunc) { cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newArbiter()
			r := &resignChecker{fakeBackend: fakeBackend{a: a, self: "a"}}
			g := newTestGate(true)
			e, err := New(Config{Elections: []string{"e"}, TTL: time.Hour, Manual: tc.manual, Gate: g}, r, "a")
			if err != nil {
				t.Fatal(err)
			}
			r.e = e
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); e.Run(ctx) }()
			defer func() { cancel(); <-done }()
			if tc.manual {
				if st, err := e.BecomeLeader(ctx, "e", true); err != nil || !st.IsLeader {
					t.Fatalf("becomeLeader: %+v %v", st, err)
				}
			}
			waitUntil(t, "a leads", func() bool { st, _ := e.Status("e"); return st.IsLeader })
			tc.how(e, g, cancel)
			if tc.name == "the elector stops" {
				<-done
			}
			waitUntil(t, "the backend was told", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.leadingWhen) > 0 })
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.leadingWhen[0] {
				t.Fatal("the elector still said it led when the backend learnt of its resign")
			}
		})
	}
}

// TestPodGateFollowsThePod: the gate reads the pod through a socket like podd's: ready while
// the guarded containers are, and at once after an event when one is not.
func TestPodGateFollowsThePod(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "podd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ready := true
	events := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pod", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write([]byte(`{"spec":{"containers":[{"name":"app"}]},"status":{"containerStatuses":[{"name":"app","ready":` +
			map[bool]string{true: "true", false: "false"}[ready] + `,"state":{"running":{}}}]}}`))
	})
	mux.HandleFunc("GET /pod/events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" {
			t.Errorf("events asked without watch=true: %s", r.URL)
		}
		w.(http.Flusher).Flush()
		for {
			select {
			case <-events:
				w.Write([]byte("{\"reason\":\"Unhealthy\"}\n"))
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	g := NewPodGate(NewLocal(sock, nil), nil)
	g.Interval = time.Hour // only the first read and the events' reads
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	waitUntil(t, "ready at the first read", func() bool { ok, _ := g.Ready(); return ok })
	mu.Lock()
	ready = false
	mu.Unlock()
	// The events' watch may connect after the first read: an event until the gate follows.
	waitUntil(t, "unready after an event", func() bool {
		select {
		case events <- struct{}{}:
		default:
		}
		ok, _ := g.Ready()
		return !ok
	})
}
