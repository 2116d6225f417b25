package privcontainerd

import (
	"slices"
	"strings"
	"testing"
)

func TestMountsUnder(t *testing.T) {
	mounts, err := MountsUnder("/proc/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(mounts, "/proc") {
		t.Errorf("/proc is not among the mounts under /proc: %v", mounts)
	}
	for i, m := range mounts {
		if m != "/proc" && !strings.HasPrefix(m, "/proc/") {
			t.Errorf("%s is not under /proc", m)
		}
		if i > 0 && len(m) > len(mounts[i-1]) {
			t.Errorf("%s comes after the shorter %s: want the deepest first", m, mounts[i-1])
		}
	}
	if none, err := MountsUnder("/proc-not"); err != nil || len(none) != 0 {
		t.Errorf("mounts under /proc-not: %v, %v (a sibling's prefix must not match)", none, err)
	}
}
