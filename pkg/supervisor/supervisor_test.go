package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

func startManager(t testing.TB, rt *fakeRuntime, st *memStore) *Manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, NodeName: "node-1", LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond, RetryDelay: 20 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	return m
}

// waitFor waits, on status changes rather than by polling, until cond holds for the pod.
func waitFor(t testing.TB, m *Manager, name string, what string, cond func(*pod.Pod) bool) *pod.Pod {
	t.Helper()
	deadline := time.After(30 * time.Second) // a bound on a wait, not a figure: generous for a loaded machine
	for {
		changed := m.Changed()
		var p *pod.Pod
		if got, err := m.Get(context.Background(), "default", name); err == nil {
			p = got
		}
		if cond(p) {
			return p
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; pod: %+v", what, p)
		}
	}
}

const twoContainers = `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 30
  containers:
  - {name: a, image: "busybox:1"}
  - {name: b, image: "busybox:1"}
`

func webManifest(policy string) []byte {
	return []byte(strings.Replace(twoContainers, "%s", policy, 1))
}

func phaseIs(ph pod.PodPhase) func(*pod.Pod) bool {
	return func(p *pod.Pod) bool { return p != nil && p.Status.Phase == ph }
}

func TestCreateStartsAllContainersAndStoresFirst(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	pods, err := create(context.Background(), m, webManifest("Always"))
	if err != nil {
		t.Fatal(err)
	}
	if n := st.count(); n != 1 {
		t.Fatalf("store has %d records after Create returned, want 1", n)
	}
	if pods[0].Metadata.UID == "" || pods[0].Metadata.Namespace != "default" {
		t.Fatalf("uid/namespace not set: %+v", pods[0].Metadata)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	if len(rt.running()) != 2 {
		t.Fatalf("running = %v, want 2", rt.running())
	}
	p := waitFor(t, m, "web", "Running and Ready", func(p *pod.Pod) bool {
		return p.Status.Phase == pod.PodRunning && p.Status.Conditions[3].Status == "True"
	})
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil || !s.Ready || !strings.HasPrefix(s.ContainerID, "containerd://") {
			t.Errorf("container %s status %+v", s.Name, s)
		}
	}
}

func TestCreateConflictCreatesNothing(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	two := append(append([]byte(strings.Replace(string(webManifest("Always")), "name: web", "name: other", 1)), "\n---\n"...), webManifest("Always")...)
	_, err := create(context.Background(), m, two)
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("err = %v, want already exists", err)
	}
	if _, err := m.Get(context.Background(), "default", "other"); !errdefs.IsNotFound(err) {
		t.Fatalf("pod 'other' of the refused manifest exists: %v", err)
	}
	if n := st.count(); n != 1 {
		t.Fatalf("store has %d records, want 1", n)
	}
}

