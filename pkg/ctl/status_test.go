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
