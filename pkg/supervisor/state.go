package supervisor

import "fmt"

// The per-pod worker is two small state machines, as the kubelet's pod workers are: one for the
// pod (SyncPod → TerminatingPod → TerminatedPod there) and one for each of its containers. Their
// states are named here, and every change of state goes through a table of which event may move
// which state where, so that an event that does not apply — the exit of an instance already
// replaced, a probe's verdict after the stop began, a restart timer after a stop — is recognised
// as stale by the table instead of by a combination of flags. The decisions (which container goes
// next, what the restart policy says) stay in the worker; the tables say only what is possible.

// ctrState is where one container of the pod is in its lifecycle.
type ctrState uint8

const (
	ctrNew       ctrState = iota // not launched yet: it is launched when its turn comes
	ctrAdopting                  // found running by a restarted podd; adopted when the worker starts
	ctrLaunching                 // pull, create, start and postStart run off the worker's goroutine
	ctrRunning                   // its process runs (started: past postStart and the startup probe)
	ctrStopping                  // the stop contract runs against its process
	ctrExited                    // it ended (or failed to launch); the restart policy is not applied yet
	ctrBackOff                   // a restart, or a retry of a failed launch, is scheduled
	ctrDone                      // it ended for good: nothing is scheduled
)

var ctrStateNames = [...]string{"New", "Adopting", "Launching", "Running", "Stopping", "Exited", "BackOff", "Done"}

func (s ctrState) String() string {
	if int(s) < len(ctrStateNames) {
		return ctrStateNames[s]
	}
	return fmt.Sprintf("ctrState(%d)", s)
}

// ctrEvent is what happens to a container.
type ctrEvent uint8

const (
	ceLaunch       ctrEvent = iota // its turn came, or its restart is due
	ceAdopted                      // a restarted podd watches its running process again
	ceAdoptFailed                  // a restarted podd cannot watch it: it counts as exited
	ceStarted                      // the launch succeeded: its process runs
	ceLaunchFailed                 // pull, create or start failed
	ceKill                         // the stop contract begins (a stop, a failed probe or hook), or begins again with a shorter deadline
	ceExit                         // its process exited
	ceRestart                      // the restart policy (or a failed launch) asks for another try after a delay
	ceFinal                        // the restart policy says never again
	ceHold                         // a stop cancels its scheduled restart; the policy decides again after the stop
)

var ctrEventNames = [...]string{"Launch", "Adopted", "AdoptFailed", "Started", "LaunchFailed", "Kill", "Exit", "Restart", "Final", "Hold"}

func (e ctrEvent) String() string {
	if int(e) < len(ctrEventNames) {
		return ctrEventNames[e]
	}
	return fmt.Sprintf("ctrEvent(%d)", e)
}

// ctrTransitions says, for each state, where each event that applies to it leads. An event absent
// from a state's row does not apply to it: next reports it as stale.
var ctrTransitions = map[ctrState]map[ctrEvent]ctrState{
	ctrNew:       {ceLaunch: ctrLaunching},
	ctrAdopting:  {ceAdopted: ctrRunning, ceAdoptFailed: ctrExited},
	ctrLaunching: {ceStarted: ctrRunning, ceLaunchFailed: ctrExited},
	ctrRunning:   {ceKill: ctrStopping, ceExit: ctrExited},
	ctrStopping:  {ceKill: ctrStopping, ceExit: ctrExited},
	ctrExited:    {ceRestart: ctrBackOff, ceFinal: ctrDone},
	ctrBackOff:   {ceLaunch: ctrLaunching, ceHold: ctrExited},
	ctrDone:      {},
}

// next is the state that ev leads to from s, or false when ev does not apply to s.
func (s ctrState) next(ev ctrEvent) (ctrState, bool) {
	n, ok := ctrTransitions[s][ev]
	return n, ok
}

// running: the container has a process (it may be being stopped).
func (s ctrState) running() bool { return s == ctrRunning || s == ctrStopping }

// busy: the container has a process or is getting one: a stop must wait for it.
func (s ctrState) busy() bool { return s.running() || s == ctrLaunching }

// podState is where the pod is in its lifecycle.
type podState uint8

const (
	podSyncing   podState = iota // its containers are brought towards the spec, restarted as their policy says
	podStopping                  // the stop contract runs; the worker's goal says what follows
	podCompleted                 // its main containers finished for good (Succeeded or Failed); nothing runs
	podStopped                   // stopped by podctl stop (recorded) or for a shutdown (not recorded); nothing starts
	podRemoving                  // stopped; its containers, sandbox, logs and record are being removed
	podRemoved                   // gone: the worker ends
)

var podStateNames = [...]string{"Syncing", "Stopping", "Completed", "Stopped", "Removing", "Removed"}

func (s podState) String() string {
	if int(s) < len(podStateNames) {
		return podStateNames[s]
	}
	return fmt.Sprintf("podState(%d)", s)
}

// podEvent is what happens to a pod.
type podEvent uint8

const (
	peComplete    podEvent = iota // its main containers finished for good
	peStop                        // podctl stop, or a recorded stop found at start
	peHalt                        // podd or the host shuts down with the pods stopped (not recorded)
	peRemove                      // podctl rm, a controller's removal, or a recorded removal found at start
	peQuiet                       // nothing of it runs or launches any more
	peResume                      // the host's shutdown was cancelled
	peCleaned                     // everything of it is removed
	peCleanFailed                 // a removal step failed; it is tried again after a delay
)

var podEventNames = [...]string{"Complete", "Stop", "Halt", "Remove", "Quiet", "Resume", "Cleaned", "CleanFailed"}

func (e podEvent) String() string {
	if int(e) < len(podEventNames) {
		return podEventNames[e]
	}
	return fmt.Sprintf("podEvent(%d)", e)
}

// podTransitions is the pod's table, as ctrTransitions is the containers'. A stop's goal (what
// peQuiet leads to) is the worker's: Completed, Stopped or Removing.
var podTransitions = map[podState]map[podEvent]podState{
	podSyncing:   {peComplete: podStopping, peStop: podStopping, peHalt: podStopping, peRemove: podStopping},
	podStopping:  {peStop: podStopping, peHalt: podStopping, peRemove: podStopping, peQuiet: podStopped /* or the goal */},
	podCompleted: {peStop: podStopping, peRemove: podStopping},
	podStopped:   {peStop: podStopping, peHalt: podStopped, peRemove: podStopping, peResume: podSyncing},
	podRemoving:  {peRemove: podRemoving, peCleaned: podRemoved, peCleanFailed: podRemoving},
	podRemoved:   {},
}

// next is the state that ev leads to from s, or false when ev does not apply to s; goal is where
// a stop leads once nothing runs any more.
func (s podState) next(ev podEvent, goal podState) (podState, bool) {
	n, ok := podTransitions[s][ev]
	if ok && s == podStopping && ev == peQuiet {
		n = goal
	}
	return n, ok
}

// stopGoal ranks what a stop leads to: a removal outranks a stop, which outranks a completion.
func stopGoal(current, asked podState) podState {
	rank := map[podState]int{podCompleted: 1, podStopped: 2, podRemoving: 3}
	if rank[asked] > rank[current] {
		return asked
	}
	return current
}
