package fault

import "testing"

func TestHit(t *testing.T) {
	defer arm("")
	for _, tc := range []struct {
		spec, name string
		passes     []bool
	}{
		{"", "a", []bool{false, false}},
		{"a", "a", []bool{true, false}},
		{"a:3", "a", []bool{false, false, true, false}},
		{"b, a:2", "a", []bool{false, true}},
		{"a:x", "a", []bool{true}},
		{"a", "b", []bool{false, false}},
	} {
		arm(tc.spec)
		if got := armed.Load(); got != (tc.spec != "") {
			t.Errorf("%q: armed %v", tc.spec, got)
		}
		for i, want := range tc.passes {
			if got := hit(tc.name); got != want {
				t.Errorf("%q: pass %d of %s: crash %v, want %v", tc.spec, i+1, tc.name, got, want)
			}
		}
	}
}

func TestPointsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Points {
		if seen[p] {
			t.Errorf("crash point %s listed twice", p)
		}
		seen[p] = true
	}
}
