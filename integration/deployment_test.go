package integration

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// deploymentManifest is a Deployment of replicas pods whose one container is ready (a readiness
// probe) once it has started, and whose template's VERSION env is version: a new version is a new
// template.
func deploymentManifest(name string, replicas int, version, strategy string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  strategy: %[4]s
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: %[5]s
        command: [sh, -c, %[6]q]
        env: [{name: VERSION, value: %[3]q}]
        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
          periodSeconds: 1
`, name, replicas, version, strategy, busyboxImage, "touch /tmp/ready; "+untilTerm)
}

// getDeployment reads a Deployment with podctl get -o json.
func getDeployment(t testing.TB, p *Podd, name string) *object.Deployment {
	t.Helper()
	res := mustPodctl(t, p, "get", "deploy", name, "-o", "json")
	var d object.Deployment
	if err := json.Unmarshal([]byte(res.Stdout), &d); err != nil {
		t.Fatalf("decode deployment: %v\n%s", err, res.Stdout)
	}
	return &d
}

// getReplicaSets lists the ReplicaSets of a Deployment by name prefix.
func getReplicaSets(t testing.TB, p *Podd, deploy string) []*object.ReplicaSet {
	t.Helper()
	res := mustPodctl(t, p, "get", "rs", "-o", "json")
	var list struct{ Items []*object.ReplicaSet }
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("decode replicasets: %v\n%s", err, res.Stdout)
	}
	var out []*object.ReplicaSet
	for _, rs := range list.Items {
		if len(rs.Metadata.OwnerReferences) == 1 && rs.Metadata.OwnerReferences[0].Name == deploy {
			out = append(out, rs)
		}
	}
	return out
}

// deploymentPods are the pods labelled app=deploy, terminating ones apart.
func deploymentPods(t testing.TB, p *Podd, deploy string) (live, terminating []*pod.Pod) {
	t.Helper()
	for _, q := range listPods(t, p) {
		if q.Metadata.Labels["app"] != deploy {
			continue
		}
		if q.Status.Reason == "Terminating" {
			terminating = append(terminating, q)
		} else {
			live = append(live, q)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Metadata.Name < live[j].Metadata.Name })
	return live, terminating
}

func podReady(q *pod.Pod) bool {
	for _, c := range q.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func specEnv(q *pod.Pod, name string) string {
	for _, e := range q.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// waitDeploymentSettled waits until the Deployment has rolled out and has exactly replicas pods,
// all of version and of its newest ReplicaSet, all ready, and none terminating; it returns them.
func waitDeploymentSettled(t testing.TB, p *Podd, name string, replicas int, version string) []*pod.Pod {
	t.Helper()
	var live, term []*pod.Pod
	deadline := time.Now().Add(2 * podWaitTimeout)
	for {
		d := getDeployment(t, p, name)
		live, term = deploymentPods(t, p, name)
		ok := d.Status.ObservedGeneration >= d.Metadata.Generation && int(d.Status.UpdatedReplicas) == replicas &&
			int(d.Status.AvailableReplicas) == replicas && len(live) == replicas && len(term) == 0
		for _, q := range live {
			ok = ok && podReady(q) && specEnv(q, "VERSION") == version
		}
		if ok {
			return live
		}
		if time.Now().After(deadline) {
			var names []string
			for _, q := range append(live, term...) {
				names = append(names, fmt.Sprintf("%s(%s,%s,ready=%v)", q.Metadata.Name, specEnv(q, "VERSION"), q.Status.Reason, podReady(q)))
			}
			t.Fatalf("deployment %s did not settle at %d pods of %s: status %+v, pods %v", name, replicas, version, d.Status, names)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

var podNameRE = regexp.MustCompile(`^([a-z0-9-]+)-([bcdfghjklmnpqrstvwxz2456789]{1,10})-([bcdfghjklmnpqrstvwxz2456789]{5})$`)

// TestDeploymentScale scales a Deployment 1 → 5 → 2 with podctl scale, waits with podctl wait and
// rollout status, and checks the pods' names, labels and ownerReferences as Kubernetes sets
// them, and describe's view.
func TestDeploymentScale(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t, "dscale")
	p.ApplyManifest(t, deploymentManifest(name, 1, "v1", "{type: RollingUpdate}"))
	mustPodctl(t, p, "rollout", "status", "deploy/"+name, "--timeout", "120s")
	for _, n := range []int{5, 2} {
		res := mustPodctl(t, p, "scale", "deploy/"+name, "--replicas", fmt.Sprint(n))
		if want := "deployment.apps/" + name + " scaled"; !strings.Contains(res.Stdout, want) {
			t.Errorf("scale: want %q:\n%s", want, res)
		}
		live := waitDeploymentSettled(t, p, name, n, "v1")
		res = mustPodctl(t, p, "wait", "--for=condition=Available", "--timeout", "60s", "deploy/"+name)
		if !strings.Contains(res.Stdout, "deployment.apps/"+name+" condition met") {
			t.Errorf("wait: %s", res)
		}
		sets := getReplicaSets(t, p, name)
		if len(sets) != 1 {
			t.Fatalf("%d replica sets, want 1", len(sets))
		}
		rs := sets[0]
		hash := rs.Metadata.Labels["pod-template-hash"]
		if rs.Metadata.Name != name+"-"+hash || *rs.Spec.Replicas != int32(n) {
			t.Errorf("replica set %s (hash %s) replicas %d", rs.Metadata.Name, hash, *rs.Spec.Replicas)
		}
		for _, q := range live {
			m := podNameRE.FindStringSubmatch(q.Metadata.Name)
			if m == nil || m[1] != name || m[2] != hash {
				t.Errorf("pod name %s: want %s-%s-<5 chars>", q.Metadata.Name, name, hash)
			}
			refs := q.Metadata.OwnerReferences
			if q.Metadata.Labels["pod-template-hash"] != hash || len(refs) != 1 || refs[0].Kind != "ReplicaSet" ||
				refs[0].Name != rs.Metadata.Name || refs[0].UID != rs.Metadata.UID || refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("pod %s labels %v ownerReferences %+v", q.Metadata.Name, q.Metadata.Labels, refs)
			}
		}
		for _, q := range live {
			mustPodctl(t, p, "wait", "--for=condition=Ready", "pod/"+q.Metadata.Name)
		}
	}
	res := mustPodctl(t, p, "describe", "deploy", name)
	for _, want := range []string{"Replicas:", "2 desired | 2 updated | 2 total | 2 available | 0 unavailable", "NewReplicaSet:", "ScalingReplicaSet", "Scaled down replica set"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("describe deploy: want %q in\n%s", want, res.Stdout)
		}
	}
	rs := getReplicaSets(t, p, name)[0]
	res = mustPodctl(t, p, "describe", "rs/"+rs.Metadata.Name)
	for _, want := range []string{"Controlled By:  Deployment/" + name, "2 current / 2 desired", "SuccessfulCreate", "SuccessfulDelete"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("describe rs: want %q in\n%s", want, res.Stdout)
		}
	}
	if res := p.Podctl(t, "wait", "--for=condition=Available=False", "--timeout", "1s", "deploy/"+name); res.ExitCode == 0 ||
		!strings.Contains(res.Stderr, "timed out waiting for the condition on deployments/"+name) {
		t.Errorf("wait for a condition that does not come: want a timeout:\n%s", res)
	}
	if res := p.Podctl(t, "scale", "deploy/"+name, "--replicas", "-1"); res.ExitCode == 0 {
		t.Errorf("scale to -1 succeeded:\n%s", res)
	}
}

// TestDeploymentRollingUpdateKeepsReady rolls a new template over 3 replicas with maxUnavailable 0
// and a readiness probe, sampling the Deployment's status and the pods all along, and checks
// that no sample ever saw fewer ready pods (terminating ones not counted) than replicas; then
// history, undo, restart.
func TestDeploymentRollingUpdateKeepsReady(t *testing.T) {
	p := sharedPodd(t)
	name := uniqueName(t, "droll")
	const replicas = 3
	strategy := "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"
	p.ApplyManifest(t, deploymentManifest(name, replicas, "v1", strategy))
	waitDeploymentSettled(t, p, name, replicas, "v1")

	var (
		mu      sync.Mutex
		samples int
		bad     []string
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// podctl directly: t.Fatal belongs to the test's goroutine.
			var d object.Deployment
			var list struct{ Items []*pod.Pod }
			r1 := p.Podctl(t, "get", "deploy", name, "-o", "json")
			r2 := p.Podctl(t, "get", "-o", "json")
			if r1.ExitCode != 0 || r2.ExitCode != 0 || json.Unmarshal([]byte(r1.Stdout), &d) != nil || json.Unmarshal([]byte(r2.Stdout), &list) != nil {
				mu.Lock()
				bad = append(bad, "podctl get failed: "+r1.String()+r2.String())
				mu.Unlock()
				continue
			}
			// A terminating pod counts for nothing, as for the Deployment controller: however
			// long it stays Ready, it is on its way out.
			ready := 0
			for _, q := range list.Items {
				if q.Metadata.Labels["app"] == name && podReady(q) && q.Status.Reason != "Terminating" {
					ready++
				}
			}
			mu.Lock()
			samples++
			if d.Status.ReadyReplicas < replicas || ready < replicas {
				bad = append(bad, fmt.Sprintf("status ready %d, ready pods %d", d.Status.ReadyReplicas, ready))
			}
			mu.Unlock()
		}
	}()
	path := writeManifest(t, deploymentManifest(name, replicas, "v2", strategy))
	mustPodctl(t, p, "apply", "-f", path)
	res := mustPodctl(t, p, "rollout", "status", "deploy/"+name, "--timeout", "180s")
	close(stop)
	<-done
	if !strings.Contains(res.Stdout, fmt.Sprintf("deployment %q successfully rolled out", name)) {
		t.Errorf("rollout status:\n%s", res)
	}
	waitDeploymentSettled(t, p, name, replicas, "v2")
	mu.Lock()
	t.Logf("%d samples during the rollout", samples)
	if samples < 5 {
		t.Errorf("only %d samples: the rollout was not observed", samples)
	}
	if len(bad) > 0 {
		t.Errorf("%d samples saw fewer than %d ready pods: %v", len(bad), replicas, bad)
	}
	mu.Unlock()

	res = mustPodctl(t, p, "rollout", "history", "deploy/"+name)
	if !regexp.MustCompile(`(?m)^1\s+<none>$`).MatchString(res.Stdout) || !regexp.MustCompile(`(?m)^2\s+<none>$`).MatchString(res.Stdout) {
		t.Errorf("history: want revisions 1 and 2:\n%s", res)
	}
	res = mustPodctl(t, p, "rollout", "undo", "deploy/"+name)
	if !strings.Contains(res.Stdout, "deployment.apps/"+name+" rolled back") {
		t.Errorf("undo:\n%s", res)
	}
	mustPodctl(t, p, "rollout", "status", "deploy/"+name, "--timeout", "180s")
	waitDeploymentSettled(t, p, name, replicas, "v1")
	if sets := getReplicaSets(t, p, name); len(sets) != 2 {
		t.Errorf("undo made a new replica set: %d, want 2", len(sets))
	}
	before, _ := deploymentPods(t, p, name)
	mustPodctl(t, p, "rollout", "restart", "deploy/"+name)
	mustPodctl(t, p, "rollout", "status", "deploy/"+name, "--timeout", "180s")
	after := waitDeploymentSettled(t, p, name, replicas, "v1")
	old := map[string]bool{}
	for _, q := range before {
		old[q.Metadata.Name] = true
	}
	for _, q := range after {
		if old[q.Metadata.Name] {
			t.Errorf("pod %s survived rollout restart", q.Metadata.Name)
		}
		if q.Metadata.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			t.Errorf("pod %s has no restartedAt annotation: %v", q.Metadata.Name, q.Metadata.Annotations)
		}
	}
	res = mustPodctl(t, p, "rollout", "history", "deploy/"+name)
	if !regexp.MustCompile(`(?m)^4\s+<none>$`).MatchString(res.Stdout) {
		t.Errorf("history after undo and restart: want revision 4:\n%s", res)
	}
	if res := p.Podctl(t, "rollout", "undo", "deploy/"+name, "--to-revision", "9"); res.ExitCode == 0 ||
		!strings.Contains(res.Stderr, "unable to find specified revision 9 in history") {
		t.Errorf("undo to a missing revision:\n%s", res)
	}
}

// TestDeploymentCrash kills podd (its crash points, internal/fault) at each step of the
// Deployment and ReplicaSet controllers during a scale or a rollout, restarts it, and checks that
// the Deployment ends with exactly its replicas, of its current template, and nothing left over.
// Then a podd restart under a settled Deployment adopts its pods: same pods, same containers.
func TestDeploymentCrash(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	strategy := "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"
	type step struct {
		point string
		// act makes the controllers pass the point; it returns the replicas and version asked.
		act func(t *testing.T, name string) (int, string)
	}
	apply := func(t *testing.T, name string, n int, version string) (int, string) {
		res := p.Podctl(t, "apply", "-f", writeManifest(t, deploymentManifest(name, n, version, strategy)))
		t.Logf("apply %s %d: %s", version, n, strings.TrimSpace(res.Stdout+res.Stderr))
		return n, version
	}
	scale := func(t *testing.T, name string, n int) (int, string) {
		res := p.Podctl(t, "scale", "deploy/"+name, "--replicas", fmt.Sprint(n))
		t.Logf("scale %d: %s", n, strings.TrimSpace(res.Stdout+res.Stderr))
		return n, "v1"
	}
	steps := []step{
		{fault.DeploymentAfterNewReplicaSet, func(t *testing.T, name string) (int, string) { return apply(t, name, 2, "v2") }},
		{fault.DeploymentAfterScale, func(t *testing.T, name string) (int, string) { return apply(t, name, 2, "v2") }},
		{fault.ReplicaSetBeforeCreate, func(t *testing.T, name string) (int, string) { return scale(t, name, 4) }},
		{fault.ReplicaSetAfterCreate, func(t *testing.T, name string) (int, string) { return scale(t, name, 4) }},
		{fault.ReplicaSetBeforeDelete, func(t *testing.T, name string) (int, string) { return scale(t, name, 1) }},
		{fault.DeploymentAfterRevision, func(t *testing.T, name string) (int, string) {
			mustPodctl(t, p, "rollout", "undo", "deploy/"+name)
			return 2, "v0"
		}},
	}
	for _, point := range fault.ControllerPoints {
		if !slices.ContainsFunc(steps, func(s step) bool { return s.point == point }) {
			t.Errorf("crash point %s has no step in this test", point)
		}
	}
	for i, s := range steps {
		t.Run(s.point, func(t *testing.T) {
			name := fmt.Sprintf("dcrash-%d", i)
			if s.point == fault.DeploymentAfterRevision {
				// A history to go back to: v0, then v1.
				apply(t, name, 2, "v0")
				waitDeploymentSettled(t, p, name, 2, "v0")
			}
			apply(t, name, 2, "v1")
			waitDeploymentSettled(t, p, name, 2, "v1")
			p.Kill9(t)
			p.Env = []string{fault.Env + "=" + s.point}
			p.Start(t)
			n, version := s.act(t, name)
			if !p.waitExit(podWaitTimeout) {
				t.Fatalf("podd did not crash at %s", s.point)
			}
			p.Env = nil
			p.Start(t)
			waitDeploymentSettled(t, p, name, n, version)
			// Settled means settled: a few more seconds change nothing.
			time.Sleep(3 * time.Second)
			live := waitDeploymentSettled(t, p, name, n, version)
			sets := getReplicaSets(t, p, name)
			var hash string
			for _, rs := range sets {
				if *rs.Spec.Replicas > 0 {
					if hash != "" {
						t.Errorf("two replica sets with replicas: %v", sets)
					}
					hash = rs.Metadata.Labels["pod-template-hash"]
				}
			}
			for _, q := range live {
				if q.Metadata.Labels["pod-template-hash"] != hash {
					t.Errorf("pod %s of hash %s, want %s", q.Metadata.Name, q.Metadata.Labels["pod-template-hash"], hash)
				}
			}
			mustPodctl(t, p, "delete", "deploy", name)
			waitFor(t, "the deployment's pods to go", func() bool {
				live, term := deploymentPods(t, p, name)
				return len(live)+len(term) == 0
			})
			if sets := getReplicaSets(t, p, name); len(sets) != 0 {
				t.Errorf("%d replica sets left after the deployment's deletion", len(sets))
			}
			// Nothing of any pod made or half-made around the crash is left on the host.
			p.waitNoLeaks(t, nil, nil, podWaitTimeout)
		})
	}

	t.Run("live restore", func(t *testing.T) {
		name := "drestore"
		apply(t, name, 3, "v1")
		before := waitDeploymentSettled(t, p, name, 3, "v1")
		ids := func(pods []*pod.Pod) map[string]string {
			out := map[string]string{}
			for _, q := range pods {
				out[q.Metadata.Name] = q.Metadata.UID + " " + q.Status.ContainerStatuses[0].ContainerID
			}
			return out
		}
		want := ids(before)
		p.Kill9(t)
		p.Start(t)
		waitDeploymentSettled(t, p, name, 3, "v1")
		time.Sleep(3 * time.Second)
		after := waitDeploymentSettled(t, p, name, 3, "v1")
		got := ids(after)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pods after the restart %v, want the same pods and containers %v", got, want)
		}
		for _, q := range after {
			if q.Status.ContainerStatuses[0].RestartCount != 0 {
				t.Errorf("pod %s restarted its container", q.Metadata.Name)
			}
		}
		mustPodctl(t, p, "delete", "deploy", name)
	})
}

// TestDeploymentCrashSweep kills podd with SIGKILL at swept delays after a scale and after a
// rolling update are asked for, then restarts it: each time the Deployment settles at exactly the
// replicas and version asked, with no pod left over, and in the end nothing on the host belongs
// to a pod that is gone.
func TestDeploymentCrashSweep(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	strategy := "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"
	name := "dsweep"
	apply := func(n int, version string) {
		if res := p.Podctl(t, "apply", "-f", writeManifest(t, deploymentManifest(name, n, version, strategy))); res.ExitCode != 0 {
			t.Fatalf("apply: %s", res)
		}
	}
	apply(2, "v1")
	waitDeploymentSettled(t, p, name, 2, "v1")
	replicas, version := 2, "v1"
	for i, delay := range []time.Duration{50 * time.Millisecond, 400 * time.Millisecond, 1500 * time.Millisecond} {
		for _, change := range []string{"scale", "rollout"} {
			if change == "scale" {
				replicas = 4 - replicas + 1 // 3, then 2, then 3 …
				if res := p.Podctl(t, "scale", "deploy/"+name, "--replicas", fmt.Sprint(replicas)); res.ExitCode != 0 {
					t.Fatalf("scale: %s", res)
				}
			} else {
				version = fmt.Sprintf("v%d", i+2)
				apply(replicas, version)
			}
			time.Sleep(delay)
			p.Kill9(t)
			p.Start(t)
			live := waitDeploymentSettled(t, p, name, replicas, version)
			t.Logf("%s, kill after %v: settled at %d pods of %s", change, delay, len(live), version)
		}
	}
	// Settled means settled: a few more seconds change nothing.
	time.Sleep(3 * time.Second)
	live := waitDeploymentSettled(t, p, name, replicas, version)
	if len(live) != replicas {
		t.Errorf("%d pods, want %d", len(live), replicas)
	}
	// Nothing is leaked on the host: every container, snapshot, mount, namespace, folder, CNI
	// address and cgroup podd owns belongs to one of the live pods.
	keep := map[string]bool{}
	for _, q := range live {
		keep[q.Metadata.UID] = true
	}
	p.waitNoLeaks(t, nil, keep, podWaitTimeout)
}
