package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	// A hard link is counted once, a symlink's target not at all.
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr", filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	used, err := diskUsage(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if used < 256<<10 || used > 512<<10 {
		t.Errorf("diskUsage = %d, want about 256 KiB (the file once, plus the folder)", used)
	}
	// The walk stops once past the limit.
	if used, _ := diskUsage(dir, 1); used <= 1 {
		t.Errorf("diskUsage with a 1-byte limit = %d, want past the limit", used)
	}
}

func TestLimitedVolumes(t *testing.T) {
	q := func(s string) *pod.Quantity {
		v, err := pod.ParseQuantity(s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	p := &pod.Pod{Spec: pod.PodSpec{Volumes: []pod.Volume{
		{Name: "disk", EmptyDir: &pod.EmptyDirVolumeSource{SizeLimit: q("1Mi")}},
		{Name: "unlimited", EmptyDir: &pod.EmptyDirVolumeSource{}},
		{Name: "memory", EmptyDir: &pod.EmptyDirVolumeSource{Medium: pod.StorageMediumMemory, SizeLimit: q("1Mi")}},
	}}}
	got := limitedVolumes(p)
	if len(got) != 1 || got[0].Name != "disk" {
		t.Errorf("limitedVolumes = %+v, want only disk", got)
	}
}
