package supervisor

import (
	"strings"
	"testing"
)

// The containers' table, state × event: the state an event leads to, "-" where it does not apply
// (the worker then drops the event as stale). Columns are the events in ctrEvent's order.
var ctrTable = []struct {
	from ctrState
	row  string
}{
	//              Launch     Adopted  AdoptFailed Started  LaunchFailed Kill      Exit    Restart  Final Hold
	{ctrNew, "      Launching  -        -           -        -            -         -       -        -     -"},
	{ctrAdopting, " -          Running  Exited      -        -            -         -       -        -     -"},
	{ctrLaunching, "-          -        -           Running  Exited       -         -       -        -     -"},
	{ctrRunning, "  -          -        -           -        -            Stopping  Exited  -        -     -"},
	{ctrStopping, " -          -        -           -        -            Stopping  Exited  -        -     -"},
	{ctrExited, "   -          -        -           -        -            -         -       BackOff  Done  -"},
	{ctrBackOff, "  Launching  -        -           -        -            -         -       -        -     Exited"},
	{ctrDone, "     -          -        -           -        -            -         -       -        -     -"},
}

func TestContainerTransitions(t *testing.T) {
	if len(ctrTable) != len(ctrStateNames) {
		t.Fatalf("the table has %d states, the machine %d", len(ctrTable), len(ctrStateNames))
	}
	for _, r := range ctrTable {
		cells := strings.Fields(r.row)
		if len(cells) != len(ctrEventNames) {
			t.Fatalf("%s: %d cells, want one per event (%d)", r.from, len(cells), len(ctrEventNames))
		}
		for i, want := range cells {
			ev := ctrEvent(i)
			got, ok := r.from.next(ev)
			gotName := "-"
			if ok {
				gotName = got.String()
			}
			if gotName != want {
				t.Errorf("%s × %s = %s, want %s", r.from, ev, gotName, want)
			}
		}
	}
}

// The pod's table, state × event, with a removal as the stop's goal (a stop's quiet end leads to
// its goal: checked below).
var podTable = []struct {
	from podState
	row  string
}{
	//                Complete  Stop      Halt      Remove    Quiet     Resume   Cleaned  CleanFailed
	{podSyncing, "    Stopping  Stopping  Stopping  Stopping  -         -        -        -"},
	{podStopping, "   -         Stopping  Stopping  Stopping  Removing  -        -        -"},
	{podCompleted, "  -         Stopping  -         Stopping  -         -        -        -"},
	{podStopped, "    -         Stopping  Stopped   Stopping  -         Syncing  -        -"},
	{podRemoving, "   -         -         -         Removing  -         -        Removed  Removing"},
	{podRemoved, "    -         -         -         -         -         -        -        -"},
}

func TestPodTransitions(t *testing.T) {
	if len(podTable) != len(podStateNames) {
		t.Fatalf("the table has %d states, the machine %d", len(podTable), len(podStateNames))
	}
	for _, r := range podTable {
		cells := strings.Fields(r.row)
		if len(cells) != len(podEventNames) {
			t.Fatalf("%s: %d cells, want one per event (%d)", r.from, len(cells), len(podEventNames))
		}
		for i, want := range cells {
			ev := podEvent(i)
			got, ok := r.from.next(ev, podRemoving)
			gotName := "-"
			if ok {
				gotName = got.String()
			}
			if gotName != want {
				t.Errorf("%s × %s = %s, want %s", r.from, ev, gotName, want)
			}
		}
	}
}

// A stop ends at its goal, and the strongest goal asked for wins.
func TestStopGoal(t *testing.T) {
	for _, tt := range []struct{ current, asked, want podState }{
		{podSyncing, podCompleted, podCompleted},
		{podCompleted, podStopped, podStopped},
		{podStopped, podCompleted, podStopped},
		{podStopped, podRemoving, podRemoving},
		{podRemoving, podStopped, podRemoving},
		{podRemoving, podCompleted, podRemoving},
	} {
		goal := stopGoal(tt.current, tt.asked)
		if goal != tt.want {
			t.Errorf("stopGoal(%s, %s) = %s, want %s", tt.current, tt.asked, goal, tt.want)
		}
		if got, _ := podStopping.next(peQuiet, goal); got != goal {
			t.Errorf("a quiet stop with goal %s leads to %s", goal, got)
		}
	}
}
