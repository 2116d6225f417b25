package main

import (
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod/podsecurity"
)

func TestPodSecurityFlags(t *testing.T) {
	p, err := podSecurity("baseline", []string{"system=privileged", "secure=restricted", "system=privileged"})
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]podsecurity.Level{"system": podsecurity.Privileged, "secure": podsecurity.Restricted, "default": podsecurity.Baseline} {
		if got := p.Level(ns); got != want {
			t.Errorf("level of %s: %s, want %s", ns, got, want)
		}
	}
	for _, tc := range []struct {
		def  string
		nss  []string
		want string
	}{
		{"strict", nil, `--pod-security: "strict" is not a Pod Security level`},
		{"baseline", []string{"system"}, `--pod-security-namespace: "system": want NAMESPACE=LEVEL`},
		{"baseline", []string{"system=root"}, `--pod-security-namespace: "system=root": "root" is not a Pod Security level`},
		{"baseline", []string{"system=privileged", "system=restricted"}, `namespace "system" given twice, as privileged and as restricted`},
	} {
		if _, err := podSecurity(tc.def, tc.nss); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("podSecurity(%q, %q) = %v, want an error containing %q", tc.def, tc.nss, err, tc.want)
		}
	}
}
