package pod

import (
	"math"
	"time"
)

// Container state reasons, as the kubelet reports them.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonCompleted                  = "Completed"
	ReasonError                      = "Error"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonErrImageNeverPull          = "ErrImageNeverPull"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonRunContainerError          = "RunContainerError"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonPostStartHookError         = "PostStartHookError"
	ReasonOOMKilled                  = "OOMKilled"
	// ReasonStopped is the pod's status.reason once `podctl stop` stopped it.
	ReasonStopped = "Stopped"
)

// shouldRestart applies the pod's restartPolicy to a container that exited with code.
func ShouldRestart(policy RestartPolicy, code int32) bool {
	switch policy {
	case RestartAlways:
		return true
	case RestartOnFailure:
		return code != 0
	}
	return false
}

// Phase computes the pod's phase from its main containers' states, as the kubelet's getPhase
// does: Pending until initialized (Failed if a regular init container failed under Never); sidecars
// never count. A stopped pod is judged as if its restartPolicy were Never: nothing will restart.
func Phase(policy RestartPolicy, stopped, initialized, initFailed bool, statuses []ContainerStatus) PodPhase {
	if initFailed {
		return PodFailed
	}
	if !initialized {
		if stopped {
			return PodFailed
		}
		return PodPending
	}
	if stopped {
		policy = RestartNever
	}
	var waiting, running, stopped_, succeeded, unknown int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped_++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			// A container waiting to be restarted has run before: it does not hold the pod in Pending.
			if s.LastState.Terminated != nil {
				stopped_++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	switch {
	case waiting > 0:
		return PodPending
	case running > 0 && unknown == 0:
		return PodRunning
	case running == 0 && stopped_ > 0 && unknown == 0:
		if policy == RestartAlways {
			return PodRunning
		}
		if stopped_ == succeeded {
			return PodSucceeded
		}
		if policy == RestartNever {
			return PodFailed
		}
		return PodRunning
	}
	return PodPending
}

// Conditions computes the pod's conditions from its main containers' readiness.
func Conditions(phase PodPhase, initialized bool, statuses []ContainerStatus, prev []PodCondition, now time.Time) []PodCondition {
	allReady := len(statuses) > 0
	for _, s := range statuses {
		if !s.Ready {
			allReady = false
		}
	}
	status := func(b bool) string {
		if b {
			return "True"
		}
		return "False"
	}
	want := []PodCondition{
		{Type: "PodScheduled", Status: "True"},
		{Type: "Initialized", Status: status(initialized)},
		{Type: "ContainersReady", Status: status(allReady)},
		{Type: "Ready", Status: status(allReady && phase == PodRunning)},
	}
	for i := range want {
		t := now
		want[i].LastTransitionTime = &t
		for _, p := range prev {
			if p.Type == want[i].Type && p.Status == want[i].Status {
				want[i].LastTransitionTime = p.LastTransitionTime
			}
		}
		if want[i].Status == "False" && (want[i].Type == "ContainersReady" || want[i].Type == "Ready") {
			want[i].Reason = "ContainersNotReady"
		}
		if want[i].Status == "False" && want[i].Type == "Initialized" {
			want[i].Reason = "ContainersNotInitialized"
		}
	}
	return want
}

// terminatedReason is Completed for exit code 0 and Error otherwise, as the kubelet says.
func TerminatedReason(code int32) string {
	if code == 0 {
		return ReasonCompleted
	}
	return ReasonError
}

// maxGraceSeconds is the longest grace period a time.Duration holds (about 292 years): a longer
// one waits that long, instead of overflowing into a negative duration, an immediate SIGKILL.
const maxGraceSeconds = math.MaxInt64 / int64(time.Second)

// GracePeriod is a grace period in seconds as a duration: negative is 0, and one too long for a
// time.Duration is the longest one.
func GracePeriod(seconds int64) time.Duration {
	switch {
	case seconds <= 0:
		return 0
	case seconds > maxGraceSeconds:
		return math.MaxInt64
	}
	return time.Duration(seconds) * time.Second
}