func TestInvalidManifestCreatesNothing(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	_, err := create(context.Background(), m, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - {name: a, image: busybox:1, bogus: 1}\n"))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "spec.containers[0].bogus") {
		t.Fatalf("err = %v, want invalid naming spec.containers[0].bogus", err)
	}
	if n, c := st.count(), len(rt.running()); n != 0 || c != 0 {
		t.Fatalf("something was created: %d records, %d containers", n, c)
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy       string
		code         int32
		wantPhase    pod.PodPhase
		wantRestarts int32
	}{
		{"Never", 0, pod.PodSucceeded, 0},
		{"Never", 3, pod.PodFailed, 0},
		{"OnFailure", 0, pod.PodSucceeded, 0},
		{"OnFailure", 3, pod.PodRunning, 1},
		{"Always", 0, pod.PodRunning, 1},
	} {
		t.Run(tc.policy+"/"+string(rune('0'+tc.code)), func(t *testing.T) {
			rt := newFakeRuntime()
			m := startManager(t, rt, newMemStore())
			pods, err := create(context.Background(), m, webManifest(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			uid := pods[0].Metadata.UID
			if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
				t.Fatal(err)
			}
			rt.exit(uid+"-a-0", tc.code)
			rt.exit(uid+"-b-0", tc.code)
			p := waitFor(t, m, "web", "the restart policy's outcome", func(p *pod.Pod) bool {
				if tc.wantRestarts > 0 {
					return p.Status.ContainerStatuses[0].RestartCount == tc.wantRestarts && p.Status.ContainerStatuses[0].State.Running != nil
				}
				return p.Status.Phase == tc.wantPhase
			})
			if p.Status.Phase != tc.wantPhase {
				t.Fatalf("phase = %s, want %s", p.Status.Phase, tc.wantPhase)
			}
			s := p.Status.ContainerStatuses[0]
			if tc.wantRestarts > 0 {
				if s.LastState.Terminated == nil || s.LastState.Terminated.ExitCode != tc.code {
					t.Fatalf("lastState = %+v, want terminated with %d", s.LastState, tc.code)
				}
				return
			}
			want := pod.ReasonCompleted
			if tc.code != 0 {
				want = pod.ReasonError
			}
			if s.State.Terminated == nil || s.State.Terminated.Reason != want || s.State.Terminated.ExitCode != tc.code {
				t.Fatalf("state = %+v, want terminated %s", s.State.Terminated, want)
			}
		})
	}
}

func TestStopContract(t *testing.T) {
	rt := newFakeRuntime()
	rt.ignoreTERM["b"] = true
	m := startManager(t, rt, newMemStore())
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	grace := 1 * time.Second
	p, err := m.Stop(context.Background(), "default", "web", &grace)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Reason != pod.ReasonStopped {
		t.Fatalf("reason = %q, want Stopped", p.Status.Reason)
	}
	codes := map[string]int32{}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Terminated == nil {
			t.Fatalf("%s not terminated after Stop: %+v", s.Name, s.State)
		}
		codes[s.Name] = s.State.Terminated.ExitCode
	}
	if codes["a"] != 143 || codes["b"] != 137 {
		t.Fatalf("exit codes = %v, want a:143 (TERM) b:137 (KILL)", codes)
	}
	if got := strings.Join(rt.signals, " "); !strings.Contains(got, "b:SIGTERM") || !strings.Contains(got, "b:SIGKILL") || strings.Contains(got, "a:SIGKILL") {
		t.Fatalf("signals = %s", got)
	}
	if p.Status.Phase != pod.PodFailed {
		t.Fatalf("phase = %s, want Failed (non-zero exits, nothing restarts)", p.Status.Phase)
	}
	// A stopped pod stays down: nothing restarts it.
	time.Sleep(50 * time.Millisecond)
	if r := rt.running(); len(r) != 0 {
		t.Fatalf("running after stop: %v", r)
	}
}

func TestStopWaitsForGraceThenKills(t *testing.T) {
	rt := newFakeRuntime()
	rt.ignoreTERM["a"] = true
	rt.ignoreTERM["b"] = true
	m := startManager(t, rt, newMemStore())
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	grace := 1 * time.Second
	start := time.Now()
	if _, err := m.Stop(context.Background(), "default", "web", &grace); err != nil {
		t.Fatal(err)
	}
	// Ordering, not timing, is asserted: SIGKILL came only after the grace had run out.
	if time.Since(start) < time.Second {
		t.Fatalf("stop returned before the grace period ran out")
	}
}

func TestRemoveRemovesEverything(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	grace := 0 * time.Second
	if err := m.Remove(context.Background(), "default", "web", &grace); err != nil {
		t.Fatal(err)
	}
	if c, sb := rt.counts(); c != 0 || sb != 0 || st.count() != 0 {
		t.Fatalf("left behind: %d containers, %d sandboxes, %d records", c, sb, st.count())
	}
	if _, err := m.Get(context.Background(), "default", "web"); !errdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	if err := m.Remove(context.Background(), "default", "web", nil); !errdefs.IsNotFound(err) {
		t.Fatalf("second remove: %v, want not found", err)
	}
}

