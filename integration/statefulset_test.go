package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// stsManifest is a StatefulSet of replicas pods with one claim each, whose container appends its
// hostname to /data/hostnames when it starts.
func stsManifest(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
spec:
  serviceName: %[1]s
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: %[3]s
        command: ["sh", "-c", %[4]q]
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 10Mi}
`, name, replicas, busyboxImage, "hostname >> /data/hostnames; "+untilTerm)
}

// maybePod is the pod, or nil when podd has none of that name.
func maybePod(t testing.TB, p *Podd, name string) *pod.Pod {
	t.Helper()
	res := p.Podctl(t, "get", name, "-o", "json")
	if res.ExitCode != 0 {
		if strings.Contains(res.Stderr, "not found") {
			return nil
		}
		t.Fatalf("podctl get %s: %s", name, res)
	}
	var got pod.Pod
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("decode podctl get %s -o json: %v", name, err)
	}
	return &got
}

// claims lists the claims of the podd's default namespace, by name.
func claims(t testing.TB, p *Podd) map[string]*object.PersistentVolumeClaim {
	t.Helper()
	res := mustPodctl(t, p, "get", "pvc", "-o", "json")
	var list struct {
		Items []*object.PersistentVolumeClaim `json:"items"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("decode podctl get pvc -o json: %v\n%s", err, res.Stdout)
	}
	out := map[string]*object.PersistentVolumeClaim{}
	for _, c := range list.Items {
		out[c.Metadata.Name] = c
	}
	return out
}

func claimDir(p *Podd, c *object.PersistentVolumeClaim) string {
	return filepath.Join(p.Root, "volumes", "pvc-"+c.Metadata.UID)
}

// waitRunningReady waits until the pod runs and is Ready.
func waitRunningReady(t *testing.T, p *Podd, name string) *pod.Pod {
	t.Helper()
	waitFor(t, "pod "+name+" to be made", func() bool { return maybePod(t, p, name) != nil })
	return waitPod(t, p, name, "Running and Ready", func(got *pod.Pod) bool {
		if got.Status.Phase != pod.PodRunning {
			return false
		}
		for _, c := range got.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				return true
			}
		}
		return false
	})
}

// waitPodGone waits until podd has no pod of that name.
func waitPodGone(t *testing.T, p *Podd, name string) {
	t.Helper()
	waitFor(t, "pod "+name+" to be gone", func() bool { return maybePod(t, p, name) == nil })
}

func hostnames(t testing.TB, p *Podd, name string) []string {
	t.Helper()
	res := mustPodctl(t, p, "exec", name, "--", "cat", "/data/hostnames")
	return strings.Fields(res.Stdout)
}

