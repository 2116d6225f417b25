package pod

import (
	"math/rand"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// podd checks names the way Kubernetes' API server does with a copy of apimachinery's validation
// rather than the library itself: the library would bring klog and k8s.io/utils into podd and
// podctl (+0.6 MB each, measured), for five small functions. This test holds the copy to the
// library (a test-only dependency, not in the binaries): same verdict, same messages, for names
// drawn from the characters and lengths that matter. Qualified names (label and annotation keys)
// and label values are held to the verdict only: apimachinery 0.36 reworded those messages ("a valid label key",
// "63 bytes"), and podd keeps the wording users of earlier releases search for.
func TestNameValidationMatchesApimachinery(t *testing.T) {
	for _, tt := range []struct {
		name        string
		ours        func(string) []string
		lib         func(string) []string
		verdictOnly bool
	}{
		{"DNS-1123 label", func(s string) []string {
			var errs ErrorList
			checkDNS1123Label(&errs, "f", s)
			var out []string
			for _, e := range errs {
				out = append(out, e.Detail)
			}
			return out
		}, validation.IsDNS1123Label, false},
		{"DNS-1123 subdomain", dns1123SubdomainErrors, validation.IsDNS1123Subdomain, false},
		{"qualified name", qualifiedNameErrors, validation.IsQualifiedName, true},
		{"label value", labelValueErrors, validation.IsValidLabelValue, true},
		{"port name", portNameErrors, validation.IsValidPortName, false},
		{"config key", ConfigKeyErrors, validation.IsConfigMapKey, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range nameSamples() {
				ours, lib := tt.ours(s), tt.lib(s)
				if (len(ours) == 0) != (len(lib) == 0) {
					t.Errorf("%q: podd says %q, apimachinery %q", s, ours, lib)
					continue
				}
				if tt.verdictOnly {
					continue
				}
				for _, want := range lib {
					if !strings.Contains(strings.Join(ours, "; "), want) {
						t.Errorf("%q: podd's messages %q lack apimachinery's %q", s, ours, want)
					}
				}
			}
		})
	}
}

// nameSamples are hand-picked edge cases and random strings over the characters that decide.
func nameSamples() []string {
	out := []string{"", "a", "A", "-", "a-", "-a", "a--b", "a.b", "a..b", ".a", "a.", "a_b", "_a", "a/b", "/a", "a/", "a/b/c",
		"example.com/Name", "Example.com/name", "a.b/c_d", "123", "1-2", "web", "my-svc", "ab" + strings.Repeat("c", 61),
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 15), strings.Repeat("a", 16),
		strings.Repeat("a.", 126) + "a", strings.Repeat("a", 253), strings.Repeat("a", 254), "a b", "a\tb", "ü", "a_", "a.b.c/d",
		"..", "..a", "...", "a..", "KEY_NAME", "key.name", ".env", strings.Repeat(".", 254)}
	r := rand.New(rand.NewSource(1))
	const chars = "ab9-._/AZ "
	for range 3000 {
		n := r.Intn(20)
		if r.Intn(10) == 0 {
			n = 60 + r.Intn(200)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.Intn(len(chars))]
		}
		out = append(out, string(b))
	}
	return out
}
