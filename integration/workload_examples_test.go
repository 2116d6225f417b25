package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// runningPods lists the names of the running, not terminating pods matching a label selector.
func runningPods(t testing.TB, p *Podd, selector string) []string {
	t.Helper()
	var list struct{ Items []*pod.Pod }
	res := mustPodctl(t, p, "get", "po", "-l", selector, "-o", "json")
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("decode podctl get po -l %s -o json: %v\n%s", selector, err, res.Stdout)
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

// waitRunningPods waits until exactly n pods of the selector run, none terminating, and returns
// their names.
func waitRunningPods(t *testing.T, p *Podd, selector string, n int) []string {
	t.Helper()
	var names []string
	waitFor(t, fmt.Sprintf("%d running pods of %s", n, selector), func() bool {
		names = runningPods(t, p, selector)
		all := mustPodctl(t, p, "get", "po", "-l", selector, "-o", "json")
		return len(names) == n && !strings.Contains(all.Stdout, `"Terminating"`)
	})
	return names
}

// TestWorkloadSpecExamples runs the examples of specs/examples/workloads that no other test runs
// (deployment.yaml, replicaset.yaml, pvc.yaml, self-scale.yaml) through the commands their
// comments show, with the test's busybox for localhost/podd/busybox:1.35, on a podd of its own
// (their names are fixed). statefulset.yaml, job.yaml, indexed-job.yaml, configmap.yaml and
// secret.yaml are run by TestStatefulSetExample, TestJobDocumentationExamples and
// TestConfigSpecExamples.
func TestWorkloadSpecExamples(t *testing.T) {
	t.Parallel()
	p := startPodd(t)

	t.Run("deployment.yaml", func(t *testing.T) {
		manifest := exampleManifest(t, "deployment.yaml")
		path := writeManifest(t, manifest)
		mustPodctl(t, p, "apply", "-f", path)
		if res := mustPodctl(t, p, "rollout", "status", "deploy/hello", "--timeout", "180s"); !strings.Contains(res.Stdout, `deployment "hello" successfully rolled out`) {
			t.Errorf("rollout status:\n%s", res)
		}
		waitDeploymentSettled(t, p, "hello", 3, "1")
		res := mustPodctl(t, p, "get", "deploy,rs,pods", "-l", "app=hello")
		for _, want := range []string{"deployment.apps/hello", "3/3", "replicaset.apps/hello-", "pod/hello-"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("podctl get deploy,rs,pods -l app=hello: want %q in\n%s", want, res.Stdout)
			}
		}
		mustPodctl(t, p, "scale", "deploy/hello", "--replicas", "5")
		waitDeploymentSettled(t, p, "hello", 5, "1")
		// sed 's/value: "1"/value: "2"/' deployment.yaml | podctl apply -f -
		edited := strings.ReplaceAll(manifest, `value: "1"`, `value: "2"`) // sed's s/// on every line
		if edited == manifest {
			t.Fatal(`the example has no env value "1" to edit, as its comment says`)
		}
		if res := p.PodctlInput(t, strings.NewReader(edited), "apply", "-f", "-"); res.ExitCode != 0 || !strings.Contains(res.Stdout, "deployment.apps/hello configured") {
			t.Fatalf("apply the edited example from stdin:\n%s", res)
		}
		mustPodctl(t, p, "rollout", "status", "deploy/hello", "--timeout", "180s")
		// The file says replicas: 3, and apply sets what the file says (kubectl's apply too: its
		// patch takes spec.replicas from the file over the live 5 that podctl scale set).
		for _, q := range waitDeploymentSettled(t, p, "hello", 3, "2") {
			if got := execOut(t, p, q.Metadata.Name, "wget", "-qO-", "http://127.0.0.1:8080/index.html"); got != "version 2\n" {
				t.Errorf("pod %s serves %q, want version 2", q.Metadata.Name, got)
			}
		}
		res = mustPodctl(t, p, "rollout", "history", "deploy/hello")
		for _, rev := range []string{"1", "2"} {
			if !slices.ContainsFunc(strings.Split(res.Stdout, "\n"), func(l string) bool { return strings.HasPrefix(l, rev+" ") }) {
				t.Errorf("rollout history: want revision %s:\n%s", rev, res.Stdout)
			}
		}
		mustPodctl(t, p, "rollout", "undo", "deploy/hello")
		mustPodctl(t, p, "rollout", "status", "deploy/hello", "--timeout", "180s")
		waitDeploymentSettled(t, p, "hello", 3, "1")
		if res := mustPodctl(t, p, "describe", "deploy", "hello"); !strings.Contains(res.Stdout, "3 desired | 3 updated | 3 total | 3 available") ||
			!strings.Contains(res.Stdout, "0 max unavailable, 1 max surge") {
			t.Errorf("describe deploy hello:\n%s", res.Stdout)
		}
		mustPodctl(t, p, "delete", "-f", path)
		waitFor(t, "hello's pods and replica sets to go", func() bool {
			live, term := deploymentPods(t, p, "hello")
			return len(live)+len(term) == 0 && len(getReplicaSets(t, p, "hello")) == 0
		})
	})

	t.Run("replicaset.yaml", func(t *testing.T) {
		path := writeManifest(t, exampleManifest(t, "replicaset.yaml"))
		mustPodctl(t, p, "apply", "-f", path)
		pods := waitRunningPods(t, p, "tier=frontend", 3)
		res := mustPodctl(t, p, "get", "rs,po", "-l", "tier=frontend")
		if !strings.Contains(res.Stdout, "replicaset.apps/frontend") || strings.Count(res.Stdout, "pod/frontend-") != 3 {
			t.Errorf("podctl get rs,po -l tier=frontend:\n%s", res.Stdout)
		}
		mustPodctl(t, p, "delete", "pod", pods[0])
		again := waitRunningPods(t, p, "tier=frontend", 3)
		if slices.Contains(again, pods[0]) {
			t.Errorf("the deleted pod %s is among %v", pods[0], again)
		}
		mustPodctl(t, p, "scale", "rs/frontend", "--replicas", "1")
		waitRunningPods(t, p, "tier=frontend", 1)
		mustPodctl(t, p, "delete", "-f", path)
		waitFor(t, "frontend's pods to go", func() bool { return len(listPodsWithLabel(t, p, "tier", "frontend")) == 0 })
	})

	t.Run("pvc.yaml", func(t *testing.T) {
		path := writeManifest(t, exampleManifest(t, "pvc.yaml"))
		mustPodctl(t, p, "apply", "-f", path)
		waitPhase(t, p, "notes", pod.PodRunning)
		res := mustPodctl(t, p, "get", "pvc,po")
		if !strings.Contains(res.Stdout, "persistentvolumeclaim/notes") || !strings.Contains(res.Stdout, "Bound") || !strings.Contains(res.Stdout, "pod/notes") {
			t.Errorf("podctl get pvc,po:\n%s", res.Stdout)
		}
		claim := claims(t, p)["notes"]
		if claim == nil {
			t.Fatal("no claim notes")
		}
		dir := claimDir(p, claim)
		waitFor(t, "the first line in /data/notes.txt", func() bool { return len(notesLines(t, p)) == 1 })
		// podctl delete pod notes && podctl apply -f pvc.yaml: the file is still there.
		mustPodctl(t, p, "delete", "pod", "notes")
		if res := mustPodctl(t, p, "apply", "-f", path); !strings.Contains(res.Stdout, "pod/notes created") ||
			!strings.Contains(res.Stdout, "persistentvolumeclaim/notes unchanged") {
			t.Errorf("apply after the pod's deletion:\n%s", res)
		}
		waitPhase(t, p, "notes", pod.PodRunning)
		waitFor(t, "two lines in /data/notes.txt", func() bool { return len(notesLines(t, p)) == 2 })
		mustPodctl(t, p, "delete", "-f", path)
		waitFor(t, "the claim, its folder and the pod to go", func() bool {
			_, err := os.Stat(dir)
			return os.IsNotExist(err) && claims(t, p)["notes"] == nil && maybePod(t, p, "notes") == nil
		})
	})

	t.Run("self-scale.yaml", func(t *testing.T) {
		// make example-image-podctl && podctl image import bin/busybox-podctl-image.tar
		spec, err := ociimage.Busybox("localhost/podd/busybox-podctl:1", ociimage.WithFile(goBuildStatic(t, "./cmd/podctl"), "/bin/podctl", 0o755))
		if err != nil {
			t.Fatal(err)
		}
		mustPodctl(t, p, "image", "import", buildImage(t, spec))
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(root, "specs", "examples", "workloads", "self-scale.yaml")
		mustPodctl(t, p, "apply", "-f", path)
		pods := waitRunningPods(t, p, "app=workers", 2)
		asker := pods[0]
		selfScale := func(args ...string) Result {
			return p.Podctl(t, append([]string{"exec", asker, "--", "podctl", "self-scale"}, args...)...)
		}
		if res := selfScale("--delta", "1", "--reason", "queue is long"); res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "Granted deployment.apps/workers 2 -> 3") {
			t.Fatalf("self-scale +1: %s", res)
		}
		waitRunningPods(t, p, "app=workers", 3)
		if res := mustPodctl(t, p, "get", "deploy", "workers"); !strings.Contains(res.Stdout, "3/3") {
			waitFor(t, "get deploy workers to show 3/3", func() bool { return strings.Contains(mustPodctl(t, p, "get", "deploy", "workers").Stdout, "3/3") })
		}
		// Within the 30 s window after the scale-up a scale-down is held at 3.
		asked := time.Now()
		if res := selfScale("--delta", "-1", "--self", "--reason", "idle"); res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "Clamped deployment.apps/workers 3 -> 3") ||
			!strings.Contains(res.Stdout, "window") {
			t.Errorf("self-scale -1 within the window: %s", res)
		}
		// sleep 30: the window has passed (a wait for the example's window, not an assert).
		time.Sleep(31*time.Second - time.Since(asked))
		if res := selfScale("--delta", "-1", "--self", "--reason", "idle"); res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "Granted deployment.apps/workers 3 -> 2") {
			t.Fatalf("self-scale -1 after the window: %s", res)
		}
		left := waitRunningPods(t, p, "app=workers", 2)
		if slices.Contains(left, asker) {
			t.Errorf("pods left %v hold %s, which asked to go", left, asker)
		}
		events := mustPodctl(t, p, "events").Stdout
		for _, want := range []string{"SelfScaleGranted", "SelfScaleClamped", "pod " + asker + " asked"} {
			if !strings.Contains(events, want) {
				t.Errorf("events lack %q:\n%s", want, events)
			}
		}
		var d object.Deployment
		if err := json.Unmarshal([]byte(mustPodctl(t, p, "get", "deploy", "workers", "-o", "json").Stdout), &d); err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("workers' replicas after the scale-down: %v (%v)", d.Spec.Replicas, err)
		}
		mustPodctl(t, p, "delete", "-f", path)
		waitFor(t, "workers' pods to go", func() bool { return len(listPodsWithLabel(t, p, "app", "workers")) == 0 })
	})
}

// notesLines are the lines of pvc.yaml's /data/notes.txt, read in the notes pod.
func notesLines(t testing.TB, p *Podd) []string {
	t.Helper()
	res := p.Podctl(t, "exec", "notes", "--", "cat", "/data/notes.txt")
	if res.ExitCode != 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(res.Stdout), "\n")
}

// listPodsWithLabel lists the pods (terminating ones too) whose label key is value.
func listPodsWithLabel(t testing.TB, p *Podd, key, value string) []*pod.Pod {
	t.Helper()
	var out []*pod.Pod
	for _, q := range listPods(t, p) {
		if q.Metadata.Labels[key] == value {
			out = append(out, q)
		}
	}
	return out
}