func TestWaitStartedReportsImagePullFailure(t *testing.T) {
	rt := newFakeRuntime()
	m := startManager(t, rt, newMemStore())
	bad := strings.Replace(string(webManifest("Always")), `{name: b, image: "busybox:1"}`, `{name: b, image: "nothere:2"}`, 1)
	if _, err := create(context.Background(), m, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	_, err := m.WaitStarted(context.Background(), "default", "web")
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "container b: ErrImagePull") {
		t.Fatalf("err = %v, want ErrImagePull of container b", err)
	}
}

func TestRecoveryAdoptsRunningAndRemovesOrphans(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, NodeName: "node-1", LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pods, err := create(context.Background(), m, webManifest("Never"))
	if err != nil {
		t.Fatal(err)
	}
	uid := pods[0].Metadata.UID
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	// podd goes away; meanwhile b exits and an orphan appears.
	cancel()
	m.Wait()
	rt.exit(uid+"-b-0", 0)
	rt.mu.Lock()
	rt.containers["orphan"] = &fakeContainer{rec: ContainerRecord{ID: "orphan", PodUID: "gone", Name: "x", State: RecordStopped}}
	rt.sandboxes["gone"] = true
	rt.mu.Unlock()

	m2 := startManager(t, rt, st)
	// Orphans are removed in the background, the API serving meanwhile.
	var orphan, gone bool
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		rt.mu.Lock()
		_, orphan = rt.containers["orphan"]
		gone = rt.sandboxes["gone"]
		rt.mu.Unlock()
		if !orphan && !gone {
			break
		}
	}
	if orphan {
		t.Fatal("orphan container not removed")
	}
	if gone {
		t.Fatal("orphan sandbox not removed")
	}
	p := waitFor(t, m2, "web", "a adopted", func(p *pod.Pod) bool { return p != nil && p.Status.ContainerStatuses[0].State.Running != nil })
	a, b := p.Status.ContainerStatuses[0], p.Status.ContainerStatuses[1]
	if a.State.Running == nil || a.RestartCount != 0 {
		t.Fatalf("a not adopted as running: %+v", a)
	}
	if b.State.Terminated == nil || b.State.Terminated.Reason != pod.ReasonCompleted {
		t.Fatalf("b = %+v, want terminated Completed", b.State)
	}
	// The adopted process is watched: its exit is noticed.
	rt.exit(uid+"-a-0", 0)
	waitFor(t, m2, "web", "Succeeded", phaseIs(pod.PodSucceeded))
}

func TestStoreFailureLeavesPodRunning(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	st.fail = errors.New("disk full")
	if err := m.Remove(context.Background(), "default", "web", nil); err == nil {
		t.Fatal("remove succeeded although the store failed")
	}
	if len(rt.running()) != 2 {
		t.Fatalf("containers stopped although the removal was not recorded: %v", rt.running())
	}
}

