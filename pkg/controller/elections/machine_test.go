package elections

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// world is a test's pods and clock around a Machine.
type world struct {
	t     *testing.T
	now   time.Time
	m     *Machine
	pods  map[string]PodState
	saved map[string]uint64
	fail  error // the next saves fail with it
	log   []string
	// enforce: the Enforce changes seen, in order.
	enforce []Change
}

func sigName(s syscall.Signal) string {
	if s == 0 {
		return ""
	}
	return ":" + s.String()
}

// campaignFenced campaigns for a pod that asked for that fence.
func (w *world) campaignFenced(name, fence string, wait bool) string {
	f, err := pod.ParseLeaderFence(fence)
	if err != nil {
		w.t.Fatal(err)
	}
	c := cand(name)
	c.Fence = f
	l, id, cs, err := w.m.Campaign("e", c, wait)
	w.record(cs)
	switch {
	case err != nil:
		return err.Error()
	case l != nil:
		return fmt.Sprintf("leader %d", l.Token)
	case id != 0:
		return "waiting"
	}
	return "nothing"
}

// expire moves the clock to the next deadline and ticks.
func (w *world) expire() {
	next, ok := w.m.NextTick()
	if !ok {
		w.t.Fatal("no deadline")
	}
	w.now = next
	w.record(w.m.Tick())
}

// enforced tells the machine the last Enforce change's fence is done.
func (w *world) enforced() {
	c := w.enforce[len(w.enforce)-1]
	w.record(w.m.Enforced(c.Namespace, c.Election, c.Lease))
}

func newWorld(t *testing.T, tokens map[string]uint64) *world {
	w := &world{t: t, now: time.Unix(1000, 0), pods: map[string]PodState{}, saved: map[string]uint64{}}
	w.m = NewMachine(func() time.Time { return w.now }, tokens, func(ns, name string, token uint64) error {
		if w.fail != nil {
			return w.fail
		}
		w.saved[ns+"/"+name] = token
		return nil
	})
	return w
}

// pod adds a running pod whose "app" container is ready (instance 1).
func (w *world) pod(name string) {
	w.pods[name] = PodState{UID: "uid-" + name, Namespace: "ns", Name: name, Running: true,
		Containers: map[string]ContainerState{"app": {Ready: true, Instance: "c-1"}}}
	w.m.SetPod(w.pods[name])
}

// ack is pod name's elector acknowledging its loss of token.
func (w *world) ack(name string, token uint64) {
	cs, _ := w.m.Ack("ns", "e", "uid-"+name, token)
	w.record(cs)
}

func (w *world) observe() {
	var ps []PodState
	for _, p := range w.pods {
		ps = append(ps, p)
	}
	w.record(w.m.Observe(ps))
}

func (w *world) record(cs []Change) {
	for _, c := range cs {
		switch c.Kind {
		case Granted:
			w.log = append(w.log, fmt.Sprintf("granted %s %d", c.Lease.Pod, c.Lease.Token))
		case Lost:
			w.log = append(w.log, fmt.Sprintf("lost %s %s", c.Lease.Pod, c.Reason))
		case Withdrawn:
			w.log = append(w.log, fmt.Sprintf("withdrawn %d %s", c.Waiter, c.Reason))
		case Enforce:
			w.log = append(w.log, fmt.Sprintf("enforce %s %s%v %d %v", c.Lease.Pod, c.Lease.Fence.Mode, sigName(c.Lease.Fence.Signal), c.Lease.Token, c.Lease.Guard))
			w.enforce = append(w.enforce, c)
		case Thaw:
			w.log = append(w.log, fmt.Sprintf("thaw %s %d %s", c.Lease.Pod, c.Lease.Token, c.Reason))
		}
	}
}

func cand(name string) Candidate {
	return Candidate{UID: "uid-" + name, Namespace: "ns", Pod: name, Guard: []string{"app"}, TTL: 2 * time.Second}
}

// campaign returns "leader N", "waiting" or the error.
func (w *world) campaign(name string, wait bool) string {
	l, id, cs, err := w.m.Campaign("e", cand(name), wait)
	w.record(cs)
	switch {
	case err != nil:
		return err.Error()
	case l != nil:
		return fmt.Sprintf("leader %d", l.Token)
	case id != 0:
		return "waiting"
	}
	return "nothing"
}

func (w *world) leader() string {
	v := w.m.View("ns", "e")
	return fmt.Sprintf("%s %d %v", v.Leader, v.Token, v.Candidates)
}

