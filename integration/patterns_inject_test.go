package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/patterns"
	"github.com/podd-dev/podd/pkg/pod"
)

// injectExample is specs/examples/patterns/inject-ambassador.yaml as the test runs it: the test
// busybox, and names of the test's own.
func injectExample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "specs", "examples", "patterns", "inject-ambassador.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("localhost/podd/busybox:1.35", busyboxImage, "cache-client", name).Replace(string(data))
}

// checkSidecar checks that a pod runs the ambassador as podd-patterns' native sidecar, first of
// its init containers, and that it is running.
func checkSidecar(t *testing.T, got *pod.Pod, helper string) {
	t.Helper()
	ics := got.Spec.InitContainers
	if len(ics) == 0 || ics[0].Name != patterns.ContainerPrefix+helper || ics[0].Image != patternsImage ||
		ics[0].RestartPolicy == nil || *ics[0].RestartPolicy != pod.RestartAlways || len(ics[0].Args) == 0 || ics[0].Args[0] != helper {
		b, _ := json.MarshalIndent(ics, "", "  ")
		t.Fatalf("pod %s: init containers %s\nwant podd-%s, image %s, restartPolicy Always, args [%s ...]", got.Metadata.Name, b, helper, patternsImage, helper)
	}
	if got.Metadata.Annotations[patterns.AnnotationInjected] != helper {
		t.Errorf("pod %s: annotations %v, want %s: %s", got.Metadata.Name, got.Metadata.Annotations, patterns.AnnotationInjected, helper)
	}
}

func sidecarRunning(got *pod.Pod, name string) bool {
	for _, cs := range got.Status.InitContainerStatuses {
		if cs.Name == name {
			return cs.State.Running != nil
		}
	}
	return false
}

