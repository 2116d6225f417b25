package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// jobEnv runs the Job controller against fakePods and a memStore with a clock the test moves.
type jobEnv struct {
	t     *testing.T
	ctx   context.Context
	store *memStore
	api   *apiPods
	pods  *fakePods
	objs  *Objects
	c     *Jobs
	now   time.Time
}

func newJobEnv(t *testing.T, manifest string) *jobEnv {
	t.Helper()
	e := &jobEnv{t: t, ctx: context.Background(), store: &memStore{}, api: &apiPods{pods: map[string]*pod.Pod{}}, pods: newFakePods(),
		now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.pods.removeFor = 0
	e.restart()
	e.apply(manifest)
	return e
}

// restart drops the controller and its objects and makes them again from the same store and
// pods: what a podd restarted after a crash has.
func (e *jobEnv) restart() {
	e.t.Helper()
	objs, err := NewObjects(e.ctx, e.store, e.api, nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.objs = objs
	e.c = &Jobs{Objects: objs, Pods: e.pods, Now: func() time.Time { return e.now }}
}

func (e *jobEnv) apply(manifest string) {
	e.t.Helper()
	if _, err := e.objs.Apply(e.ctx, decodeObjects(e.t, manifest)); err != nil {
		e.t.Fatal(err)
	}
}

// sync runs one sync and waits for the removals it started.
func (e *jobEnv) sync() time.Duration {
	e.t.Helper()
	after, err := e.c.Sync(e.ctx)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	waitFor(e.t, "the removals", func() bool {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return len(e.c.busy) == 0
	})
	return after
}

// converge syncs until the Job's status and pods stop changing.
func (e *jobEnv) converge() {
	e.t.Helper()
	last := ""
	for range 20 {
		e.sync()
		st, _ := json.Marshal(e.job().Status)
		state := fmt.Sprintf("%s %v", st, e.names())
		if state == last {
			return
		}
		last = state
	}
	e.t.Fatalf("no steady state: %s", last)
}

func (e *jobEnv) job() *object.Job {
	e.t.Helper()
	obj, err := e.objs.Get("Job", "default", "pi")
	if err != nil {
		e.t.Fatal(err)
	}
	return obj.(*object.Job)
}

func (e *jobEnv) list() []*pod.Pod {
	ps, _ := e.pods.List(e.ctx, "default")
	sort.Slice(ps, func(i, j int) bool { return ps[i].Metadata.Name < ps[j].Metadata.Name })
	return ps
}

func (e *jobEnv) names() []string {
	var out []string
	for _, p := range e.list() {
		out = append(out, p.Metadata.Name+":"+string(p.Status.Phase))
	}
	return out
}

// running lists the pods that have not finished.
func (e *jobEnv) running() []*pod.Pod {
	var out []*pod.Pod
	for _, p := range e.list() {
		if p.Status.Phase != pod.PodSucceeded && p.Status.Phase != pod.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// finish ends a pod as its worker would report it: its container terminated with code.
func (e *jobEnv) finish(p *pod.Pod, code int32) {
	phase := pod.PodSucceeded
	if code != 0 {
		phase = pod.PodFailed
	}
	at := e.now
	e.pods.setStatus(p.Metadata.Namespace, p.Metadata.Name, func(s *pod.PodStatus) {
		s.Phase = phase
		s.ContainerStatuses = []pod.ContainerStatus{{Name: "pi", State: pod.ContainerState{Terminated: &pod.ContainerStateTerminated{ExitCode: code, FinishedAt: &at}}}}
	})
}

func (e *jobEnv) runAll() {
	for _, p := range e.running() {
		e.pods.setStatus(p.Metadata.Namespace, p.Metadata.Name, func(s *pod.PodStatus) {
			s.Phase = pod.PodRunning
			s.Conditions = []pod.PodCondition{{Type: "Ready", Status: "True"}}
		})
	}
}

func (e *jobEnv) condition(typ string) *object.Condition {
	return findCondition(e.job().Status.Conditions, typ)
}

func (e *jobEnv) wantCounts(active, succeeded, failed int32) {
	e.t.Helper()
	st := e.job().Status
	if st.Active != active || st.Succeeded != succeeded || st.Failed != failed {
		e.t.Fatalf("active %d succeeded %d failed %d, want %d %d %d (pods %v)", st.Active, st.Succeeded, st.Failed, active, succeeded, failed, e.names())
	}
}

func (e *jobEnv) wantCondition(typ, reason string) {
	e.t.Helper()
	c := e.condition(typ)
	if c == nil || c.Status != "True" || c.Reason != reason {
		e.t.Fatalf("condition %s: %+v, want True with reason %s; conditions %+v", typ, c, reason, e.job().Status.Conditions)
	}
}

func jobYAML(spec string, restartPolicy string) string {
	return `apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
` + spec + `
  template:
    spec:
      restartPolicy: ` + restartPolicy + `
      containers: [{name: pi, image: busybox, command: [sh, -c, "exit 0"]}]
`
}

func TestJobNonIndexed(t *testing.T) {
	e := newJobEnv(t, jobYAML("  completions: 3\n  parallelism: 2", "Never"))
	e.sync()
	e.wantCounts(2, 0, 0)
	job := e.job()
	if job.Status.StartTime == nil {
		t.Fatal("no startTime")
	}
	for _, p := range e.list() {
		n := p.Metadata.Name
		if !strings.HasPrefix(n, "pi-") || len(n) != len("pi-")+5 || strings.Trim(n[3:], generateNameAlphabet) != "" {
			t.Errorf("pod name %q: want pi-<5 characters of %s>", n, generateNameAlphabet)
		}
		l := p.Metadata.Labels
		if l[object.LabelJobControllerUID] != job.Metadata.UID || l[object.LabelJobName] != "pi" || l["job-name"] != "pi" {
			t.Errorf("pod labels %v", l)
		}
		if refs := p.Metadata.OwnerReferences; len(refs) != 1 || refs[0].Kind != "Job" || refs[0].UID != job.Metadata.UID || refs[0].APIVersion != "batch/v1" {
			t.Errorf("ownerReferences %+v", refs)
		}
		if _, ok := p.Metadata.Annotations[AnnotationJobCompletionIndex]; ok {
			t.Errorf("a NonIndexed pod has a completion index: %v", p.Metadata.Annotations)
		}
	}
	e.runAll()
	e.sync()
	if r := e.job().Status.Ready; r == nil || *r != 2 {
		t.Errorf("ready %v, want 2", r)
	}
	e.finish(e.running()[0], 0)
	e.sync()
	e.wantCounts(2, 1, 0) // the third pod started: 2 completions left, parallelism 2
	for _, p := range e.running() {
		e.finish(p, 0)
	}
	e.sync()
	e.wantCounts(0, 3, 0)
	e.wantCondition(JobSuccessCriteriaMet, jobReasonCompletionsReached)
	e.wantCondition(JobComplete, jobReasonCompletionsReached)
	if e.job().Status.CompletionTime == nil {
		t.Error("no completionTime")
	}
	if n := len(e.list()); n != 3 {
		t.Errorf("%d pods kept, want the 3 finished ones (their logs stay readable)", n)
	}
	e.converge()
	e.wantCounts(0, 3, 0)
}

// TestJobWorkQueue: without completions, the Job is done once one pod succeeded and the others ended.
func TestJobWorkQueue(t *testing.T) {
	e := newJobEnv(t, jobYAML("  parallelism: 3", "Never"))
	e.sync()
	e.wantCounts(3, 0, 0)
	run := e.running()
	e.finish(run[0], 0)
	e.sync()
	e.wantCounts(2, 1, 0) // none started after a success
	if e.condition(JobComplete) != nil {
		t.Fatal("complete while pods still run")
	}
	e.finish(run[1], 0)
	e.finish(run[2], 0)
	e.converge()
	e.wantCounts(0, 3, 0)
	e.wantCondition(JobComplete, jobReasonCompletionsReached)
}

func TestJobIndexed(t *testing.T) {
	e := newJobEnv(t, jobYAML("  completions: 6\n  parallelism: 2\n  completionMode: Indexed", "Never"))
	e.c.Backoff = time.Second
	e.sync()
	e.wantCounts(2, 0, 0)
	for _, p := range e.list() {
		ix := podIndex(p)
		if ix != 0 && ix != 1 {
			t.Fatalf("pod %s index %d, want 0 and 1 first", p.Metadata.Name, ix)
		}
		prefix := fmt.Sprintf("pi-%d-", ix)
		if !strings.HasPrefix(p.Metadata.Name, prefix) || len(p.Metadata.Name) != len(prefix)+5 {
			t.Errorf("pod name %q, want %s<5 characters>", p.Metadata.Name, prefix)
		}
		if p.Metadata.Labels[LabelJobCompletionIndex] != fmt.Sprint(ix) {
			t.Errorf("labels %v", p.Metadata.Labels)
		}
		if p.Spec.Hostname != fmt.Sprintf("pi-%d", ix) {
			t.Errorf("hostname %q", p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != EnvJobCompletionIndex || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("env %+v", env)
		}
	}
	// Index 1 succeeds, index 0's pod is killed: after the backoff 0 starts again, and 2.
	byIndex := func(ix int) *pod.Pod {
		for _, p := range e.running() {
			if podIndex(p) == ix {
				return p
			}
		}
		t.Fatalf("no running pod of index %d in %v", ix, e.names())
		return nil
	}
	e.finish(byIndex(1), 0)
	e.finish(byIndex(0), 137)
	after := e.sync()
	e.wantCounts(0, 1, 1) // the Job's backoff holds every new pod
	if after <= 0 || after > time.Second {
		t.Errorf("requeue after %v, want the backoff (1s)", after)
	}
	if e.job().Status.CompletedIndexes != "1" {
		t.Errorf("completedIndexes %q", e.job().Status.CompletedIndexes)
	}
	e.now = e.now.Add(time.Second)
	e.sync()
	e.wantCounts(2, 1, 1)
	byIndex(0)
	for ix := range 6 {
		if ix == 1 {
			continue
		}
		e.finish(byIndex(ix), 0)
		e.sync()
	}
	e.converge()
	e.wantCounts(0, 6, 1)
	if got := e.job().Status.CompletedIndexes; got != "0-5" {
		t.Errorf("completedIndexes %q, want 0-5", got)
	}
	e.wantCondition(JobComplete, jobReasonCompletionsReached)
	succeeded := map[int]int{}
	for _, p := range e.list() {
		if p.Status.Phase == pod.PodSucceeded {
			succeeded[podIndex(p)]++
		}
	}
	for ix := range 6 {
		if succeeded[ix] != 1 {
			t.Errorf("index %d succeeded %d times", ix, succeeded[ix])
		}
	}
}

// TestJobBackoffLimit: failed pods count exactly against backoffLimit (the limit+1th failure
// fails the Job), and under OnFailure the containers' restarts do, as Kubernetes counts them.
func TestJobBackoffLimit(t *testing.T) {
	t.Run("Never", func(t *testing.T) {
		e := newJobEnv(t, jobYAML("  backoffLimit: 2", "Never"))
		e.c.Backoff = time.Millisecond
		for i := range 3 {
			e.sync()
			run := e.running()
			if len(run) != 1 {
				t.Fatalf("failure %d: running %v", i, e.names())
			}
			e.finish(run[0], 1)
			e.now = e.now.Add(time.Second)
			e.sync()
			if i < 2 && e.condition(JobFailureTarget) != nil {
				t.Fatalf("failed after %d failures with backoffLimit 2", i+1)
			}
		}
		e.converge()
		e.wantCounts(0, 0, 3)
		e.wantCondition(JobFailureTarget, jobReasonBackoffLimitExceeded)
		e.wantCondition(JobFailed, jobReasonBackoffLimitExceeded)
		if len(e.list()) != 3 {
			t.Errorf("pods %v, want the 3 failed ones", e.names())
		}
	})
	t.Run("OnFailure", func(t *testing.T) {
		e := newJobEnv(t, jobYAML("  backoffLimit: 2", "OnFailure"))
		e.sync()
		p := e.running()[0]
		restarts := func(n int32) {
			e.pods.setStatus("default", p.Metadata.Name, func(s *pod.PodStatus) {
				s.Phase = pod.PodRunning
				s.ContainerStatuses = []pod.ContainerStatus{{Name: "pi", RestartCount: n, State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}}}
			})
		}
		restarts(1)
		e.sync()
		if e.condition(JobFailureTarget) != nil {
			t.Fatal("failed after 1 restart with backoffLimit 2")
		}
		restarts(2)
		e.converge()
		e.wantCondition(JobFailed, jobReasonBackoffLimitExceeded)
		e.wantCounts(0, 0, 1) // the running pod, removed, counts as failed once
		if len(e.list()) != 0 {
			t.Errorf("pods %v, want the running one removed", e.names())
		}
	})
}

func TestJobBackoffLimitPerIndex(t *testing.T) {
	e := newJobEnv(t, jobYAML("  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n  backoffLimitPerIndex: 1", "Never"))
	e.c.Backoff = time.Millisecond
	e.sync()
	for _, p := range e.list() {
		if p.Metadata.Annotations[AnnotationJobIndexFailures] != "0" {
			t.Fatalf("pod %s: failure count %q, want 0", p.Metadata.Name, p.Metadata.Annotations[AnnotationJobIndexFailures])
		}
	}
	of := func(ix int) *pod.Pod {
		for _, p := range e.running() {
			if podIndex(p) == ix {
				return p
			}
		}
		t.Fatalf("no running pod of index %d: %v", ix, e.names())
		return nil
	}
	e.finish(of(1), 1)
	e.now = e.now.Add(time.Second)
	e.sync()
	if got := of(1).Metadata.Annotations[AnnotationJobIndexFailures]; got != "1" {
		t.Fatalf("second pod of index 1: failure count %q, want 1", got)
	}
	if f := e.job().Status.FailedIndexes; f == nil || *f != "" {
		t.Fatalf("failedIndexes %v after one failure", f)
	}
	e.finish(of(1), 1)
	e.sync()
	if f := e.job().Status.FailedIndexes; f == nil || *f != "1" {
		t.Fatalf("failedIndexes %v, want 1", f)
	}
	if e.condition(JobFailureTarget) != nil {
		t.Fatal("the Job failed while indexes 0 and 2 still run")
	}
	e.finish(of(0), 0)
	e.finish(of(2), 0)
	e.converge()
	e.wantCondition(JobFailed, jobReasonFailedIndexes)
	st := e.job().Status
	if st.CompletedIndexes != "0,2" || st.Failed != 2 || st.Succeeded != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestJobMaxFailedIndexes(t *testing.T) {
	e := newJobEnv(t, jobYAML("  completions: 4\n  parallelism: 4\n  completionMode: Indexed\n  backoffLimitPerIndex: 0\n  maxFailedIndexes: 0", "Never"))
	e.sync()
	e.finish(e.running()[0], 1)
	e.converge()
	e.wantCondition(JobFailed, jobReasonMaxFailedIndexes)
	e.wantCounts(0, 0, 4) // the failed pod and the three running ones removed
}

func TestJobDeadline(t *testing.T) {
	e := newJobEnv(t, jobYAML("  parallelism: 2\n  completions: 4\n  activeDeadlineSeconds: 10", "Never"))
	after := e.sync()
	if after <= 0 || after > 10*time.Second {
		t.Errorf("requeue after %v, want at the deadline", after)
	}
	e.now = e.now.Add(9 * time.Second)
	e.sync()
	if e.condition(JobFailureTarget) != nil {
		t.Fatal("failed before the deadline")
	}
	e.now = e.now.Add(time.Second)
	e.converge()
	e.wantCondition(JobFailed, jobReasonDeadlineExceeded)
	e.wantCounts(0, 0, 2)
	if len(e.list()) != 0 {
		t.Errorf("running pods not stopped: %v", e.names())
	}
}

func TestJobSuspendResume(t *testing.T) {
	e := newJobEnv(t, jobYAML("  parallelism: 2\n  completions: 4\n  suspend: true", "Never"))
	e.sync()
	e.wantCounts(0, 0, 0)
	if e.job().Status.StartTime != nil || len(e.list()) != 0 {
		t.Fatalf("a suspended Job started: %+v %v", e.job().Status, e.names())
	}
	e.wantCondition(JobSuspended, "JobSuspended")

	e.apply(jobYAML("  parallelism: 2\n  completions: 4\n  suspend: false", "Never"))
	e.sync()
	e.wantCounts(2, 0, 0)
	if c := e.condition(JobSuspended); c == nil || c.Status != "False" || c.Reason != "JobResumed" {
		t.Errorf("suspended condition %+v", c)
	}
	if e.job().Status.StartTime == nil {
		t.Error("no startTime after resume")
	}
	e.finish(e.running()[0], 0)
	e.sync()

	e.apply(jobYAML("  parallelism: 2\n  completions: 4\n  suspend: true", "Never"))
	e.converge()
	e.wantCounts(0, 1, 0) // removed for the suspension: not failures
	e.wantCondition(JobSuspended, "JobSuspended")
	if n := len(e.running()); n != 0 {
		t.Errorf("%d pods run in a suspended Job", n)
	}
	e.apply(jobYAML("  parallelism: 2\n  completions: 4\n  suspend: false", "Never"))
	e.sync()
	e.wantCounts(2, 1, 0)
}

func TestJobTTL(t *testing.T) {
	e := newJobEnv(t, jobYAML("  ttlSecondsAfterFinished: 5", "Never"))
	e.sync()
	e.finish(e.running()[0], 0)
	after := e.sync()
	e.wantCondition(JobComplete, jobReasonCompletionsReached)
	if after <= 0 || after > 5*time.Second {
		t.Errorf("requeue after %v, want at the TTL", after)
	}
	e.now = e.now.Add(4 * time.Second)
	e.sync()
	e.job()
	e.now = e.now.Add(time.Second)
	e.sync()
	if _, err := e.objs.Get("Job", "default", "pi"); err == nil {
		t.Fatal("the Job outlived its ttlSecondsAfterFinished")
	}
}

// TestJobCrashReplay: a controller dropped after it stored its decisions but before it acted (the
// removals failed: a crash) and made again from the same store and pods counts nothing twice
// and makes no extra pod.
func TestJobCrashReplay(t *testing.T) {
	t.Run("succeeded pod", func(t *testing.T) {
		e := newJobEnv(t, jobYAML("  completions: 2\n  parallelism: 1", "Never"))
		e.sync()
		e.finish(e.running()[0], 0)
		e.sync()
		e.wantCounts(1, 1, 0)
		for range 3 {
			e.restart()
			e.sync()
			e.wantCounts(1, 1, 0)
		}
		if len(e.list()) != 2 {
			t.Errorf("pods %v, want the finished one and one running", e.names())
		}
	})
	t.Run("deadline", func(t *testing.T) {
		e := newJobEnv(t, jobYAML("  completions: 4\n  parallelism: 2\n  activeDeadlineSeconds: 5", "Never"))
		e.sync()
		e.now = e.now.Add(5 * time.Second)
		e.pods.failRemove = errors.New("crash")
		e.sync()
		e.wantCounts(0, 0, 2)
		if len(e.list()) != 2 {
			t.Fatalf("pods %v", e.names())
		}
		e.pods.failRemove = nil
		e.restart()
		e.converge()
		e.wantCounts(0, 0, 2)
		e.wantCondition(JobFailed, jobReasonDeadlineExceeded)
		if len(e.list()) != 0 {
			t.Errorf("pods %v left", e.names())
		}
	})
	t.Run("indexed", func(t *testing.T) {
		e := newJobEnv(t, jobYAML("  completions: 3\n  parallelism: 3\n  completionMode: Indexed", "Never"))
		e.sync()
		for _, p := range e.running() {
			e.finish(p, 0)
		}
		e.sync()
		e.restart()
		e.converge()
		e.wantCounts(0, 3, 0)
		if len(e.list()) != 3 {
			t.Errorf("pods %v", e.names())
		}
	})
}

func TestIndexIntervals(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 4}, "0-2,4"},
		{[]int{5, 3, 1, 2}, "1-3,5"},
		{[]int{0, 2, 4, 5, 6, 9}, "0,2,4-6,9"},
	} {
		set := map[int]bool{}
		for _, i := range tc.in {
			set[i] = true
		}
		got := formatIndexes(set)
		if got != tc.want {
			t.Errorf("format %v = %q, want %q", tc.in, got, tc.want)
		}
		back := parseIndexes(got)
		if len(back) != len(set) {
			t.Errorf("parse %q = %v", got, back)
		}
		for i := range set {
			if !back[i] {
				t.Errorf("parse %q lost %d", got, i)
			}
		}
	}
}

// TestUpdateStatusKeepsApply: a status written from a copy read before an apply keeps the
// apply's spec, and a deleted object is not brought back.
func TestUpdateStatusKeepsApply(t *testing.T) {
	e := newJobEnv(t, jobYAML("  parallelism: 2", "Never"))
	old := e.job()
	e.apply(jobYAML("  parallelism: 2\n  suspend: true", "Never"))
	old.Status.Failed = 7
	if err := e.objs.UpdateStatus(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	j := e.job()
	if !*j.Spec.Suspend || j.Status.Failed != 7 {
		t.Errorf("suspend %v failed %d, want true and 7", *j.Spec.Suspend, j.Status.Failed)
	}
	if err := e.objs.Delete(e.ctx, "Job", "default", "pi", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.objs.UpdateStatus(e.ctx, old); err == nil {
		t.Error("a deleted Job's status was stored")
	}
	if _, err := e.objs.Get("Job", "default", "pi"); err == nil {
		t.Error("a deleted Job came back")
	}
}