// TestStatefulSetKeepsNamesAndClaims: a StatefulSet of 3 makes web-0, web-1, web-2 in order, each
// with its hostname and its own claim; a deleted pod comes back with the same name, hostname and
// claim data; a scale to 1 and back to 3 keeps the claims' data; deleting the StatefulSet and the
// claims removes the claims' folders.
func TestStatefulSetKeepsNamesAndClaims(t *testing.T) {
	p := sharedPodd(t)
	name := "sts-keep"
	p.ApplyManifest(t, stsManifest(name, 3))
	t.Cleanup(func() {
		p.Podctl(t, "delete", "--ignore-not-found", "pvc", "data-"+name+"-0", "data-"+name+"-1", "data-"+name+"-2")
	})
	pods := make([]string, 3)
	for i := range pods {
		pods[i] = fmt.Sprintf("%s-%d", name, i)
	}
	var created []*pod.Pod
	for _, n := range pods {
		created = append(created, waitRunningReady(t, p, n))
	}
	for _, n := range pods {
		waitFor(t, n+" to write its hostname", func() bool { return len(hostnames(t, p, n)) == 1 })
		if got := hostnames(t, p, n); !slices.Equal(got, []string{n}) {
			t.Errorf("%s: /data/hostnames %v, want [%s]", n, got, n)
		}
	}
	cl := claims(t, p)
	for _, n := range pods {
		c := cl["data-"+n]
		if c == nil || c.Status.Phase != "Bound" {
			t.Fatalf("claim data-%s: %+v", n, c)
		}
		data, err := os.ReadFile(filepath.Join(claimDir(p, c), "hostnames"))
		if err != nil || strings.TrimSpace(string(data)) != n {
			t.Errorf("the folder of data-%s holds %q (%v), want %s", n, data, err, n)
		}
	}
	res := mustPodctl(t, p, "get", "pvc")
	if !strings.Contains(res.Stdout, "data-"+name+"-1") || !strings.Contains(res.Stdout, "Bound") || !strings.Contains(res.Stdout, "local-path") {
		t.Errorf("podctl get pvc:\n%s", res)
	}
	waitFor(t, "the StatefulSet to report 3/3", func() bool {
		return strings.Contains(mustPodctl(t, p, "get", "sts", name).Stdout, "3/3")
	})

	if res := mustPodctl(t, p, "describe", "sts", name); !strings.Contains(res.Stdout, "3 desired | 3 total") || !strings.Contains(res.Stdout, "3 Running") {
		t.Errorf("podctl describe sts %s:\n%s", name, res)
	}
	if res := mustPodctl(t, p, "describe", "pvc/data-"+pods[0]); !strings.Contains(res.Stdout, "Bound") || !strings.Contains(res.Stdout, pods[0]) {
		t.Errorf("podctl describe pvc/data-%s:\n%s", pods[0], res)
	}

	// A deleted pod comes back with its name, hostname and claim.
	old := created[1].Metadata.UID
	mustPodctl(t, p, "delete", "pod", pods[1])
	back := waitPod(t, p, pods[1], "made again", func(got *pod.Pod) bool { return got.Metadata.UID != old && got.Status.Phase == pod.PodRunning })
	if back.Spec.Hostname != pods[1] {
		t.Errorf("%s came back with hostname %q", pods[1], back.Spec.Hostname)
	}
	waitFor(t, pods[1]+" to write its hostname again", func() bool { return len(hostnames(t, p, pods[1])) == 2 })
	if got := hostnames(t, p, pods[1]); !slices.Equal(got, []string{pods[1], pods[1]}) {
		t.Errorf("%s after its deletion: /data/hostnames %v, want its name twice", pods[1], got)
	}
	if got := strings.TrimSpace(mustPodctl(t, p, "exec", pods[1], "--", "hostname").Stdout); got != pods[1] {
		t.Errorf("%s's hostname is %q", pods[1], got)
	}

	// Scale to 1 and back: the claims and their data stay.
	p.ApplyManifest(t, stsManifest(name, 1))
	waitPodGone(t, p, pods[2])
	waitPodGone(t, p, pods[1])
	if len(claims(t, p)) < 3 {
		t.Fatalf("claims after the scale down: %v", claims(t, p))
	}
	p.ApplyManifest(t, stsManifest(name, 3))
	for _, n := range pods[1:] {
		waitRunningReady(t, p, n)
	}
	waitFor(t, pods[2]+" to write its hostname again", func() bool { return len(hostnames(t, p, pods[2])) == 2 })
	if got := hostnames(t, p, pods[2]); !slices.Equal(got, []string{pods[2], pods[2]}) {
		t.Errorf("%s after the scale down and up: /data/hostnames %v, want its name twice", pods[2], got)
	}

	// Deleting the StatefulSet removes its pods; deleting the claims then removes their folders.
	dirs := map[string]string{}
	for n, c := range claims(t, p) {
		if strings.HasPrefix(n, "data-"+name+"-") {
			dirs[n] = claimDir(p, c)
		}
	}
	mustPodctl(t, p, "delete", "sts", name)
	for _, n := range pods {
		waitPodGone(t, p, n)
	}
	names := []string{}
	for n := range dirs {
		names = append(names, n)
	}
	sort.Strings(names)
	mustPodctl(t, p, append([]string{"delete", "pvc"}, names...)...)
	for n, dir := range dirs {
		waitFor(t, "claim "+n+" and its folder to go", func() bool {
			_, err := os.Stat(dir)
			return os.IsNotExist(err) && claims(t, p)[n] == nil
		})
	}
}

