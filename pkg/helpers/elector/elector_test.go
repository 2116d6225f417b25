package elector

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// arbiter is a fake backend's shared state: one election, no expiry, waiters granted in order
// (as podd does).
type arbiter struct {
	mu      sync.Mutex
	leader  string
	token   uint64
	queue   []string
	down    bool // every request fails, as when the backend is unreachable
	changed chan struct{}
	acks    []string // "pod token", in order
}

// depose gives the lead to another pod with the next token, as podd does at an expiry.
func (a *arbiter) depose(to string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leader = to
	a.token++
	a.notify()
}

func (a *arbiter) acked() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.acks)
}

func newArbiter() *arbiter { return &arbiter{changed: make(chan struct{})} }

func (a *arbiter) notify() {
	close(a.changed)
	a.changed = make(chan struct{})
}

var errDown = errors.New("backend unreachable")

type fakeBackend struct {
	a    *arbiter
	self string
	// during runs inside a granted request, as the request's own latency.
	during func()
}

func (f *fakeBackend) Self(context.Context) (string, error) { return f.self, nil }

func (f *fakeBackend) Campaign(ctx context.Context, _ string, ttl time.Duration, wait bool) (Grant, error) {
	for {
		f.a.mu.Lock()
		if f.a.down {
			f.a.mu.Unlock()
			return Grant{}, errDown
		}
		if f.a.leader == "" && (len(f.a.queue) == 0 || f.a.queue[0] == f.self) || f.a.leader == f.self {
			if f.a.leader == "" {
				if len(f.a.queue) > 0 {
					f.a.queue = f.a.queue[1:]
				}
				f.a.leader = f.self
				f.a.token++
				f.a.notify()
			}
			g := Grant{Leader: f.self, Token: f.a.token, TTL: ttl}
			f.a.mu.Unlock()
			if f.during != nil {
				f.during()
			}
			return g, nil
		}
		if !wait {
			f.a.mu.Unlock()
			return Grant{}, ErrNotLeader
		}
		if !slices.Contains(f.a.queue, f.self) {
			f.a.queue = append(f.a.queue, f.self)
		}
		ch := f.a.changed
		f.a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			f.a.mu.Lock()
			f.a.queue = slices.DeleteFunc(f.a.queue, func(s string) bool { return s == f.self })
			f.a.mu.Unlock()
			return Grant{}, ctx.Err()
		}
	}
}

func (f *fakeBackend) Renew(_ context.Context, _ string, token uint64, ttl time.Duration) (Grant, error) {
	f.a.mu.Lock()
	defer f.a.mu.Unlock()
	if f.a.down {
		return Grant{}, errDown
	}
	if f.a.leader != f.self || f.a.token != token {
		return Grant{}, ErrNotLeader
	}
	return Grant{Leader: f.self, Token: token, TTL: ttl}, nil
}

func (f *fakeBackend) Resign(_ context.Context, _ string, token uint64) error {
	f.a.mu.Lock()
	defer f.a.mu.Unlock()
	if f.a.down {
		return errDown
	}
	if f.a.leader != f.self || f.a.token != token {
		return ErrNotLeader
	}
	f.a.leader = ""
	f.a.notify()
	return nil
}

func (f *fakeBackend) Ack(_ context.Context, _ string, token uint64) error {
	f.a.mu.Lock()
	defer f.a.mu.Unlock()
	if f.a.down {
		return errDown
	}
	f.a.acks = append(f.a.acks, fmt.Sprintf("%s %d", f.self, token))
	return nil
}

