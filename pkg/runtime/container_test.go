package runtime

import (
	"testing"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/podd-dev/podd/pkg/supervisor"
)

func TestIsContainerID(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{ContainerID("uid", "app", 0), true},
		{ContainerID("uid", "app/1", 3), true},
		{"extract-123-abc sha256:0123", false},
		{"sha256:" + ContainerID("uid", "app", 0)[:57], false},
		{"ABCDEF" + ContainerID("uid", "app", 0)[6:], false},
		{"", false},
	} {
		if got := isContainerID(tc.s); got != tc.want {
			t.Errorf("isContainerID(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestContainerRecord(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	info := &containersapi.Container{ID: "c1", Image: "docker.io/library/busybox:1", Labels: map[string]string{
		LabelPodUID: "uid", LabelContainer: "app", LabelAttempt: "3", labelGeneration: "1",
		labelStopSignal: "SIGQUIT", labelImageID: "sha256:abc",
	}}
	base := supervisor.ContainerRecord{ID: "c1", PodUID: "uid", Name: "app", Attempt: 3, Generation: 1,
		StopSignal: "SIGQUIT", ImageRef: "docker.io/library/busybox:1", ImageID: "sha256:abc"}
	with := func(st supervisor.ContainerRecordState, exit supervisor.ExitStatus) supervisor.ContainerRecord {
		r := base
		r.State, r.Exit = st, exit
		return r
	}
	for _, tc := range []struct {
		name string
		task *tasktypes.Process
		want supervisor.ContainerRecord
	}{
		{"no task", nil, with(supervisor.RecordCreated, supervisor.ExitStatus{})},
		{"created task", &tasktypes.Process{ID: "c1", Status: tasktypes.Status_CREATED}, with(supervisor.RecordCreated, supervisor.ExitStatus{})},
		{"running", &tasktypes.Process{ID: "c1", Pid: 10, Status: tasktypes.Status_RUNNING}, with(supervisor.RecordRunning, supervisor.ExitStatus{})},
		{"paused", &tasktypes.Process{ID: "c1", Pid: 10, Status: tasktypes.Status_PAUSED}, with(supervisor.RecordRunning, supervisor.ExitStatus{})},
		{"stopped", &tasktypes.Process{ID: "c1", Pid: 10, Status: tasktypes.Status_STOPPED, ExitStatus: 137, ExitedAt: timestamppb.New(at)},
			with(supervisor.RecordStopped, supervisor.ExitStatus{Code: 137, ExitedAt: at})},
		// A state podd does not know (a newer containerd's, or one containerd could not read) is
		// neither a running nor an ended task, as in containerd's task listing before.
		{"unknown", &tasktypes.Process{ID: "c1", Status: tasktypes.Status_UNKNOWN}, with(supervisor.RecordCreated, supervisor.ExitStatus{})},
	} {
		got := containerRecord(info, tc.task)
		if !got.Exit.ExitedAt.Equal(tc.want.Exit.ExitedAt) {
			t.Errorf("%s: exited at %v, want %v", tc.name, got.Exit.ExitedAt, tc.want.Exit.ExitedAt)
		}
		got.Exit.ExitedAt, tc.want.Exit.ExitedAt = time.Time{}, time.Time{}
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
