package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/sandbox"
)

// TestEtcFilesBounded: /etc/hosts, /etc/hostname and /etc/resolv.conf are writable in a container
// (as in Kubernetes), but a container that writes 64 MiB into each may keep no more than the pod's
// small /etc tmpfs holds: it once wrote them into --root without bound. A pod created next, whose
// name podd writes into the full pod's hosts file, still starts.
func TestEtcFilesBounded(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: fill
    image: %s
    command: ["sh", "-c", "for f in /etc/resolv.conf /etc/hosts /etc/hostname; do dd if=/dev/zero of=$f bs=1M count=64 2>/dev/null; done; touch /tmp/done; sleep 3600"]
`, name, busyboxImage))
	waitPhase(t, p, name, pod.PodRunning)
	waitFor(t, "the container to finish writing", func() bool {
		return p.Podctl(t, "exec", name, "--", "test", "-e", "/tmp/done").ExitCode == 0
	})
	total := 0
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"} {
		out := strings.TrimSpace(execOut(t, p, name, "wc", "-c", f))
		n, err := strconv.Atoi(strings.Fields(out)[0])
		if err != nil {
			t.Fatalf("wc -c %s: %q", f, out)
		}
		total += n
	}
	if total > sandbox.EtcFilesSize {
		t.Errorf("the container's /etc files hold %d bytes, more than the %d of their tmpfs", total, sandbox.EtcFilesSize)
	}

	next := uniqueName(t, "next")
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
`, next, busyboxImage))
	waitPhase(t, p, next, pod.PodRunning)
}
