package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// largePod is a pod of n containers that each wait for SIGTERM.
func largePod(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  terminationGracePeriodSeconds: 10\n  containers:\n", name)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: c%d, image: %q, command: [sh, -c, %q]}\n", i, busyboxImage, untilTerm)
	}
	return b.String()
}

// TestLargePod runs a pod of many containers (PODD_LARGE_POD, 50 by default) to Running and
// removes it, and logs how long each took: the figures of a pod's cost in its number of
// containers, which the supervisor's unit test TestPodCostLinearInContainers holds linear. A pod
// over the limit (1000 containers) is refused naming the field, and nothing of it is created.
func TestLargePod(t *testing.T) {
	p := startPodd(t)
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLog(t, 0)
		}
	})
	n := 50
	if v := os.Getenv("PODD_LARGE_POD"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			t.Fatalf("PODD_LARGE_POD=%q: want a number of containers from 1 to 1000", v)
		}
	}

	t.Run("over the limit", func(t *testing.T) {
		res := p.Podctl(t, "run", writeManifest(t, largePod("too-large", 1001)))
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "spec.containers: Too many: 1001: must have at most 1000 items") {
			t.Fatalf("podctl run of 1001 containers: want a refusal naming spec.containers and the limit, got %s", res)
		}
		if res := p.Podctl(t, "get", "too-large"); res.ExitCode == 0 {
			t.Fatalf("the refused pod exists: %s", res)
		}
		if ctrs := p.Containers(t); len(ctrs) != 0 {
			t.Fatalf("the refused pod left %d containers", len(ctrs))
		}
	})

	start := time.Now()
	res := p.Podctl(t, "run", writeManifest(t, largePod("large", n)))
	if res.ExitCode != 0 {
		t.Fatalf("podctl run of %d containers: %s", n, res)
	}
	started := time.Since(start)
	got := getPod(t, p, "large")
	running := 0
	for _, s := range got.Status.ContainerStatuses {
		if s.State.Running != nil {
			running++
		}
	}
	if running != n || len(p.Tasks(t)) != n {
		t.Fatalf("%d of %d containers running, %d tasks", running, n, len(p.Tasks(t)))
	}
	t.Logf("pod of %d containers: podctl run %v", n, started.Round(time.Millisecond))
	start = time.Now()
	mustPodctl(t, p, "rm", "--force", "large")
	removed := time.Since(start)
	if ctrs, tasks := p.Containers(t), p.Tasks(t); len(ctrs) != 0 || len(tasks) != 0 {
		t.Fatalf("after rm: %d containers and %d tasks left", len(ctrs), len(tasks))
	}
	t.Logf("pod of %d containers: podctl run %v, podctl rm --force %v", n, started.Round(time.Millisecond), removed.Round(time.Millisecond))
}
