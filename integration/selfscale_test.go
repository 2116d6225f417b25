package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/pod"
)

// TestReplicateYourself: a container of a Deployment's pod asks podd, through its pod's own API
// socket (podctl self-scale inside the container), to change the Deployment's replicas: granted
// within the bounds of podd.io/self-scale, clamped past them, refused for a Deployment that did
// not opt in, and a pod asking -1 for itself is the replica removed. Every decision is an event
// naming the pod that asked.
func TestReplicateYourself(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	spec, err := ociimage.Busybox(podctlImage, ociimage.WithFile(goBuildStatic(t, "./cmd/podctl"), "/bin/podctl", 0o755))
	if err != nil {
		t.Fatal(err)
	}
	mustPodctl(t, p, "image", "import", buildImage(t, spec))
	deployment := func(name, annotations string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s%[2]s
spec:
  replicas: 2
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations: {podd.io/api-socket: "true"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: %[3]s, command: ["sh", "-c", %[4]q]}
`, name, annotations, podctlImage, untilTerm)
	}
	scaled, closed := uniqueName(t, "s"), uniqueName(t, "c")
	p.ApplyManifest(t, deployment(scaled, "\n  annotations: {podd.io/self-scale: \"min=1,max=3,window=0s\"}")+"---\n"+deployment(closed, ""))

	running := func(app string) []string {
		var list struct{ Items []*pod.Pod }
		res := mustPodctl(t, p, "get", "po", "-l", "app="+app, "-o", "json")
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		var names []string
		for _, q := range list.Items {
			if q.Status.Phase == pod.PodRunning && q.Status.Reason != "Terminating" {
				names = append(names, q.Metadata.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	waitRunning := func(app string, n int) []string {
		var names []string
		waitFor(t, fmt.Sprintf("%d running pods of %s", n, app), func() bool {
			names = running(app)
			return len(names) == n
		})
		return names
	}
	selfScale := func(podName string, args ...string) Result {
		return p.Podctl(t, append([]string{"exec", podName, "--", "podctl", "self-scale"}, args...)...)
	}

	pods := waitRunning(scaled, 2)
	if res := selfScale(pods[0], "--delta", "1", "--reason", "queue is long", "--key", "k1"); res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "Granted deployment.apps/"+scaled+" 2 -> 3") {
		t.Errorf("+1: %s", res)
	}
	// The same key again counts once.
	if res := selfScale(pods[0], "--delta", "1", "--key", "k1"); !strings.HasPrefix(res.Stdout, "Granted deployment.apps/"+scaled+" 2 -> 3") {
		t.Errorf("retried +1: %s", res)
	}
	waitRunning(scaled, 3)
	if res := selfScale(pods[0], "--replicas", "9"); res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "Clamped deployment.apps/"+scaled+" 3 -> 3") {
		t.Errorf("9: %s", res)
	}
	// The pod that asks to go is the one removed.
	pods = waitRunning(scaled, 3)
	victim := pods[1]
	if res := selfScale(victim, "--delta", "-1", "--self", "--reason", "idle"); res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "Granted deployment.apps/"+scaled+" 3 -> 2") {
		t.Errorf("-1 self: %s", res)
	}
	left := waitRunning(scaled, 2)
	if slices.Contains(left, victim) {
		t.Errorf("pods left %v still hold %s, which asked to go", left, victim)
	}

	// A Deployment without the annotation refuses, and nothing changes.
	other := waitRunning(closed, 2)
	if res := selfScale(other[0], "--delta", "1"); res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, "does not let its pods scale it") {
		t.Errorf("not opted in: %s", res)
	}
	if res := mustPodctl(t, p, "get", "deploy", closed, "-o", "json"); !strings.Contains(res.Stdout, `"replicas": 2`) {
		t.Errorf("the closed Deployment changed:\n%s", res.Stdout)
	}

	// Each decision is an event naming the pod that asked.
	events := mustPodctl(t, p, "events").Stdout
	for _, want := range []string{"SelfScaleGranted", "SelfScaleClamped", "SelfScaleRefused", "pod " + victim + " asked"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
}
