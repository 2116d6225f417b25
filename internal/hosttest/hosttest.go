// Package hosttest is what the helpers' process tests share: finding the real third-party
// programs they run (a failure under CI=true, a skip elsewhere) and a free loopback port.
package hosttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// NeedBinaries fails the test under CI=true, and skips it otherwise, when a program of bins is
// not in PATH or under -short; packages names the Debian packages that hold them.
func NeedBinaries(t testing.TB, packages string, bins ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real servers")
	}
	var missing []string
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %v (Debian packages %s; make test installs them)", missing, packages)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// FreePort is a TCP port that nothing on the host's loopback listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