// TestClaimInUseIsTerminating: a claim deleted while a pod uses it shows Terminating and keeps
// its folder until the pod is removed; a pod whose claim does not exist waits, Pending, and
// starts once the claim is made.
func TestClaimInUseIsTerminating(t *testing.T) {
	p := sharedPodd(t)
	claim := `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pvc-inuse}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
`
	user := `apiVersion: v1
kind: Pod
metadata: {name: pvc-user}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ` + busyboxImage + `
    command: ["sh", "-c", ` + fmt.Sprintf("%q", "echo hi > /data/f; "+untilTerm) + `]
    volumeMounts: [{name: d, mountPath: /data}]
  volumes:
  - name: d
    persistentVolumeClaim: {claimName: pvc-inuse}
`
	p.ApplyManifest(t, user)
	waitPod(t, p, "pvc-user", "waiting for its claim", func(got *pod.Pod) bool {
		return got.Status.Phase == pod.PodPending && len(got.Status.ContainerStatuses) > 0 && got.Status.ContainerStatuses[0].State.Waiting != nil &&
			strings.Contains(got.Status.ContainerStatuses[0].State.Waiting.Message, `"pvc-inuse" not found`)
	})
	p.ApplyManifest(t, claim)
	waitRunningReady(t, p, "pvc-user")
	c := claims(t, p)["pvc-inuse"]
	dir := claimDir(p, c)
	waitFor(t, "the pod to write into its claim", func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "f"))
		return string(data) == "hi\n"
	})
	mustPodctl(t, p, "delete", "pvc", "pvc-inuse")
	res := mustPodctl(t, p, "get", "pvc", "pvc-inuse")
	if !strings.Contains(res.Stdout, "Terminating") {
		t.Errorf("a deleted claim in use: want Terminating:\n%s", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); err != nil {
		t.Errorf("the folder of a claim in use went: %v", err)
	}
	mustPodctl(t, p, "delete", "pod", "pvc-user")
	waitFor(t, "the claim and its folder to go", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err) && claims(t, p)["pvc-inuse"] == nil
	})
}