// TestPatternsInjectDeployment: a Deployment whose template asks for the ambassador by
// annotation runs pods with the podd-ambassador native sidecar, running before the application
// starts (whose first act is to connect to the proxy); the stored Deployment is the expanded one,
// the same as `podctl expand` prints; applying the original manifest or the expanded one again
// changes nothing.
func TestPatternsInjectDeployment(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	manifest := injectExample(t, name)
	res := p.ApplyManifest(t, manifest)
	if !strings.Contains(res.Stdout, "deployment.apps/"+name+" created") {
		t.Fatalf("apply:\n%s", res)
	}

	var running *pod.Pod
	deadline := time.Now().Add(2 * podWaitTimeout)
	for running == nil {
		live, _ := deploymentPods(t, p, name)
		if len(live) == 1 && live[0].Status.Phase == pod.PodRunning && sidecarRunning(live[0], "podd-ambassador") {
			running = live[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running pod with a running sidecar within %v: %d pods", 2*podWaitTimeout, len(live))
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The pod as `podctl get pod -o yaml` shows it.
	yamlOut := mustPodctl(t, p, "get", "pod", running.Metadata.Name, "-o", "yaml").Stdout
	for _, want := range []string{"initContainers:", "name: podd-ambassador", "image: " + patternsImage, "restartPolicy: Always", "- --listen=127.0.0.1:6380", "- --server=127.0.0.1:6379:1 cache-0"} {
		if !strings.Contains(yamlOut, want) {
			t.Errorf("podctl get pod -o yaml: no %q in\n%s", want, yamlOut)
		}
	}
	checkSidecar(t, getPod(t, p, running.Metadata.Name), "ambassador")
	// The application connected to the proxy first thing: the sidecar's startup probe held it back.
	waitLogs(t, p, running.Metadata.Name, "app", "proxy is up")

	// Stored expanded: the Deployment's template holds the sidecar, as podctl expand prints it.
	stored := getDeployment(t, p, name)
	expanded := mustPodctl(t, p, "expand", "-f", writeManifest(t, manifest), "-o", "json").Stdout
	var printed object.Deployment
	if err := json.Unmarshal([]byte(expanded), &printed); err != nil {
		t.Fatalf("podctl expand -o json: %v\n%s", err, expanded)
	}
	a, _ := json.Marshal(stored.Spec.Template)
	b, _ := json.Marshal(printed.Spec.Template)
	if string(a) != string(b) {
		t.Errorf("the stored template is not what podctl expand prints:\nstored  %s\nprinted %s", a, b)
	}

	// Nothing rolls out on a second apply, of the original or of the expansion.
	for what, m := range map[string]string{"original": manifest, "expanded": expanded} {
		if res := mustPodctl(t, p, "apply", "-f", writeManifest(t, m)); !strings.Contains(res.Stdout, "deployment.apps/"+name+" unchanged") {
			t.Errorf("apply the %s manifest again: want unchanged:\n%s", what, res)
		}
	}
	if d := getDeployment(t, p, name); d.Metadata.Generation != stored.Metadata.Generation {
		t.Errorf("generation %d after the second applies, was %d", d.Metadata.Generation, stored.Metadata.Generation)
	}
	if rss := getReplicaSets(t, p, name); len(rss) != 1 {
		t.Errorf("%d ReplicaSets after the second applies, want 1", len(rss))
	}
}

// waitLogs waits until a container's log holds want.
func waitLogs(t *testing.T, p *Podd, name, container, want string) {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for {
		out := p.Podctl(t, "logs", name, "-c", container).Stdout
		if strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of %s/%s: no %q within %v:\n%s", name, container, want, podWaitTimeout, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPatternsInjectJobCompletes: a Job whose pod has an injected helper completes when its
// application's container has: the native sidecar does not keep the pod alive.
func TestPatternsInjectJobCompletes(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	p.ApplyManifest(t, `apiVersion: batch/v1
kind: Job
metadata: {name: `+name+`}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        podd.io/inject: ambassador
        ambassador.podd.io/listen: "127.0.0.1:6381"
        ambassador.podd.io/server: "127.0.0.1:6379:1"
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 5
      containers:
      - name: work
        image: `+busyboxImage+`
        command: [sh, -c, "nc -w 2 127.0.0.1 6381 </dev/null && echo proxied"]
`)
	waitJob(t, p, name, "Complete", jobWaitTimeout, jobComplete)
	pods := jobPodsOf(t, p, name)
	if len(pods) != 1 {
		t.Fatalf("%d pods of the Job, want 1", len(pods))
	}
	got := waitDone(t, p, pods[0].Metadata.Name)
	if got.Status.Phase != pod.PodSucceeded {
		t.Fatalf("the Job's pod ended %s", got.Status.Phase)
	}
	checkSidecar(t, got, "ambassador")
	if out := podLogs(t, p, got.Metadata.Name, "work"); !strings.Contains(out, "proxied") {
		t.Errorf("the work container did not reach the sidecar: %q", out)
	}
}

// TestPatternsInjectRefused: a misspelt setting, an unknown helper or a setting on the
// workload's own metadata is refused on every path — apply, run, the static pods' folder — with
// the annotation's key in the message, and creates nothing.
func TestPatternsInjectRefused(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t)
	deployment := strings.Replace(injectExample(t, name), `ambassador.podd.io/protocol: redis`, `ambassador.podd.io/protocl: redis`, 1)
	res := p.Podctl(t, "apply", "-f", writeManifest(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: `+name+`}
data: {a: b}
---
`+deployment))
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "Deployment default/"+name+": spec.template.metadata.annotations[ambassador.podd.io/protocl]: unknown setting of ambassador") {
		t.Errorf("apply of a misspelt setting:\n%s", res)
	}
	for _, kind := range []string{"deploy", "cm"} {
		if res := p.Podctl(t, "get", kind, name); res.ExitCode == 0 {
			t.Errorf("the refused manifest created %s %s:\n%s", kind, name, res)
		}
	}
	if live, term := deploymentPods(t, p, name); len(live)+len(term) != 0 {
		t.Errorf("the refused manifest made %d pods", len(live)+len(term))
	}

	podManifest := `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `-pod
  annotations:
    podd.io/inject: "ambassador,elektor"
spec:
  containers:
  - name: app
    image: ` + busyboxImage + `
    command: [sleep, "3600"]
`
	res = p.Podctl(t, "run", writeManifest(t, podManifest))
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, `metadata.annotations[podd.io/inject]: unknown helper "elektor"`) {
		t.Errorf("run of an unknown helper:\n%s", res)
	}
	if res := p.Podctl(t, "get", name+"-pod"); res.ExitCode == 0 {
		t.Errorf("the refused pod exists:\n%s", res)
	}

	// The static pods' folder expands too: a good file runs the sidecar, a bad one is reported
	// and runs nothing.
	static := strings.Replace(strings.Replace(podManifest, "ambassador,elektor", "ambassador", 1), "-pod\n", "-static\n", 1)
	static = strings.Replace(static, "    podd.io/inject: \"ambassador\"\n", "    podd.io/inject: \"ambassador\"\n    ambassador.podd.io/listen: \"127.0.0.1:6382\"\n    ambassador.podd.io/server: \"127.0.0.1:6379:1\"\n", 1)
	staticFile := name + ".yaml"
	writeStatic(t, p, staticFile, static)
	t.Cleanup(func() { os.Remove(filepath.Join(p.Manifests, staticFile)) })
	waitExists(t, p, name+"-static")
	got := waitPod(t, p, name+"-static", "running with its sidecar", func(got *pod.Pod) bool {
		return got.Status.Phase == pod.PodRunning && sidecarRunning(got, "podd-ambassador")
	})
	checkSidecar(t, got, "ambassador")

	badFile := name + "-bad.yaml"
	writeStatic(t, p, badFile, strings.Replace(strings.Replace(static, "-static\n", "-bad\n", 1), "ambassador.podd.io/server", "ambassador.podd.io/servr", 1))
	t.Cleanup(func() { os.Remove(filepath.Join(p.Manifests, badFile)) })
	deadline := time.Now().Add(podWaitTimeout)
	for {
		out := p.Podctl(t, "events", "-A").Stdout
		if strings.Contains(out, "ambassador.podd.io/servr") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event about the bad static file within %v:\n%s", podWaitTimeout, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res := p.Podctl(t, "get", name+"-bad"); res.ExitCode == 0 {
		t.Errorf("the refused static pod exists:\n%s", res)
	}
}

// waitExists waits until a pod exists (a static pod appears once podd has read its file).
func waitExists(t *testing.T, p *Podd, name string) {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for p.Podctl(t, "get", name).ExitCode != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pod %s does not exist %v after its file was written", name, podWaitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
