package patterns

import (
	"reflect"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestWrapWorkers(t *testing.T) {
	runner := []string{"/podd-wq/podd-patterns", "wq-run", "--"}
	work := pod.VolumeMount{Name: "work", MountPath: "/podd-wq"}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		in       []pod.Container
		want     []pod.Container
		err      string
	}{
		{
			name:     "command and args behind the runner, the work folder mounted",
			settings: map[string]string{keyVolumes: "spool:/spool,work:/podd-wq"},
			in:       []pod.Container{{Name: "w", Command: []string{"sh", "-c"}, Args: []string{"tr a-z A-Z"}}},
			want:     []pod.Container{{Name: "w", Command: append(runner, "sh", "-c", "tr a-z A-Z"), VolumeMounts: []pod.VolumeMount{work}}},
		},
		{
			name:     "already under the runner: left alone (idempotent)",
			settings: map[string]string{keyVolumes: "work:/podd-wq"},
			in:       []pod.Container{{Name: "w", Command: append(runner, "true")}},
			want:     []pod.Container{{Name: "w", Command: append(runner, "true")}},
		},
		{
			name:     "a mount at the work folder is kept",
			settings: map[string]string{keyVolumes: "work:/podd-wq"},
			in:       []pod.Container{{Name: "w", Command: []string{"true"}, VolumeMounts: []pod.VolumeMount{{Name: "work", MountPath: "/podd-wq", ReadOnly: false}}}},
			want:     []pod.Container{{Name: "w", Command: append(runner, "true"), VolumeMounts: []pod.VolumeMount{work}}},
		},
		{
			name:     "another work-dir",
			settings: map[string]string{"work-dir": "/wq", keyVolumes: "scratch:/wq"},
			in:       []pod.Container{{Name: "w", Command: []string{"true"}}},
			want:     []pod.Container{{Name: "w", Command: []string{"/wq/podd-patterns", "wq-run", "--", "true"}, VolumeMounts: []pod.VolumeMount{{Name: "scratch", MountPath: "/wq"}}}},
		},
		{
			name:     "only the named workers",
			settings: map[string]string{keyVolumes: "work:/podd-wq", keyWorkers: "w"},
			in:       []pod.Container{{Name: "w", Command: []string{"true"}}, {Name: "side"}},
			want:     []pod.Container{{Name: "w", Command: append(runner, "true"), VolumeMounts: []pod.VolumeMount{work}}, {Name: "side"}},
		},
		{
			name:     "no command: refused, naming the field",
			settings: map[string]string{keyVolumes: "work:/podd-wq"},
			in:       []pod.Container{{Name: "w", Args: []string{"x"}}},
			err:      "spec.containers[0].command: the work queue runs the worker's command under its runner",
		},
		{
			name:     "no volume at the work folder",
			settings: map[string]string{keyVolumes: "spool:/spool"},
			in:       []pod.Container{{Name: "w", Command: []string{"true"}}},
			err:      "spec.containers[0]: the worker needs the work folder /podd-wq",
		},
		{
			name:     "a worker that is not a container",
			settings: map[string]string{keyVolumes: "work:/podd-wq", keyWorkers: "nope"},
			in:       []pod.Container{{Name: "w", Command: []string{"true"}}},
			err:      `spec.containers: the work queue's worker "nope" is not a container of the pod`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &pod.PodSpec{Containers: tc.in}
			err := wrapWorkers(tc.settings, spec, "spec")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec.Containers, tc.want) {
				t.Errorf("containers\n got %+v\nwant %+v", spec.Containers, tc.want)
			}
		})
	}
}
