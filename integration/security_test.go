package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/pod"
)

// subPathRaceDuration is how long TestSubPathRaceNoEscape attacks; PODD_SUBPATH_RACE=5m to try
// harder. Before the fix the first escape came after about 10 s with this backoff.
func subPathRaceDuration(t *testing.T) time.Duration {
	if s := os.Getenv("PODD_SUBPATH_RACE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PODD_SUBPATH_RACE=%q: %v", s, err)
		}
		return d
	}
	return 2 * time.Minute
}

// TestSubPathRaceNoEscape is the CVE-2017-1002101 attack on podd: a container swaps a directory of
// a shared volume with a symlink to / (renameat2 RENAME_EXCHANGE, in a loop) while its sibling
// containers, restarting all the time, mount that directory as their subPath. A runtime that
// resolves the subPath and then hands the resolved *name* to runc lets runc follow the symlink:
// the victim gets the host's root mounted read-write. Each victim looks for a file that only the
// host has and, if it sees it, writes another beside it on the host. Neither may happen.
func TestSubPathRaceNoEscape(t *testing.T) {
	t.Parallel()
	duration := subPathRaceDuration(t)
	p := startPoddWith(t, "--restart-backoff-base", "100ms", "--restart-backoff-max", "500ms")
	name := uniqueName(t)

	swapperImage := "localhost/podd-test/swapper:1"
	spec, err := ociimage.Busybox(swapperImage, ociimage.WithFile(goBuildStatic(t, "./internal/testprogs/swapper"), "/bin/swapper", 0o755))
	if err != nil {
		t.Fatal(err)
	}
	mustPodctl(t, p, "image", "import", buildImage(t, spec))

	// Only the host has this folder and its marker: a victim that sees it sees the host's root.
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "host-only"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const victims = 4
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  initContainers:
  - name: plant
    image: %s
    command: ["sh", "-c", "mkdir -p /data/a && ln -sfn / /data/b"]
    volumeMounts: [{name: data, mountPath: /data}]
  containers:
  - name: swapper
    image: %s
    command: ["/bin/swapper", "/data/a", "/data/b"]
    volumeMounts: [{name: data, mountPath: /data}]
`, name, busyboxImage, swapperImage)
	for i := range victims {
		fmt.Fprintf(&b, `  - name: victim%d
    image: %s
    command: ["sh", "-c", "if [ -e /mnt%s/host-only ]; then echo escaped > /mnt%s/escaped-%d; echo ESCAPED; sleep 3600; fi; exit 1"]
    volumeMounts: [{name: data, mountPath: /mnt, subPath: a}]
`, i, busyboxImage, hostDir, hostDir, i)
	}
	b.WriteString("  volumes:\n  - {name: data, emptyDir: {}}\n")
	if res := runPods(t, p, b.String(), "--detach"); res.ExitCode != 0 {
		t.Fatalf("podctl run: %s", res)
	}

	// Attack for the duration and until the victims have been mounted often enough that an
	// unsafe runtime would have been caught: the restarts are what the attack needs, and a busy
	// machine makes fewer of them per minute.
	const minAttempts = 40
	start := time.Now()
	hardStop := start.Add(duration + 5*time.Minute)
	attempts := 0
	for {
		matches, _ := filepath.Glob(filepath.Join(hostDir, "escaped-*"))
		if len(matches) > 0 {
			t.Fatalf("container escape after %v (%d victim starts): a victim wrote %v on the host through its subPath mount", time.Since(start).Round(time.Second), attempts, matches)
		}
		got := getPod(t, p, name)
		attempts = victimStarts(got)
		if time.Since(start) >= duration && attempts >= minAttempts {
			break
		}
		if time.Now().After(hardStop) {
			t.Fatalf("only %d victim starts in %v, want %d: the attack did not run", attempts, time.Since(start).Round(time.Second), minAttempts)
		}
		if sw := findContainerStatus(got, "swapper"); sw != nil && sw.State.Terminated != nil {
			t.Fatalf("the swapper exited: %+v; its log: %s", sw.State.Terminated, p.Podctl(t, "logs", name, "-c", "swapper"))
		}
		time.Sleep(time.Second)
	}
	t.Logf("no escape in %v and %d victim starts", time.Since(start).Round(time.Second), attempts)
}

// victimStarts counts the starts of the victim containers so far.
func victimStarts(p *pod.Pod) int {
	n := 0
	for _, cs := range p.Status.ContainerStatuses {
		if strings.HasPrefix(cs.Name, "victim") {
			n += int(cs.RestartCount) + 1
		}
	}
	return n
}

func findContainerStatus(p *pod.Pod, name string) *pod.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}
