package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
// address and no pod name (pkg/sandbox's netState; cni/pods/<uid>.json under --state).
func (p *Podd) warmUIDs(t testing.TB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	dir := filepath.Join(p.State, "cni", "pods")
	for _, name := range listDir(t, dir) {
		uid, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue // removed meanwhile
		}
		var st struct {
			Name string   `json:"name"`
			IPs  []string `json:"ips"`
		}
		if json.Unmarshal(data, &st) == nil && st.Name == "" && len(st.IPs) > 0 {
			out[uid] = true
		}
	}
	return out
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
