package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// TestPatternsImageImportedOnFirstUse: a fresh podd has no helper image, and no registry could
// give it one; the first pod that asks for it gets it from podd-patterns.tar beside podd, and a
// second pod uses the imported image. The helper runs with no shell in its image.
func TestPatternsImageImportedOnFirstUse(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	if out := mustPodctl(t, p, "image", "ls").Stdout; strings.Contains(out, patternsImage) {
		t.Fatalf("a fresh podd lists %s before any pod asked for it:\n%s", patternsImage, out)
	}
	manifest := func(name string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
spec:
  containers:
  - name: ambassador
    image: ` + patternsImage + `
    args: [ambassador, --listen, "127.0.0.1:22121", --server, "127.0.0.1:6379:1", --metrics-address, ""]
`
	}
	for _, name := range []string{"helper-a", "helper-b"} {
		p.RunManifest(t, manifest(name))
		got := waitPhase(t, p, name, pod.PodRunning)
		if cs := got.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil {
			t.Fatalf("%s: container statuses %+v, want the helper running", name, cs)
		}
	}
	if out := mustPodctl(t, p, "image", "ls").Stdout; !strings.Contains(out, patternsImage) {
		t.Fatalf("image ls after the helper pods ran does not list %s:\n%s", patternsImage, out)
	}
	logData, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logData), "imported a local image"); n != 1 {
		t.Errorf("podd imported the helper image %d times, want once", n)
	}
}
