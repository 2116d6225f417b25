package integration

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/sandbox"
)

// defaultWarmSandboxes is the pool size of a podd whose test sets none: PODD_TEST_WARM_SANDBOXES,
// or 0.
func defaultWarmSandboxes() int {
	n, err := strconv.Atoi(os.Getenv("PODD_TEST_WARM_SANDBOXES"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// warmSize is the podd's pool size, from its flags.
func (p *Podd) warmSize() int {
	if i := slices.Index(p.Flags, "--warm-sandboxes"); i >= 0 && i+1 < len(p.Flags) {
		n, _ := strconv.Atoi(p.Flags[i+1])
		return n
	}
	return defaultWarmSandboxes()
}

// warmUIDs are the podd's warm sandboxes that no pod took, ready: their network state has an
// address and no pod name.
func (p *Podd) warmUIDs(t testing.TB) map[string]bool {
	t.Helper()
	return sandbox.ReadyWarmSandboxes(p.State)
}

// waitWarm waits until the podd's pool holds n warm sandboxes with an address, and returns them.
func (p *Podd) waitWarm(t testing.TB, n int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for {
		w := p.warmUIDs(t)
		if len(w) == n {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool holds %d warm sandboxes, want %d: %v", len(w), n, w)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
