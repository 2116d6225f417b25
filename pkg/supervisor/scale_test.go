package supervisor

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

func manyContainers(name string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  terminationGracePeriodSeconds: 30\n  containers:\n", name)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: c%d, image: \"busybox:1\", env: [{name: A, value: \"%d\"}, {name: B, value: b}]}\n", i, i)
	}
	return []byte(b.String())
}

func BenchmarkPodScale(b *testing.B) {
	for _, n := range []int{100, 200, 400, 800} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rt, st := newFakeRuntime(), newMemStore()
				m := startManager(b, rt, st)
				ctx := context.Background()
				if _, err := create(ctx, m, manyContainers("big", n)); err != nil {
					b.Fatal(err)
				}
				waitFor(b, m, "big", "all running", func(p *pod.Pod) bool { return p != nil && p.Status.Phase == pod.PodRunning && runningCount(p) == n })
				if err := m.Remove(ctx, "default", "big", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func runningCount(p *pod.Pod) int {
	k := 0
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil {
			k++
		}
	}
	return k
}

// allocsFor is the memory the supervisor allocates to start a pod of n containers, wait for all
// of them to start as podctl run does, and remove the pod.
func allocsFor(t *testing.T, n int) uint64 {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	data := manyContainers(fmt.Sprintf("big%d", n), n)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := create(ctx, m, data); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(ctx, "default", fmt.Sprintf("big%d", n)); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(ctx, "default", fmt.Sprintf("big%d", n), nil); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestPodCostLinearInContainers holds a pod's start, the wait for it and its removal to a cost
// linear in its number of containers, measured in bytes allocated (which a busy machine does not
// change, unlike time): 4 times the containers may cost at most 6 times as much. Before the fix a
// status copy per launch and per event made it 12.8 times (58 MB and 740 MB).
func TestPodCostLinearInContainers(t *testing.T) {
	const small, large = 100, 400
	var a, b uint64
	for i := 0; i < 3; i++ { // the least of three: another goroutine's garbage only adds
		if v := allocsFor(t, small); a == 0 || v < a {
			a = v
		}
		if v := allocsFor(t, large); b == 0 || v < b {
			b = v
		}
	}
	ratio := float64(b) / float64(a)
	t.Logf("allocated: %d containers %d KiB, %d containers %d KiB, ratio %.1f", small, a>>10, large, b>>10, ratio)
	if ratio > 6 {
		t.Fatalf("a pod of %d containers costs %.1f times one of %d (%d KiB against %d KiB): not linear", large, ratio, small, b>>10, a>>10)
	}
}
