package ctl

import (
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestProgressBar(t *testing.T) {
	for _, c := range []struct {
		finished, total, width int
		want                   string
	}{
		{0, 10, 10, "[..........]"},
		{5, 10, 10, "[#####.....]"},
		{10, 10, 10, "[##########]"},
		{1, 3, 4, "[#...]"},
		{0, 0, 3, "[   ]"},
	} {
		if got := ProgressBar(c.finished, c.total, c.width); got != c.want {
			t.Errorf("ProgressBar(%d, %d, %d) = %q, want %q", c.finished, c.total, c.width, got, c.want)
		}
	}
	q := Queue{Counts: spool.Counts{New: 3, Retry: 1, Leased: 2, Done: 3, Dead: 1}, DonePerMinute: 12, ETA: "30s"}
	if got, want := progressLine(q), "[############..................]  40% 4/10  leased 2  failed 1  dead 1  12/min  ETA 30s"; got != want {
		t.Errorf("progressLine:\n got %q\nwant %q", got, want)
	}
}

// TestWatchRendering: the live view's lines (a queue a line, names padded) and its frames: on a
// terminal each update moves up over the previous one and clears it; elsewhere plain lines.
func TestWatchRendering(t *testing.T) {
	qs := []Queue{
		{Name: "a", Counts: spool.Counts{Done: 10}, DonePerMinute: 60, ETA: "0s"},
		{Name: "long-name", Counts: spool.Counts{New: 8, Leased: 1, Retry: 1}},
	}
	want := []string{
		"a          [##############################] 100% 10/10  leased 0  failed 0  dead 0  60/min  ETA 0s",
		"long-name  [..............................]   0% 0/10  leased 1  failed 1  dead 0  0/min  ETA <unknown>",
	}
	if got := progressLines(qs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("progressLines:\n got %q\nwant %q", got, want)
	}
	if allFinished(qs) || !allFinished(qs[:1]) || allFinished([]Queue{{Name: "not started"}}) {
		t.Errorf("allFinished: %v for both, %v for the first, %v for a queue of no item", allFinished(qs), allFinished(qs[:1]), allFinished([]Queue{{Name: "not started"}}))
	}
	for _, c := range []struct {
		name  string
		prev  int
		lines []string
		tty   bool
		want  string
	}{
		{"first frame, terminal", 0, []string{"x", "y"}, true, "x\ny\n"},
		{"next frame, terminal: up 2 lines, clear, draw", 2, []string{"x2", "y2"}, true, "\033[2F\033[Jx2\ny2\n"},
		{"a queue more: up over the 1 line drawn", 1, []string{"x", "y"}, true, "\033[1F\033[Jx\ny\n"},
		{"not a terminal: plain lines, nothing redrawn", 2, []string{"x2", "y2"}, false, "x2\ny2\n"},
		{"nothing", 0, nil, false, ""},
	} {
		if got := renderFrame(c.prev, c.lines, c.tty); got != c.want {
			t.Errorf("%s: renderFrame = %q, want %q", c.name, got, c.want)
		}
	}
	d := describeLines(Queue{Name: "q", Namespace: "default", Kind: "Job", Spool: "/s", Counts: spool.Counts{New: 2, Done: 1}, DonePerMinute: 1, ETA: "2m0s"})
	if len(d) != 12 || d[0] != "Name:      q" || d[7] != "Done:      1" || d[11] != "ETA:       2m0s" {
		t.Errorf("describeLines: %q", d)
	}
}

func TestETA(t *testing.T) {
	for _, c := range []struct {
		pending, perMinute int
		want               string
	}{{0, 0, "0s"}, {10, 0, ""}, {30, 60, "30s"}, {90, 60, "1m30s"}} {
		if got := ETA(c.pending, c.perMinute); got != c.want {
			t.Errorf("ETA(%d, %d) = %q, want %q", c.pending, c.perMinute, got, c.want)
		}
	}
}

func TestSpoolPath(t *testing.T) {
	helper := func(args []string, mounts ...pod.VolumeMount) []pod.Container {
		return []pod.Container{{Name: "podd-workqueue", Args: args, VolumeMounts: mounts}}
	}
	claims := func(name string) (string, error) { return "uid-" + name, nil }
	vols := []pod.Volume{
		{Name: "spool", PersistentVolumeClaim: &pod.PersistentVolumeClaimVolumeSource{ClaimName: "q"}},
		{Name: "host", HostPath: &pod.HostPathVolumeSource{Path: "/srv/queues"}},
		{Name: "work", EmptyDir: &pod.EmptyDirVolumeSource{}},
	}
	for _, c := range []struct {
		name string
		spec pod.PodSpec
		want string
		ok   bool
	}{
		{"claim", pod.PodSpec{Volumes: vols, InitContainers: helper([]string{"workqueue", "--spool=/spool"}, pod.VolumeMount{Name: "spool", MountPath: "/spool"})}, "/root/volumes/pvc-uid-q", true},
		{"below the mount, with a subPath", pod.PodSpec{Volumes: vols, InitContainers: helper([]string{"workqueue", "--spool", "/data/a"}, pod.VolumeMount{Name: "spool", MountPath: "/data", SubPath: "s"})}, "/root/volumes/pvc-uid-q/s/a", true},
		{"hostPath", pod.PodSpec{Volumes: vols, InitContainers: helper([]string{"workqueue", "--spool=/q/x"}, pod.VolumeMount{Name: "host", MountPath: "/q"})}, "/srv/queues/x", true},
		{"emptyDir: not readable from the host", pod.PodSpec{Volumes: vols, InitContainers: helper([]string{"workqueue", "--spool=/w"}, pod.VolumeMount{Name: "work", MountPath: "/w"})}, "", false},
		{"on no volume", pod.PodSpec{Volumes: vols, InitContainers: helper([]string{"workqueue", "--spool=/nowhere"})}, "", false},
		{"no helper", pod.PodSpec{Volumes: vols}, "", false},
		{"/spoolx is not under /spool", pod.PodSpec{Volumes: vols, InitContainers: helper([]string{"workqueue", "--spool=/spoolx"}, pod.VolumeMount{Name: "spool", MountPath: "/spool"})}, "", false},
	} {
		got, err := SpoolPath(&c.spec, claims, "/root")
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: %q %v, want %q ok=%v", c.name, got, err, c.want, c.ok)
		}
	}
}
