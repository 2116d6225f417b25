package main

import (
	"slices"
	"strings"
	"testing"
)

func TestDNSUpstreamFlags(t *testing.T) {
	got, err := dnsUpstreams([]string{"127.0.0.1:5353", "192.0.2.53", "fd00::53", "[fd00::54]:5300"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:5353", "192.0.2.53:53", "[fd00::53]:53", "[fd00::54]:5300"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"dns.example", "127.0.0.1:0", "127.0.0.1:x", ""} {
		if _, err := dnsUpstreams([]string{bad}); err == nil || !strings.Contains(err.Error(), "--dns-upstream") {
			t.Errorf("%q: %v, want an error naming --dns-upstream", bad, err)
		}
	}
}