// TestStatefulSetCrashPoints kills podd with SIGKILL at each named step of a StatefulSet's
// scale-up and of a claim's removal (internal/fault's StatefulSetPoints), at the second pass, and
// checks after a restart that exactly the pods and claims the spec asks for exist, each pod
// running with its own claim, and that no folder is left of a claim that is gone.
func TestStatefulSetCrashPoints(t *testing.T) {
	t.Parallel()
	p := startPodd(t)

	// Live restore: a podd killed and started again adopts the StatefulSet's pods as they run.
	p.ApplyManifest(t, stsManifest("restore", 2))
	before := map[string]string{}
	for _, n := range []string{"restore-0", "restore-1"} {
		before[n] = waitRunningReady(t, p, n).Metadata.UID
	}
	p.Kill9(t)
	p.Start(t)
	for n, uid := range before {
		got := waitRunningReady(t, p, n)
		if got.Metadata.UID != uid || containerStatus(t, got, "app").RestartCount != 0 {
			t.Errorf("%s after a restart of podd: uid %s (was %s), restarts %d; want it adopted as it ran", n, got.Metadata.UID, uid, containerStatus(t, got, "app").RestartCount)
		}
	}
	if all := listPods(t, p); all["restore-2"] != nil {
		t.Errorf("a third pod after the restart")
	}
	mustPodctl(t, p, "delete", "sts", "restore")

	// A rolling update: podd dies right after it made the first updated pod; the restarted podd
	// finishes the rollout with exactly three pods, all at the new revision, on their claims.
	t.Run("rollout", func(t *testing.T) {
		name := "crash-roll"
		p.ApplyManifest(t, stsManifest(name, 3))
		pods := []string{name + "-0", name + "-1", name + "-2"}
		for _, n := range pods {
			waitRunningReady(t, p, n)
		}
		before := claims(t, p)
		p.Kill9(t)
		p.Env = []string{fault.Env + "=" + fault.StatefulSetAfterPod}
		p.Start(t)
		mustPodctl(t, p, "apply", "-f", writeManifest(t, strings.Replace(stsManifest(name, 3), "hostname >> /data/hostnames", "hostname >> /data/hostnames; true", 1)))
		if !p.waitExit(podWaitTimeout) {
			t.Fatalf("podd did not crash at %s during the rollout", fault.StatefulSetAfterPod)
		}
		p.Env = nil
		p.Start(t)
		var set object.StatefulSet
		waitFor(t, "the rollout to finish", func() bool {
			if err := json.Unmarshal([]byte(mustPodctl(t, p, "get", "sts", name, "-o", "json").Stdout), &set); err != nil {
				t.Fatal(err)
			}
			st := set.Status
			return st.UpdatedReplicas == 3 && st.ReadyReplicas == 3 && st.CurrentRevision == st.UpdateRevision
		})
		var mine []string
		for n, got := range listPods(t, p) {
			if strings.HasPrefix(n, name+"-") {
				mine = append(mine, n)
				if rev := got.Metadata.Labels["controller-revision-hash"]; rev != set.Status.UpdateRevision {
					t.Errorf("%s at revision %s, want %s", n, rev, set.Status.UpdateRevision)
				}
			}
		}
		sort.Strings(mine)
		if !slices.Equal(mine, pods) {
			t.Errorf("pods after the rollout: %v, want %v", mine, pods)
		}
		after := claims(t, p)
		for _, n := range pods {
			if after["data-"+n] == nil || after["data-"+n].Metadata.UID != before["data-"+n].Metadata.UID {
				t.Errorf("claim data-%s changed in the rollout", n)
			}
		}
		mustPodctl(t, p, "delete", "sts", name)
		for _, n := range pods {
			waitPodGone(t, p, n)
		}
	})

	for i, point := range fault.StatefulSetPoints {
		t.Run(point, func(t *testing.T) {
			name := fmt.Sprintf("crash-sts-%d", i)
			pods := []string{name + "-0", name + "-1", name + "-2"}
			p.Kill9(t)
			p.Env = []string{fault.Env + "=" + point + ":2"}
			p.Start(t)
			path := writeManifest(t, stsManifest(name, 3))
			if point == fault.ClaimAfterFolderRemoved {
				// Two claims no pod uses, deleted one after the other: podd dies removing the second.
				mustPodctl(t, p, "apply", "-f", writeManifest(t, stsManifest(name, 0)))
				for _, n := range []string{"x0", "x1"} {
					mustPodctl(t, p, "apply", "-f", writeManifest(t, fmt.Sprintf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: %s-%s}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Mi}}\n", name, n)))
				}
				waitFor(t, "the claims to be bound", func() bool {
					cl := claims(t, p)
					return cl[name+"-x0"] != nil && cl[name+"-x0"].Status.Phase == "Bound" && cl[name+"-x1"] != nil && cl[name+"-x1"].Status.Phase == "Bound"
				})
				p.Podctl(t, "delete", "pvc", name+"-x0", name+"-x1")
			} else {
				p.Podctl(t, "apply", "-f", path)
			}
			if !p.waitExit(podWaitTimeout) {
				t.Fatalf("podd did not crash at %s:2", point)
			}
			p.Env = nil
			p.Start(t)
			if point != fault.ClaimAfterFolderRemoved {
				for _, n := range pods {
					waitRunningReady(t, p, n)
				}
			}
			waitFor(t, "the deleted claims to go", func() bool {
				cl := claims(t, p)
				return cl[name+"-x0"] == nil && cl[name+"-x1"] == nil
			})
			all := listPods(t, p)
			var mine []string
			for n := range all {
				if strings.HasPrefix(n, name+"-") {
					mine = append(mine, n)
				}
			}
			sort.Strings(mine)
			want := pods
			if point == fault.ClaimAfterFolderRemoved {
				want = nil
			}
			if !slices.Equal(mine, want) {
				t.Errorf("pods after the crash: %v, want %v", mine, want)
			}
			cl := claims(t, p)
			var claimNames []string
			uids := map[string]bool{}
			for n, c := range cl {
				uids["pvc-"+c.Metadata.UID] = true
				if strings.HasPrefix(n, "data-"+name+"-") || strings.HasPrefix(n, name+"-") {
					claimNames = append(claimNames, n)
				}
			}
			sort.Strings(claimNames)
			wantClaims := []string{"data-" + name + "-0", "data-" + name + "-1", "data-" + name + "-2"}
			if point == fault.ClaimAfterFolderRemoved {
				wantClaims = nil
			}
			if !slices.Equal(claimNames, wantClaims) {
				t.Errorf("claims after the crash: %v, want %v", claimNames, wantClaims)
			}
			for _, n := range mine {
				got := all[n]
				if len(got.Spec.Volumes) != 1 || got.Spec.Volumes[0].PersistentVolumeClaim == nil || got.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-"+n {
					t.Errorf("pod %s volumes: %+v", n, got.Spec.Volumes)
				}
			}
			waitFor(t, "no folder of a claim that is gone", func() bool {
				entries, _ := os.ReadDir(filepath.Join(p.Root, "volumes"))
				for _, e := range entries {
					if !uids[e.Name()] {
						return false
					}
				}
				return true
			})
			// Clean up for the next point.
			mustPodctl(t, p, "delete", "sts", name)
			for _, n := range mine {
				waitPodGone(t, p, n)
			}
			if len(claimNames) > 0 {
				mustPodctl(t, p, append([]string{"delete", "pvc"}, claimNames...)...)
			}
			waitFor(t, "the claims to go", func() bool {
				cl := claims(t, p)
				for _, n := range claimNames {
					if cl[n] != nil {
						return false
					}
				}
				return true
			})
		})
	}
}

