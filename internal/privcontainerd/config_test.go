package privcontainerd

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	got := Config("/tmp/h", "/tmp/h/containerd.sock", "debug")
	for _, want := range []string{
		`root = "/tmp/h/root"`, `state = "/tmp/h/state"`, `temp = "/tmp/h/tmp"`,
		"[grpc]\n  address = \"/tmp/h/containerd.sock\"\n",
		"[ttrpc]\n  address = \"/tmp/h/containerd.sock.ttrpc\"\n",
		`level = "debug"`, `"io.containerd.grpc.v1.cri"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
}
