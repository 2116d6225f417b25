package ctl

import (
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestPodStatus(t *testing.T) {
	waiting := func(reason string) pod.ContainerState {
		return pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: reason}}
	}
	running := pod.ContainerState{Running: &pod.ContainerStateRunning{}}
	terminated := func(code, signal int32, reason string) pod.ContainerState {
		return pod.ContainerState{Terminated: &pod.ContainerStateTerminated{ExitCode: code, Signal: signal, Reason: reason}}
	}
	tests := []struct {
		name   string
		status pod.PodStatus
		want   string
	}{
		{"no status yet", pod.PodStatus{}, "Pending"},
		{"pending", pod.PodStatus{Phase: pod.PodPending}, "Pending"},
		{"creating", pod.PodStatus{Phase: pod.PodPending, ContainerStatuses: []pod.ContainerStatus{{State: waiting("ContainerCreating")}}}, "ContainerCreating"},
		{"running", pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{{State: running}, {State: running}}}, "Running"},
		{"second container crashes", pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{{State: running}, {State: waiting("CrashLoopBackOff")}}}, "CrashLoopBackOff"},
		{"image pull", pod.PodStatus{Phase: pod.PodPending, ContainerStatuses: []pod.ContainerStatus{{State: waiting("ErrImagePull")}, {State: waiting("ContainerCreating")}}}, "ErrImagePull"},
		{"completed", pod.PodStatus{Phase: pod.PodSucceeded, ContainerStatuses: []pod.ContainerStatus{{State: terminated(0, 0, "Completed")}}}, "Completed"},
		{"error", pod.PodStatus{Phase: pod.PodFailed, ContainerStatuses: []pod.ContainerStatus{{State: terminated(1, 0, "Error")}}}, "Error"},
		{"oom", pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{{State: terminated(137, 0, "OOMKilled")}}}, "OOMKilled"},
		{"signal without reason", pod.PodStatus{Phase: pod.PodFailed, ContainerStatuses: []pod.ContainerStatus{{State: terminated(0, 9, "")}}}, "Signal:9"},
		{"exit code without reason", pod.PodStatus{Phase: pod.PodFailed, ContainerStatuses: []pod.ContainerStatus{{State: terminated(2, 0, "")}}}, "ExitCode:2"},
		{"finished sidecar beside a running app", pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{{State: terminated(0, 0, "Completed")}, {State: running}}}, "Running"},
		{"pod reason wins", pod.PodStatus{Phase: pod.PodFailed, Reason: "Evicted", ContainerStatuses: []pod.ContainerStatus{{State: terminated(1, 0, "Error")}}}, "Evicted"},
		{"waiting without reason", pod.PodStatus{Phase: pod.PodPending, ContainerStatuses: []pod.ContainerStatus{{State: waiting("")}}}, "Pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podStatus(&pod.Pod{Status: tt.status}); got != tt.want {
				t.Errorf("podStatus = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadyAndRestarts(t *testing.T) {
	p := &pod.Pod{
		Spec: pod.PodSpec{Containers: []pod.Container{{Name: "a"}, {Name: "b"}, {Name: "c"}}},
		Status: pod.PodStatus{ContainerStatuses: []pod.ContainerStatus{
			{Name: "a", Ready: true, RestartCount: 2}, {Name: "b", Ready: false, RestartCount: 3},
		}},
	}
	if got := readyString(p); got != "1/3" {
		t.Errorf("readyString = %q, want 1/3", got)
	}
	if got := restarts(p); got != 5 {
		t.Errorf("restarts = %d, want 5", got)
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{-500 * time.Millisecond, "0s"},
		{0, "0s"},
		{5 * time.Second, "5s"},
		{59 * time.Second, "59s"},
		{60 * time.Second, "1m"},
		{3*time.Minute + 20*time.Second, "3m"},
		{2*time.Hour + 59*time.Minute, "2h"},
		{4*24*time.Hour + 3*time.Hour, "4d"},
		{400 * 24 * time.Hour, "1y"},
	}
	for _, tt := range tests {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 4509715: "4.3 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestInitContainerColumns checks READY, STATUS and RESTARTS of pods with init containers and
// native sidecars against what kubectl 1.29+ prints for the same status.
func TestInitContainerColumns(t *testing.T) {
	always := pod.RestartAlways
	yes, no := true, false
	spec := pod.PodSpec{
		InitContainers: []pod.Container{
			{Name: "setup"},                         // a regular init container
			{Name: "proxy", RestartPolicy: &always}, // a native sidecar
			{Name: "migrate"},                       // another regular one, after the sidecar
		},
		Containers: []pod.Container{{Name: "app"}, {Name: "worker"}},
	}
	waiting := func(reason string) pod.ContainerState {
		return pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: reason}}
	}
	running := pod.ContainerState{Running: &pod.ContainerStateRunning{}}
	exited := func(code, signal int32, reason string) pod.ContainerState {
		return pod.ContainerState{Terminated: &pod.ContainerStateTerminated{ExitCode: code, Signal: signal, Reason: reason}}
	}
	done := pod.ContainerStatus{Name: "setup", State: exited(0, 0, "Completed"), Ready: true}
	sidecarUp := pod.ContainerStatus{Name: "proxy", State: running, Started: &yes, Ready: true}
	sidecarNotReady := pod.ContainerStatus{Name: "proxy", State: running, Started: &yes}
	migrated := pod.ContainerStatus{Name: "migrate", State: exited(0, 0, "Completed"), Ready: true}
	initialized := []pod.PodCondition{{Type: "Initialized", Status: "True"}}
	notInitialized := []pod.PodCondition{{Type: "Initialized", Status: "False"}}
	mainsWaiting := []pod.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}, {Name: "worker", State: waiting("PodInitializing")}}
	mainsUp := []pod.ContainerStatus{{Name: "app", State: running, Ready: true}, {Name: "worker", State: running, Ready: true}}

	tests := []struct {
		name     string
		status   pod.PodStatus
		status2  string // STATUS
		ready    string
		restarts int32
	}{
		{"no status yet", pod.PodStatus{}, "Pending", "0/3", 0},
		{"first init container waits to start", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: waiting("PodInitializing")}, {Name: "proxy", State: waiting("PodInitializing")}, {Name: "migrate", State: waiting("PodInitializing")}},
			ContainerStatuses:     mainsWaiting}, "Init:0/3", "0/3", 0},
		{"first init container runs", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: running}, {Name: "proxy", State: waiting("")}, {Name: "migrate", State: waiting("")}},
			ContainerStatuses:     mainsWaiting}, "Init:0/3", "0/3", 0},
		{"sidecar starting (not started yet)", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{done, {Name: "proxy", State: running, Started: &no}, {Name: "migrate", State: waiting("")}},
			ContainerStatuses:     mainsWaiting}, "Init:1/3", "0/3", 0},
		{"sidecar started, last init runs", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarUp, {Name: "migrate", State: running}},
			ContainerStatuses:     mainsWaiting}, "Init:2/3", "1/3", 0},
		{"started sidecar not ready yet", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarNotReady, {Name: "migrate", State: running}},
			ContainerStatuses:     mainsWaiting}, "Init:2/3", "0/3", 0},
		{"init container failed", pod.PodStatus{Phase: pod.PodFailed, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: exited(1, 0, "Error")}, {Name: "proxy", State: waiting("")}, {Name: "migrate", State: waiting("")}},
			ContainerStatuses:     mainsWaiting}, "Init:Error", "0/3", 0},
		{"init container crash loops", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: waiting("CrashLoopBackOff"), RestartCount: 4,
				LastState: exited(1, 0, "Error")}, {Name: "proxy", State: waiting("")}, {Name: "migrate", State: waiting("")}},
			ContainerStatuses: mainsWaiting}, "Init:CrashLoopBackOff", "0/3", 4},
		{"init container cannot pull its image", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: waiting("ErrImagePull")}},
			ContainerStatuses:     mainsWaiting}, "Init:ErrImagePull", "0/3", 0},
		{"init container killed by a signal", pod.PodStatus{Phase: pod.PodFailed, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: exited(137, 9, "")}}}, "Init:Signal:9", "0/3", 0},
		{"init container exit code without reason", pod.PodStatus{Phase: pod.PodFailed, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: exited(3, 0, "")}}}, "Init:ExitCode:3", "0/3", 0},
		{"sidecar failed before it started", pod.PodStatus{Phase: pod.PodPending, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{done, {Name: "proxy", State: waiting("CrashLoopBackOff"), Started: &no, RestartCount: 2}, {Name: "migrate", State: waiting("")}},
			ContainerStatuses:     mainsWaiting}, "Init:CrashLoopBackOff", "0/3", 2},
		{"second regular init container fails after the sidecar started", pod.PodStatus{Phase: pod.PodFailed, Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarUp, {Name: "migrate", State: exited(2, 0, "Error")}},
			ContainerStatuses:     mainsWaiting}, "Init:Error", "1/3", 0},
		{"initialized, main containers creating", pod.PodStatus{Phase: pod.PodPending, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarUp, migrated},
			ContainerStatuses:     []pod.ContainerStatus{{Name: "app", State: waiting("ContainerCreating")}, {Name: "worker", State: waiting("ContainerCreating")}}}, "ContainerCreating", "1/3", 0},
		{"all running", pod.PodStatus{Phase: pod.PodRunning, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarUp, migrated}, ContainerStatuses: mainsUp}, "Running", "3/3", 0},
		{"restarts of init, sidecar and main containers add up", pod.PodStatus{Phase: pod.PodRunning, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: exited(0, 0, "Completed"), RestartCount: 1}, {Name: "proxy", State: running, Started: &yes, Ready: true, RestartCount: 2}, migrated},
			ContainerStatuses:     []pod.ContainerStatus{{Name: "app", State: running, Ready: true, RestartCount: 3}, {Name: "worker", State: running, Ready: true}}}, "Running", "3/3", 6},
		{"main container crash loops", pod.PodStatus{Phase: pod.PodRunning, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarUp, migrated},
			ContainerStatuses:     []pod.ContainerStatus{{Name: "app", State: running, Ready: true}, {Name: "worker", State: waiting("CrashLoopBackOff"), RestartCount: 5}}}, "CrashLoopBackOff", "2/3", 5},
		{"sidecar crash loops after initialization", pod.PodStatus{Phase: pod.PodRunning, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, {Name: "proxy", State: waiting("CrashLoopBackOff"), Started: &no, RestartCount: 3}, migrated},
			ContainerStatuses:     mainsUp}, "Init:CrashLoopBackOff", "2/3", 3},
		{"sidecar restarted and running again", pod.PodStatus{Phase: pod.PodRunning, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, {Name: "proxy", State: running, Started: &yes, Ready: true, RestartCount: 1}, migrated},
			ContainerStatuses:     mainsUp}, "Running", "3/3", 1},
		{"main containers completed, sidecar stopped", pod.PodStatus{Phase: pod.PodSucceeded, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, {Name: "proxy", State: exited(0, 0, "Completed"), Started: &no}, migrated},
			ContainerStatuses:     []pod.ContainerStatus{{Name: "app", State: exited(0, 0, "Completed")}, {Name: "worker", State: exited(0, 0, "Completed")}}}, "Completed", "0/3", 0},
		{"main container failed", pod.PodStatus{Phase: pod.PodFailed, Conditions: initialized,
			InitContainerStatuses: []pod.ContainerStatus{done, sidecarUp, migrated},
			ContainerStatuses:     []pod.ContainerStatus{{Name: "app", State: exited(1, 0, "Error")}, {Name: "worker", State: running, Ready: true}}}, "Error", "2/3", 0},
		{"pod reason wins over init", pod.PodStatus{Phase: pod.PodPending, Reason: "Stopping", Conditions: notInitialized,
			InitContainerStatuses: []pod.ContainerStatus{{Name: "setup", State: running}}}, "Stopping", "0/3", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &pod.Pod{Spec: spec, Status: tt.status}
			if got := podStatus(p); got != tt.status2 {
				t.Errorf("STATUS = %q, want %q", got, tt.status2)
			}
			if got := readyString(p); got != tt.ready {
				t.Errorf("READY = %q, want %q", got, tt.ready)
			}
			if got := restarts(p); got != tt.restarts {
				t.Errorf("RESTARTS = %d, want %d", got, tt.restarts)
			}
		})
	}
}

// TestInitContainersWithoutSidecars: without sidecars, READY counts the main containers only.
func TestInitContainersWithoutSidecars(t *testing.T) {
	p := &pod.Pod{
		Spec: pod.PodSpec{InitContainers: []pod.Container{{Name: "a"}, {Name: "b"}}, Containers: []pod.Container{{Name: "app"}}},
		Status: pod.PodStatus{Phase: pod.PodPending, InitContainerStatuses: []pod.ContainerStatus{
			{Name: "a", State: pod.ContainerState{Terminated: &pod.ContainerStateTerminated{Reason: "Completed"}}},
			{Name: "b", State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}},
		}},
	}
	if got, want := podStatus(p)+" "+readyString(p), "Init:1/2 0/1"; got != want {
		t.Errorf("STATUS READY = %q, want %q", got, want)
	}
}