func (f *fakeBackend) Observe(ctx context.Context, _ string, fn func(Observed)) error {
	for {
		f.a.mu.Lock()
		// As podd shows it: the token only while someone leads, the last issued always.
		o, ch := Observed{Leader: f.a.leader, Last: f.a.token}, f.a.changed
		if f.a.leader != "" {
			o.Token = f.a.token
		}
		f.a.mu.Unlock()
		fn(o)
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// testElector runs an elector on the arbiter, served by an httptest server.
func testElector(t *testing.T, a *arbiter, self string, cfg Config) (*Elector, *httptest.Server) {
	t.Helper()
	if cfg.Elections == nil {
		cfg.Elections = []string{"e"}
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Hour // renews do not matter here
	}
	e, err := New(cfg, &fakeBackend{a: a, self: self}, self)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return e, srv
}

func getStatus(t *testing.T, srv *httptest.Server, path string) Status {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func postStatus(t *testing.T, srv *httptest.Server, path string) (int, Status) {
	t.Helper()
	resp, err := http.Post(srv.URL+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, st
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAutoModeOneLeaderAndResign(t *testing.T) {
	a := newArbiter()
	_, s1 := testElector(t, a, "pod-1", Config{})
	eventually(t, "pod-1 leads", func() bool { return getStatus(t, s1, "/").IsLeader })
	_, s2 := testElector(t, a, "pod-2", Config{})
	eventually(t, "pod-2 sees pod-1 lead", func() bool { return getStatus(t, s2, "/").Leader == "pod-1" })
	st2 := getStatus(t, s2, "/elections/e")
	if st2.IsLeader || st2.Self != "pod-2" || st2.Token != 1 {
		t.Errorf("pod-2's status %+v, want not leader, leader pod-1 with token 1", st2)
	}
	if code, _ := postStatus(t, s2, "/becomeLeader"); code != http.StatusConflict {
		t.Errorf("becomeLeader without wait on a follower: %d, want 409", code)
	}

	// The watch of pod-2 sees it become leader after pod-1 resigns.
	resp, err := http.Get(s2.URL + "/watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if code, st := postStatus(t, s1, "/resign"); code != http.StatusOK || st.IsLeader {
		t.Errorf("resign: %d %+v", code, st)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var st Status
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				t.Fatal(err)
			}
			if st.IsLeader {
				if st.Token != 2 || st.Leader != "pod-2" {
					t.Errorf("pod-2 leads with %+v, want token 2", st)
				}
				break
			}
		}
	}
	if code, st := postStatus(t, s2, "/becomeLeader?wait=true"); code != http.StatusOK || !st.IsLeader {
		t.Errorf("becomeLeader?wait=true on the leader: %d %+v", code, st)
	}
	// pod-1 campaigns again, behind: it does not lead.
	if st := getStatus(t, s1, "/"); st.IsLeader || st.Leader != "pod-2" {
		t.Errorf("pod-1 after its resign: %+v", st)
	}
}

func TestSelfFencing(t *testing.T) {
	a := newArbiter()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e, err := New(Config{Elections: []string{"e"}, TTL: 10 * time.Second, Manual: true, Now: clock},
		// The grant takes 3s to come back: the deadline counts them.
		&fakeBackend{a: a, self: "pod-1", during: func() { advance(3 * time.Second) }}, "pod-1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.BecomeLeader(context.Background(), "e", false)
	if err != nil || !st.IsLeader {
		t.Fatalf("becomeLeader: %+v %v", st, err)
	}
	// Deadline: sent (1000s) + ttl 10s - margin 1s, not the answer's time + ttl.
	if want := time.Unix(1009, 0); !st.Deadline.Equal(want) {
		t.Errorf("deadline %s, want %s (from before the request, minus the margin)", st.Deadline, want)
	}
	// The backend is unreachable: a renew fails, and leadership holds until the deadline only.
	a.mu.Lock()
	a.down = true
	a.mu.Unlock()
	if _, err := e.RenewLeadership(context.Background(), "e"); !errors.Is(err, errDown) {
		t.Errorf("renew with the backend down: %v", err)
	}
	advance(5*time.Second + 999*time.Millisecond) // 1008.999: still leader
	if st, _ := e.Status("e"); !st.IsLeader {
		t.Errorf("just before the deadline: %+v, want leader", st)
	}
	advance(time.Millisecond) // 1009: the deadline minus the margin
	if st, _ := e.Status("e"); st.IsLeader || st.Leader != "" {
		t.Errorf("at the deadline minus the margin: %+v, want not leader, and not naming itself", st)
	}
}

func TestManualMode(t *testing.T) {
	a := newArbiter()
	_, s1 := testElector(t, a, "pod-1", Config{Manual: true})
	_, s2 := testElector(t, a, "pod-2", Config{Manual: true})
	if st := getStatus(t, s1, "/"); st.IsLeader {
		t.Fatalf("manual mode leads without asking: %+v", st)
	}
	if code, st := postStatus(t, s1, "/becomeLeader"); code != http.StatusOK || !st.IsLeader || st.Token != 1 {
		t.Fatalf("pod-1 becomeLeader: %d %+v", code, st)
	}
	if code, st := postStatus(t, s2, "/becomeLeader?election=e"); code != http.StatusConflict || st.IsLeader {
		t.Errorf("pod-2 becomeLeader: %d %+v, want 409", code, st)
	}
	if code, st := postStatus(t, s1, "/renewLeadership"); code != http.StatusOK || !st.IsLeader {
		t.Errorf("pod-1 renew: %d %+v", code, st)
	}
	waited := make(chan Status, 1)
	go func() {
		resp, err := http.Post(s2.URL+"/becomeLeader?wait=true", "", nil)
		var st Status
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		waited <- st
	}()
	if code, _ := postStatus(t, s1, "/resign"); code != http.StatusOK {
		t.Errorf("pod-1 resign: %d", code)
	}
	select {
	case st := <-waited:
		if !st.IsLeader || st.Token != 2 {
			t.Errorf("pod-2's waiting becomeLeader: %+v, want leader with token 2", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pod-2's waiting becomeLeader never answered")
	}
	if code, st := postStatus(t, s1, "/renewLeadership"); code != http.StatusConflict || st.IsLeader {
		t.Errorf("pod-1 renew after its resign: %d %+v", code, st)
	}
	resp, err := http.Get(s1.URL + "/elections/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown election: %s", resp.Status)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--election", "e", "--ttl", "10ms"}, "--ttl: 10ms is out of range [100ms, 1h0m0s]"},
		{[]string{"--election", "e", "--mode", "sometimes"}, `--mode: "sometimes" must be auto or manual`},
		{[]string{"--election", "e", "--backend", "zk"}, `--backend: "zk" is not available (local or etcd)`},
		{[]string{"--election", "Bad_Name"}, `--election[0]: "Bad_Name": must be lower-case`},
		{[]string{"--election", "e", "--ttl", "3s", "--margin", "1s"}, "--margin: 1s must be at least 0 and below a third of --ttl (1s)"},
		{[]string{"--election", "e"}, ""},
		{[]string{"--election", "e", "--signal", "USR1"}, "--signal and --signal-process: give both or neither"},
		{[]string{"--election", "e", "--signal-process", "app"}, "--signal and --signal-process: give both or neither"},
		{[]string{"--election", "e", "--signal", "NOPE", "--signal-process", "app"}, `--signal: "NOPE" is not a signal`},
		{[]string{"--election", "e", "--signal", "USR1", "--signal-process", "app"}, ""},
		{strings.Fields("--election a --election b --election c --election d --election e --election f --election g --election h --election i"), "--election: 9 given, at most 8"},
	} {
		cmd := Command()
		set := flag.NewFlagSet("elector", flag.ContinueOnError)
		for _, f := range cmd.Flags {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, _, err := configFromFlags(cli.NewContext(cli.NewApp(), set, nil))
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestStopResigns: when the elector stops (SIGTERM ends Run's context) it resigns what it holds,
// so that the next candidate is granted at once rather than after the ttl.
func TestStopResigns(t *testing.T) {
	a := newArbiter()
	e, err := New(Config{Elections: []string{"e"}, TTL: time.Hour}, &fakeBackend{a: a, self: "pod-1"}, "pod-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	eventually(t, "pod-1 leads", func() bool { st, _ := e.Status("e"); return st.IsLeader })
	cancel()
	<-done
	a.mu.Lock()
	leader := a.leader
	a.mu.Unlock()
	if leader != "" {
		t.Errorf("after the elector stopped the backend's leader is %q, want none (resigned)", leader)
	}
	if st, _ := e.Status("e"); st.IsLeader {
		t.Errorf("a stopped elector says it leads: %+v", st)
	}
}

// TestGrantAfterLongWait: a campaign granted after waiting longer than the ttl (a long poll
// behind another leader) is leadership at once. Measured from before the request, such a grant's
// deadline has passed already; the elector renews at once to learn a deadline it can trust,
// rather than say "not leader" until its next renew.
func TestGrantAfterLongWait(t *testing.T) {
	a := newArbiter()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, err := New(Config{Elections: []string{"e"}, TTL: 2 * time.Second, Manual: true, Now: clock},
		// The long poll returns a minute after it was sent.
		&fakeBackend{a: a, self: "pod-1", during: func() { mu.Lock(); now = now.Add(time.Minute); mu.Unlock() }}, "pod-1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.BecomeLeader(context.Background(), "e", true)
	if err != nil || !st.IsLeader || st.Token != 1 {
		t.Fatalf("granted after a long wait: %+v %v, want leader with token 1", st, err)
	}
	if want := time.Unix(1060, 0).Add(1800 * time.Millisecond); !st.Deadline.Equal(want) {
		t.Errorf("deadline %s, want %s (the renew's send time + ttl - margin)", st.Deadline, want)
	}
}

// TestDeposedByNewerGrant: when the backend's watch shows another pod granted with a higher token
// (podd releases a leader at once when its guarded container dies or turns unready, and grants
// the next waiter), the deposed elector stops saying isLeader then, not at its next renew (ttl/3
// later): until then two electors said isLeader at once (podbench's dual-leader samples).
func TestDeposedByNewerGrant(t *testing.T) {
	a := newArbiter()
	_, s1 := testElector(t, a, "pod-1", Config{}) // ttl 1h: no renew in the test's time
	eventually(t, "pod-1 leads", func() bool { return getStatus(t, s1, "/").IsLeader })
	// The arbiter deposes pod-1 and grants pod-2, as podd does on a guarded container's death.
	a.mu.Lock()
	a.leader, a.token = "pod-2", a.token+1
	a.notify()
	a.mu.Unlock()
	eventually(t, "pod-1 no longer says it leads once pod-2 is granted token 2", func() bool {
		st := getStatus(t, s1, "/")
		return !st.IsLeader && st.Leader == "pod-2" && st.Token == 2
	})
}

// TestAckAutoMode: a leader whose renew is refused (podd took the lead away) tells its watchers,
// then acknowledges the lost token at once, before it campaigns again.
func TestAckAutoMode(t *testing.T) {
	a := newArbiter()
	_, s1 := testElector(t, a, "pod-1", Config{TTL: 300 * time.Millisecond})
	eventually(t, "pod-1 leads", func() bool { return getStatus(t, s1, "/").IsLeader })
	if got := a.acked(); len(got) != 0 {
		t.Fatalf("acks before any loss: %v", got)
	}
	a.depose("pod-2")
	eventually(t, "pod-1 acknowledges token 1", func() bool { return slices.Equal(a.acked(), []string{"pod-1 1"}) })
	if st := getStatus(t, s1, "/"); st.IsLeader {
		t.Errorf("pod-1 after the loss: %+v", st)
	}
}

// TestAckManualMode: in manual mode the application acknowledges with POST /ack once told;
// a second ack has nothing left to acknowledge.
func TestAckManualMode(t *testing.T) {
	a := newArbiter()
	_, s1 := testElector(t, a, "pod-1", Config{Manual: true})
	if code, st := postStatus(t, s1, "/becomeLeader"); code != http.StatusOK || !st.IsLeader {
		t.Fatalf("becomeLeader: %d %+v", code, st)
	}
	a.depose("pod-2")
	if code, st := postStatus(t, s1, "/renewLeadership"); code != http.StatusConflict || st.IsLeader {
		t.Fatalf("renew after the loss: %d %+v", code, st)
	}
	if got := a.acked(); len(got) != 0 {
		t.Fatalf("manual mode acknowledged by itself: %v", got)
	}
	ack := func() (int, bool) {
		resp, err := http.Post(s1.URL+"/ack", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Acknowledged bool `json:"acknowledged"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out.Acknowledged
	}
	if code, ok := ack(); code != http.StatusOK || !ok {
		t.Errorf("POST /ack: %d %t", code, ok)
	}
	if code, ok := ack(); code != http.StatusOK || ok {
		t.Errorf("a second POST /ack: %d %t, want nothing acknowledged", code, ok)
	}
	if got := a.acked(); !slices.Equal(got, []string{"pod-1 1"}) {
		t.Errorf("acks %v, want [pod-1 1]", got)
	}
}

// TestVacancyDeposesAndAcks: podd takes the lead away (the app died) and waits for the deposed
// elector before granting anyone: the elector, seeing the election vacant after its token, stops
// saying it leads at once and (auto mode) acknowledges the loss at once; a renew answered before
// the vacancy but read after it does not make it leader again.
func TestVacancyDeposesAndAcks(t *testing.T) {
	a := newArbiter()
	e, _ := testElector(t, a, "a", Config{})
	waitUntil(t, "a leads", func() bool { st, _ := e.Status("e"); return st.IsLeader })
	a.mu.Lock()
	a.leader = "" // podd released token 1 and grants nobody until a acknowledges
	a.notify()
	a.mu.Unlock()
	waitUntil(t, "a no longer leads", func() bool { st, _ := e.Status("e"); return !st.IsLeader })
	waitUntil(t, "a acknowledged token 1", func() bool { return slices.Contains(a.acked(), "a 1") })
	e.hold("e", Grant{Leader: "a", Token: 1, TTL: time.Hour}, time.Now())
	if st, _ := e.Status("e"); st.IsLeader {
		t.Fatalf("a late renew of the lost token made it leader again: %+v", st)
	}
}

// TestOnLost: the application is told (OnLost, which --signal uses) once per lost grant —
// deposed, its deadline passed without a renew, or its readiness gone — and not when it resigned.
func TestOnLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(a *arbiter, e *Elector, g *testGate)
		want string
	}{
		{"deposed", func(a *arbiter, _ *Elector, _ *testGate) { a.depose("b") }, "[e 1]"},
		{"unready", func(_ *arbiter, _ *Elector, g *testGate) { g.set(false) }, "[e 1]"},
		{"deadline passed", func(a *arbiter, _ *Elector, _ *testGate) {
			a.mu.Lock()
			a.down = true // renews fail: the deadline passes
			a.mu.Unlock()
		}, "[e 1]"},
		{"resigned", func(_ *arbiter, e *Elector, _ *testGate) { e.Resign(context.Background(), "e") }, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var told []string
			a := newArbiter()
			g := newTestGate(true)
			e, _ := testElector(t, a, "a", Config{TTL: 300 * time.Millisecond, Gate: g, OnLost: func(name string, token uint64) {
				mu.Lock()
				told = append(told, fmt.Sprintf("%s %d", name, token))
				mu.Unlock()
			}})
			waitUntil(t, "a leads", func() bool { st, _ := e.Status("e"); return st.IsLeader })
			tc.lose(a, e, g)
			if tc.name == "resigned" {
				// Auto mode campaigns again at once, and nobody else does: a leads again, token 2.
				waitUntil(t, "a's resign done", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.token >= 2 })
			} else {
				waitUntil(t, "a no longer leads", func() bool { st, _ := e.Status("e"); return !st.IsLeader })
			}
			time.Sleep(700 * time.Millisecond) // more than the ttl: a second call would come by now
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(told) != tc.want {
				t.Errorf("OnLost calls %v, want %s", told, tc.want)
			}
		})
	}
}