func TestMachine(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(w *world) string
		want string
	}{{
		name: "first campaign is granted token 1, the second refused without wait, queued with",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			return w.campaign("a", false) + "; " + w.campaign("b", false) + "; " + w.campaign("b", true) + "; " + w.leader()
		},
		want: "leader 1; not the leader; waiting; a 1 [b]",
	}, {
		name: "a leader's new campaign renews with the same token",
		run: func(w *world) string {
			w.pod("a")
			w.campaign("a", false)
			w.now = w.now.Add(time.Second)
			return w.campaign("a", false) + " " + w.m.View("ns", "e").Deadline.Sub(time.Unix(1000, 0)).String()
		},
		want: "leader 1 3s",
	}, {
		name: "waiters are granted in order (FIFO) as leaders resign",
		run: func(w *world) string {
			for _, p := range []string{"a", "b", "c"} {
				w.pod(p)
				w.campaign(p, true)
			}
			_, err1 := w.m.Resign("ns", "e", "uid-a", 1)
			mid := w.leader()
			_, err2 := w.m.Resign("ns", "e", "uid-b", 2)
			return fmt.Sprint(err1, err2) + " " + mid + " " + w.leader()
		},
		want: "<nil> <nil> b 2 [c] c 3 []",
	}, {
		name: "a lease not renewed within its ttl expires and the next waiter is granted",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaign("a", false)
			w.campaign("b", true)
			w.now = w.now.Add(1500 * time.Millisecond)
			_, err := w.m.Renew("ns", "e", "uid-a", 1, 0)
			w.now = w.now.Add(1999 * time.Millisecond)
			w.record(w.m.Tick())
			before := w.leader()
			next, _ := w.m.NextTick()
			w.now = next
			w.record(w.m.Tick())
			return fmt.Sprint(err) + " " + before + " " + w.leader() + " " + strings.Join(w.log, ",")
		},
		want: "<nil> a 1 [b] b 2 [] lost a Expired,granted b 2",
	}, {
		name: "a guarded container turning unready releases at once",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaign("a", false)
			w.campaign("b", true)
			p := w.pods["a"]
			p.Containers = map[string]ContainerState{"app": {Ready: false, Instance: "c-1"}}
			w.pods["a"] = p
			w.observe()
			w.ack("a", 1) // a's elector learnt of it from its watch
			return w.leader() + " " + strings.Join(w.log, ",")
		},
		want: "b 2 [] lost a ContainerNotReady,granted b 2",
	}, {
		name: "after a loss podd imposed, nobody is granted until the old elector acknowledges it or the old deadline passes",
		run: func(w *world) string {
			for _, p := range []string{"a", "b", "c"} {
				w.pod(p)
				w.campaign(p, true)
			}
			w.now = w.now.Add(time.Second)
			unready := func(name string) {
				p := w.pods[name]
				p.Containers = map[string]ContainerState{"app": {Ready: false, Instance: "c-1"}}
				w.pods[name] = p
				w.observe()
			}
			unready("a")
			out := w.leader()
			w.ack("b", 1)         // another pod's acknowledgement does not count
			w.ack("a", 9)         // nor another token's
			w.campaign("c", true) // nor a campaign
			out += "; " + w.leader()
			w.expire() // a's lease deadline: a's elector has fenced itself
			out += "; " + w.leader()
			unready("b")
			next, _ := w.m.NextTick()
			w.campaign("b", false) // b's elector campaigns again: it has seen its loss
			return out + "; " + w.leader() + "; next tick at the handover's deadline " + fmt.Sprint(next.Sub(w.now))
		},
		want: " 0 [b c];  0 [b c]; b 2 [c]; c 3 []; next tick at the handover's deadline 2s",
	}, {
		name: "a guarded container restarted between two observations releases",
		run: func(w *world) string {
			w.pod("a")
			w.campaign("a", false)
			p := w.pods["a"]
			p.Containers = map[string]ContainerState{"app": {Ready: true, Instance: "c-2"}}
			w.pods["a"] = p
			w.observe()
			return w.leader() + " " + strings.Join(w.log, ",")
		},
		want: " 0 [] lost a ContainerRestarted",
	}, {
		name: "an unguarded container does not matter",
		run: func(w *world) string {
			w.pod("a")
			w.campaign("a", false)
			p := w.pods["a"]
			p.Containers = map[string]ContainerState{"app": {Ready: true, Instance: "c-1"}, "other": {}}
			w.pods["a"] = p
			w.observe()
			return w.leader()
		},
		want: "a 1 []",
	}, {
		name: "the leader's pod deleted or stopped releases; a waiter whose pod is gone is dropped",
		run: func(w *world) string {
			for _, p := range []string{"a", "b", "c"} {
				w.pod(p)
				w.campaign(p, true)
			}
			delete(w.pods, "b")
			w.observe()
			p := w.pods["a"]
			p.Running = false
			w.pods["a"] = p
			w.observe()
			w.ack("a", 1)
			return w.leader() + " " + strings.Join(w.log, ",")
		},
		want: "c 2 [] withdrawn 1 PodGone,lost a PodNotRunning,granted c 2",
	}, {
		name: "an ineligible waiter is passed over and keeps its place",
		run: func(w *world) string {
			for _, p := range []string{"a", "b", "c"} {
				w.pod(p)
			}
			w.campaign("a", false)
			p := w.pods["b"]
			p.Containers = map[string]ContainerState{"app": {}}
			w.pods["b"] = p
			w.m.SetPod(p)
			refused := w.campaign("b", false)
			w.campaign("b", true)
			w.campaign("c", true)
			w.m.Resign("ns", "e", "uid-a", 1)
			return refused + "; " + w.leader()
		},
		want: `container "app" of pod b is not ready: not eligible; c 2 [b]`,
	}, {
		name: "nobody leads after a restart; tokens continue from the stored counter",
		run: func(w *world) string {
			w.m = NewMachine(func() time.Time { return w.now }, map[string]uint64{"ns/e": 7}, func(ns, name string, tok uint64) error {
				w.saved[ns+"/"+name] = tok
				return nil
			})
			w.pod("a")
			before := w.leader()
			got := w.campaign("a", false)
			return before + "; " + got + fmt.Sprintf("; saved %d", w.saved["ns/e"])
		},
		want: " 0 []; leader 8; saved 8",
	}, {
		name: "a token that cannot be stored is not granted",
		run: func(w *world) string {
			w.pod("a")
			w.fail = errors.New("disk full")
			got := w.campaign("a", false)
			w.fail = nil
			return got + "; " + w.leader() + "; " + w.campaign("a", false)
		},
		want: "store the token of election ns/e: disk full;  0 []; leader 1",
	}, {
		name: "stale renew and resign are refused",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaign("a", false)
			w.campaign("b", true)
			w.m.Resign("ns", "e", "uid-a", 1)
			w.campaign("a", true)
			_, e1 := w.m.Renew("ns", "e", "uid-a", 1, 0)
			_, e2 := w.m.Resign("ns", "e", "uid-a", 1)
			_, e3 := w.m.Renew("ns", "e", "uid-a", 2, 0) // b's token, a's pod
			_, e4 := w.m.Renew("ns", "e", "uid-b", 2, 0)
			return fmt.Sprint(e1, "; ", e2, "; ", e3, "; ", e4, "; ", w.leader())
		},
		want: "not the leader; not the leader; not the leader; <nil>; b 2 [a]",
	}, {
		name: "a second long poll of a pod replaces its first and keeps its place",
		run: func(w *world) string {
			for _, p := range []string{"a", "b", "c"} {
				w.pod(p)
				w.campaign(p, true)
			}
			w.campaign("b", true)
			return w.leader() + " " + strings.Join(w.log, ",")
		},
		want: "a 1 [b c] withdrawn 1 Superseded",
	}, {
		name: "elections are scoped to the namespace",
		run: func(w *world) string {
			w.pod("a")
			w.m.SetPod(PodState{UID: "uid-x", Namespace: "other", Name: "x", Running: true, Containers: map[string]ContainerState{"app": {Ready: true}}})
			w.campaign("a", false)
			l, _, _, err := w.m.Campaign("e", Candidate{UID: "uid-x", Namespace: "other", Pod: "x", Guard: []string{"app"}, TTL: time.Second}, false)
			return fmt.Sprint(l.Token, err, " ", len(w.m.List("")), len(w.m.List("ns")))
		},
		want: "1 <nil> 2 1",
	}, {
		name: "a namespace holds at most MaxPerNamespace elections; known names go on",
		run: func(w *world) string {
			tokens := map[string]uint64{}
			for i := range MaxPerNamespace {
				tokens[fmt.Sprintf("ns/e%d", i)] = 1
			}
			w.m = NewMachine(func() time.Time { return w.now }, tokens, nil)
			w.pod("a")
			_, _, _, err := w.m.Campaign("new", cand("a"), false)
			l, _, _, err2 := w.m.Campaign("e7", cand("a"), false)
			_, _, _, err3 := w.m.Campaign("new", Candidate{UID: "x", Namespace: "other", Pod: "x", TTL: time.Second}, false)
			return fmt.Sprint(errors.Is(err, ErrTooMany), " ", err, "; ", l.Token, err2, "; ", errors.Is(err3, ErrTooMany))
		},
		want: "true election new: namespace ns has 1024 elections, the most podd keeps per namespace: too many elections; 2 <nil>; false",
	}, {
		name: "freeze: an expired lease is frozen before the next grant; the ack thaws it",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "freeze", false)
			w.campaignFenced("b", "freeze", true)
			w.expire()
			during := w.leader()
			w.now = w.now.Add(time.Hour)
			w.record(w.m.Tick()) // nothing is granted while the freeze is under way
			w.enforced()
			after := w.leader()
			cs, ok := w.m.Ack("ns", "e", "uid-a", 1)
			w.record(cs)
			_, again := w.m.Ack("ns", "e", "uid-a", 1)
			return during + "; " + after + "; " + fmt.Sprint(ok, again) + "; " + strings.Join(w.log, ",")
		},
		want: " 0 [b]; b 2 []; true false; lost a Expired,enforce a freeze 1 [app],granted b 2,thaw a 1 Acknowledged",
	}, {
		name: "freeze: a campaign of the frozen pod is its acknowledgement",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "freeze", false)
			w.campaignFenced("b", "freeze", true)
			w.expire()
			w.enforced()
			got := w.campaignFenced("a", "freeze", true)
			return got + "; " + w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "waiting; b 2 [a]; lost a Expired,enforce a freeze 1 [app],granted b 2,thaw a 1 Campaigned",
	}, {
		name: "freeze: an ack that comes while the freeze is under way thaws once it is done",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "freeze", false)
			w.campaignFenced("b", "", true)
			w.expire()
			_, ok := w.m.Ack("ns", "e", "uid-a", 1)
			w.enforced()
			return fmt.Sprint(ok) + "; " + w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "true; b 2 []; lost a Expired,enforce a freeze 1 [app],thaw a 1 Acknowledged,granted b 2",
	}, {
		name: "freeze: a resign is not enforced",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "freeze", false)
			w.campaignFenced("b", "freeze", true)
			cs, err := w.m.Resign("ns", "e", "uid-a", 1)
			w.record(cs)
			return fmt.Sprint(err) + "; " + w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "<nil>; b 2 []; lost a Resigned,granted b 2",
	}, {
		name: "freeze: a guarded container turning unready is enforced; one restarted or a pod stopping is not",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.pod("c")
			w.campaignFenced("a", "freeze", false)
			w.campaignFenced("b", "freeze", true)
			w.campaignFenced("c", "freeze", true)
			p := w.pods["a"]
			p.Containers = map[string]ContainerState{"app": {Ready: false, Instance: "c-1"}}
			w.pods["a"] = p
			w.observe()
			w.enforced()
			w.expire() // the handover: a's elector did not acknowledge (that would thaw a)
			p = w.pods["b"]
			p.Containers = map[string]ContainerState{"app": {Ready: true, Instance: "c-2"}}
			w.pods["b"] = p
			w.observe()
			w.expire()
			return w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "c 3 []; lost a ContainerNotReady,enforce a freeze 1 [app],granted b 2,lost b ContainerRestarted,granted c 3",
	}, {
		name: "freeze: a frozen pod that stops is thawed; a freeze under way for it is given up and undone",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.pod("c")
			w.campaignFenced("a", "freeze", false)
			w.campaignFenced("b", "freeze", true)
			w.expire()
			w.enforced()
			w.campaignFenced("c", "freeze", true)
			w.expire() // b expires: its freeze is under way when its pod stops
			p := w.pods["a"]
			p.Running = false
			w.pods["a"] = p
			delete(w.pods, "b")
			w.observe()
			w.enforced() // b's freeze completes late: undone
			return w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "c 3 []; lost a Expired,enforce a freeze 1 [app],granted b 2,lost b Expired,enforce b freeze 2 [app],thaw a 1 PodNotRunning,granted c 3,thaw b 2 PodNotRunning",
	}, {
		name: "stop: the next grant waits for the stop; nothing to thaw",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "stop", false)
			w.campaignFenced("b", "stop", true)
			w.expire()
			during := w.leader()
			w.enforced()
			cs, ok := w.m.Ack("ns", "e", "uid-a", 1)
			w.record(cs)
			return during + "; " + w.leader() + "; " + fmt.Sprint(ok) + "; " + strings.Join(w.log, ",")
		},
		want: " 0 [b]; b 2 []; false; lost a Expired,enforce a stop 1 [app],granted b 2",
	}, {
		name: "signal: sent, and the next grant does not wait",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "signal:SIGUSR1", false)
			w.campaignFenced("b", "", true)
			w.expire()
			return w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "b 2 []; lost a Expired,enforce a signal:user defined signal 1 1 [app],granted b 2",
	}, {
		name: "no fence asked, or nothing guarded: nothing enforced",
		run: func(w *world) string {
			w.pod("a")
			w.pod("b")
			w.campaignFenced("a", "", false)
			c := cand("b")
			c.Guard = nil
			c.Fence = pod.LeaderFence{Mode: pod.FenceFreeze}
			_, _, _, err := w.m.Campaign("e", c, true)
			w.expire()
			w.expire()
			return fmt.Sprint(err) + "; " + w.leader() + "; " + strings.Join(w.log, ",")
		},
		want: "<nil>;  0 []; lost a Expired,granted b 2,lost b Expired",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			if got := tc.run(w); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
