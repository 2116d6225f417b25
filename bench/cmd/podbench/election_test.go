package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestElectorWatchDual: two electors' isLeader answers count as a dual-leader sample only when
// their [request, response] windows overlap.
func TestElectorWatchDual(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	leader := func(pod string, token uint64, sent, recv int) electorSample {
		return electorSample{pod: pod, sent: at(sent), recv: at(recv), st: electorStatus{Self: pod, Leader: pod, IsLeader: true, Token: token}}
	}
	follower := func(pod, of string, token uint64, sent, recv int) electorSample {
		return electorSample{pod: pod, sent: at(sent), recv: at(recv), st: electorStatus{Self: pod, Leader: of, Token: token}}
	}
	for _, tc := range []struct {
		name    string
		samples []electorSample
		want    int
	}{
		{"one leader", []electorSample{leader("a", 1, 0, 1), follower("b", "a", 1, 0, 1), leader("a", 1, 5, 6)}, 0},
		{"handover without overlap", []electorSample{leader("a", 1, 0, 1), follower("a", "b", 2, 5, 6), leader("b", 2, 2, 3)}, 0},
		{"overlapping claims", []electorSample{leader("a", 1, 0, 4), leader("b", 2, 3, 5)}, 1},
		{"touching is not overlapping", []electorSample{leader("a", 1, 0, 3), leader("b", 2, 3, 5)}, 0},
		{"an old claim of the same pod", []electorSample{leader("a", 1, 0, 4), leader("a", 1, 3, 5)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newElectorWatch()
			for _, s := range tc.samples {
				w.add(s)
			}
			if w.dual != tc.want {
				t.Errorf("dual-leader samples %d, want %d (%v)", w.dual, tc.want, w.dualSeen)
			}
		})
	}
}

// TestElectorWatchFailover: the failover's detector fires on another pod's isLeader with a higher
// token only.
func TestElectorWatchFailover(t *testing.T) {
	w := newElectorWatch()
	found := w.expect("a", 3)
	now := time.Now()
	w.add(electorSample{pod: "a", sent: now, recv: now, st: electorStatus{IsLeader: true, Token: 3}})
	w.add(electorSample{pod: "b", sent: now, recv: now, st: electorStatus{Leader: "a", Token: 3}})
	select {
	case s := <-found:
		t.Fatalf("fired on %+v", s)
	default:
	}
	w.add(electorSample{pod: "b", sent: now, recv: now, st: electorStatus{IsLeader: true, Token: 4}})
	select {
	case s := <-found:
		if s.pod != "b" || s.st.Token != 4 {
			t.Errorf("fired on %+v, want b with token 4", s)
		}
	default:
		t.Fatal("did not fire on b leading with token 4")
	}
}

// TestElectionKeys: the etcd keys are JSON null, and so are the election's keys when it did not run.
func TestElectionKeys(t *testing.T) {
	data, err := json.Marshal(results{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"leader_failover_local_ms", "leader_failover_local_sigstop_ms", "leader_failovers",
		"leader_stale_writes_accepted", "leader_dual_leader_samples", "leader_failover_etcd_ms", "leader_etcd_ttl_ms"} {
		if !strings.Contains(string(data), `"`+key+`":null`) {
			t.Errorf("%s is not null in %s", key, data)
		}
	}
}

// TestPartialVerdict: a partial run (-only) is judged on the targets it measured; a full run
// needs them all.
func TestPartialVerdict(t *testing.T) {
	failovers, zero, local := 50, 0, 14.0
	election := results{LeaderFailovers: &failovers, LeaderFailoverLocal: &local, LeaderStaleWritesAccepted: &zero,
		LeaderDualLeaderSamples: &zero, HelperImageMiB: 13}
	full := election
	full.finish()
	if full.Pass {
		t.Errorf("a full run with 4 of 11 targets passed: %+v", full.Targets)
	}
	partial := election
	partial.Partial = "election"
	partial.finish()
	if !partial.Pass || len(partial.Targets) != 4 {
		t.Errorf("-only election with its targets met: pass %v, %d targets %+v", partial.Pass, len(partial.Targets), partial.Targets)
	}
	local = 151
	slow := election
	slow.Partial = "election"
	slow.finish()
	if slow.Pass {
		t.Errorf("a 151 ms failover passed the 150 ms target: %+v", slow.Targets)
	}
}