// A sandbox that cannot be set up is retried once per RetryDelay, not in a growing storm.
func TestSandboxRetryDoesNotMultiply(t *testing.T) {
	rt := newFakeRuntime()
	rt.failSandbox = errors.New("hostPath /x is not a directory")
	m := startManager(t, rt, newMemStore()) // RetryDelay 20ms
	if _, err := create(context.Background(), m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rt.mu.Lock()
	calls := rt.sandboxCalls
	rt.mu.Unlock()
	// 300ms / 20ms = 15 retries; a doubling storm would be in the thousands.
	if calls > 40 {
		t.Fatalf("SetupSandbox called %d times in 300ms with a 20ms retry delay", calls)
	}
	p, _ := m.Get(context.Background(), "default", "web")
	if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != pod.ReasonCreateContainerConfigError {
		t.Fatalf("state = %+v, want CreateContainerConfigError", p.Status.ContainerStatuses[0].State)
	}
}

// A stop recorded just before podd died is finished by the next podd.
func TestStopRecordedBeforeCrashIsFinished(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, NodeName: "node-1", LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pods, err := create(context.Background(), m, webManifest("Always"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitStarted(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	cancel()
	m.Wait()
	// As if podd died right after writing Stopped: the containers still run.
	rec := st.recs[pods[0].Metadata.UID]
	rec.Stopped = true
	st.Put(context.Background(), &rec)
	m2 := startManager(t, rt, st)
	waitFor(t, m2, "web", "containers terminated", func(p *pod.Pod) bool {
		return p != nil && p.Status.ContainerStatuses[0].State.Terminated != nil && p.Status.ContainerStatuses[1].State.Terminated != nil
	})
	if r := rt.running(); len(r) != 0 {
		t.Fatalf("still running after the recovered stop: %v", r)
	}
}

// A restart wakes the watchers (controllers, pod sockets, elections, each of which reads every pod
// again when woken) once for all restored pods, not once or twice per pod: that made a restore
// quadratic in the number of pods.
func TestRestoreWakesWatchersOnceForAllPods(t *testing.T) {
	const n = 40
	rt, st := newFakeRuntime(), newMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, NodeName: "node-1", LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var docs []string
	for i := range n {
		docs = append(docs, strings.Replace(string(webManifest("Always")), "{name: web}", fmt.Sprintf("{name: web-%d}", i), 1))
	}
	if _, err := create(context.Background(), m, []byte(strings.Join(docs, "---\n"))); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := m.WaitStarted(context.Background(), "default", fmt.Sprintf("web-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	m.Wait()

	ctx2, cancel2 := context.WithCancel(context.Background())
	m2 := NewManager(Options{Runtime: rt, Sandbox: rt, Store: st, NodeName: "node-1", LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond})
	t.Cleanup(func() { cancel2(); m2.Wait() })
	wakeups := 0
	changed := m2.Changed()
	if err := m2.Start(ctx2); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second) // a bound on the wait, not a figure
	for {
		pods, _ := m2.List(context.Background(), "")
		running := 0
		for _, p := range pods {
			if p.Status.Phase == pod.PodRunning && p.Status.ContainerStatuses[0].State.Running != nil && p.Status.ContainerStatuses[1].State.Running != nil {
				running++
			}
		}
		if running == n {
			break
		}
		select {
		case <-changed:
			wakeups++
			changed = m2.Changed()
		case <-deadline:
			t.Fatalf("%d of %d pods adopted after 30s", running, n)
		}
	}
	// Once at the end, and once per restoreNotifyInterval while the adoption lasts: a handful
	// however slow the machine; a wake-up per publication would be 2n.
	if wakeups >= n/2 {
		t.Fatalf("%d wake-ups while %d pods were restored, want a few", wakeups, n)
	}
	t.Logf("%d wake-ups while %d pods were restored", wakeups, n)
}

// Pods created at once set their sandboxes up a few at a time: each setup is blocking system
// calls, and Go keeps every thread it made for one.
func TestSandboxSetupsAreBounded(t *testing.T) {
	const n = 30
	rt := newFakeRuntime()
	rt.sandboxDelay = 5 * time.Millisecond
	m := startManager(t, rt, newMemStore())
	var docs []string
	for i := range n {
		docs = append(docs, strings.Replace(string(webManifest("Always")), "{name: web}", fmt.Sprintf("{name: web-%d}", i), 1))
	}
	if _, err := create(context.Background(), m, []byte(strings.Join(docs, "---\n"))); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := m.WaitStarted(context.Background(), "default", fmt.Sprintf("web-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	rt.mu.Lock()
	peak := rt.sandboxPeak
	rt.mu.Unlock()
	if peak > sandboxConcurrency || peak < 1 {
		t.Fatalf("%d sandbox setups at once, want 1 to %d", peak, sandboxConcurrency)
	}
}
