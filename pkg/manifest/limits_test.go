package manifest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// Finding 2: a 16 MiB flat manifest (no alias in it) is refused for its size, by a limit it
// names, with allocations bounded by a small multiple of the input (before: over a gigabyte,
// and an error about aliases).
func TestDecodeFlatManifestBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations:\n")
	for i := 0; b.Len() < 16<<20; i++ {
		fmt.Fprintf(&b, "    k%d: v\n", i)
	}
	b.WriteString("spec:\n  containers: [{name: a, image: b}]\n")
	data := []byte(b.String())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(data)
	runtime.ReadMemStats(&after)
	if err == nil || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Decode: %v, want an invalid argument", err)
	}
	if msg := err.Error(); strings.Contains(msg, "alias") || !strings.Contains(msg, fmt.Sprint(maxTokens)) {
		t.Errorf("the error must name the limit hit, and no alias: %.300s", msg)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*uint64(len(data)) {
		t.Errorf("decoding %d MiB allocated %d MiB, more than twice the input", len(data)>>20, alloc>>20)
	}
}

func TestCheckTokens(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int // tokens counted
	}{
		{"", 1},
		{"a: b\n", 1 + 1 + 3 + 1},
		{"[[[", 1 + 9},
		{"- - x", 1 + 3 + 3 + 1},
		{`{"a":"b c"}`, 1 + 3 + 1 + 3 + 2}, // words inside quotes count too
	} {
		// The limit is hit exactly past the count.
		if got := countTokens([]byte(tt.in)); got != tt.want {
			t.Errorf("countTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if err := checkTokens([]byte(strings.Repeat("[", maxTokens/3+1))); err == nil || err.Line != 1 {
		t.Errorf("%d [: %v, want refused on line 1", maxTokens/3+1, err)
	}
}