// TestStatefulSetExample runs specs/examples/workloads/statefulset.yaml as specs/workloads/statefulset.md
// shows it (with the test's busybox image): three pods Ready in order, each with its hostname in
// its claim, a deleted one back with its data, and the claims' folders gone with the claims.
func TestStatefulSetExample(t *testing.T) {
	p := sharedPodd(t)
	data, err := os.ReadFile("../specs/examples/workloads/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.ReplaceAll(string(data), "localhost/podd/busybox:1.35", busyboxImage)
	p.ApplyManifest(t, manifest)
	for _, n := range []string{"db-0", "db-1", "db-2"} {
		waitRunningReady(t, p, n)
	}
	if got := strings.TrimSpace(mustPodctl(t, p, "exec", "db-1", "--", "hostname").Stdout); got != "db-1" {
		t.Errorf("db-1's hostname: %q", got)
	}
	if got := strings.TrimSpace(mustPodctl(t, p, "exec", "db-1", "--", "cat", "/data/boots").Stdout); got != "db-1" {
		t.Errorf("db-1's /data/boots: %q", got)
	}
	old := maybePod(t, p, "db-1").Metadata.UID
	mustPodctl(t, p, "delete", "pod", "db-1")
	waitPod(t, p, "db-1", "made again and Ready", func(got *pod.Pod) bool {
		return got.Metadata.UID != old && got.Status.Phase == pod.PodRunning
	})
	waitFor(t, "db-1 to boot twice", func() bool {
		return slices.Equal(strings.Fields(mustPodctl(t, p, "exec", "db-1", "--", "cat", "/data/boots").Stdout), []string{"db-1", "db-1"})
	})
	if res := mustPodctl(t, p, "describe", "pvc", "data-db-1"); !strings.Contains(res.Stdout, "Used By") || !strings.Contains(res.Stdout, "db-1") {
		t.Errorf("describe pvc data-db-1:\n%s", res)
	}
	cl := claims(t, p)
	mustPodctl(t, p, "delete", "sts", "db")
	for _, n := range []string{"db-0", "db-1", "db-2"} {
		waitPodGone(t, p, n)
	}
	mustPodctl(t, p, "delete", "pvc", "data-db-0", "data-db-1", "data-db-2")
	for _, n := range []string{"data-db-0", "data-db-1", "data-db-2"} {
		dir := claimDir(p, cl[n])
		waitFor(t, n+"'s folder to go", func() bool {
			_, err := os.Stat(dir)
			return os.IsNotExist(err)
		})
	}
}
