package ctl

import (
	"bytes"
	"sync"
	"testing"
)

// prefixWriter keeps lines whole whatever the writes' boundaries, prefixes each, and ends an
// unfinished last line on flush.
func TestPrefixWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"whole lines", []string{"a\nb\n"}, "[p] a\n[p] b\n"},
		{"split line", []string{"he", "llo\nwor", "ld\n"}, "[p] hello\n[p] world\n"},
		{"unfinished last line", []string{"x\ny"}, "[p] x\n[p] y\n"},
		{"empty line kept", []string{"\n"}, "[p] \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := &prefixWriter{out: &out, mu: &sync.Mutex{}, prefix: "[p] "}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			w.flush()
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}
