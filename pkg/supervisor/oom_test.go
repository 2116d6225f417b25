package supervisor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// oomByName reports n OOM kills of other processes in the running instance of a container.
func (f *fakeRuntime) oomByName(name string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.rec.Name == name && c.rec.State == RecordRunning {
			c.oom <- n
		}
	}
}

// oomExitByName makes the running instance of a container end OOM-killed.
func (f *fakeRuntime) oomExitByName(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.rec.Name == name && c.rec.State == RecordRunning {
			c.rec.State = RecordStopped
			c.rec.Exit = ExitStatus{Code: 137, ExitedAt: time.Now(), OOMKilled: true}
			c.exited()
		}
	}
}

func eventsWith(t *testing.T, m *Manager, reason string) []pod.Event {
	t.Helper()
	evs, err := m.Events(context.Background(), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	var out []pod.Event
	for _, e := range evs {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestOOMKills(t *testing.T) {
	t.Run("channels", func(t *testing.T) { testOOMKills(t, false) })
	t.Run("callbacks", func(t *testing.T) { testOOMKills(t, true) })
}

func testOOMKills(t *testing.T, notify bool) {
	rt, st := newFakeRuntime(), newMemStore()
	rt.notify = notify
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, webManifest("Never")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", phaseIs(pod.PodRunning))

	// A child of a is killed; a's main process survives: counted, an event, still running.
	rt.oomByName("a", 2)
	p := waitFor(t, m, "web", "a's OOM kills counted", func(p *pod.Pod) bool {
		return p != nil && p.Status.ContainerStatuses[0].OOMKills == 2
	})
	if p.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("a not running after a child's OOM kill: %+v", p.Status.ContainerStatuses[0].State)
	}
	evs := eventsWith(t, m, EventOOMKilling)
	if len(evs) != 1 || evs[0].Type != pod.EventWarning || !strings.Contains(evs[0].Message, "killed 2 process(es) of container a; its main process survives") {
		t.Errorf("events after the child's OOM kill: %+v", evs)
	}

	// b's main process is OOM-killed: OOMKilled, 137, an event.
	rt.oomExitByName("b")
	p = waitFor(t, m, "web", "b terminated", func(p *pod.Pod) bool {
		return p != nil && p.Status.ContainerStatuses[1].State.Terminated != nil
	})
	term := p.Status.ContainerStatuses[1].State.Terminated
	if term.Reason != pod.ReasonOOMKilled || term.ExitCode != 137 {
		t.Errorf("b terminated %s (%d), want OOMKilled (137)", term.Reason, term.ExitCode)
	}
	evs = eventsWith(t, m, EventOOMKilling)
	if len(evs) != 2 || !strings.Contains(evs[1].Message, "killed the main process of container b (exit code 137)") {
		t.Errorf("events after b's OOM kill: %+v", evs)
	}
	if p.Status.QOSClass != pod.QOSBestEffort {
		t.Errorf("qosClass %q, want BestEffort", p.Status.QOSClass)
	}
}

// fakeStats is a StatsRuntime whose containers use 0.5 cores from when it was made.
type fakeStats struct {
	*fakeRuntime
	start time.Time
	mu    sync.Mutex
	calls int
}

func (f *fakeStats) CgroupStats(ctx context.Context, podUID, id string) (*pod.ContainerStats, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if strings.HasSuffix(id, "-gone-0") {
		return nil, errdefs.ErrNotFound
	}
	now := time.Now()
	usage := uint64(now.Sub(f.start).Nanoseconds() / 2)
	ws, limit := uint64(40<<20), uint64(64<<20)
	return &pod.ContainerStats{
		CPU:    &pod.CPUStats{Time: now, UsageCoreNanoSeconds: &usage},
		Memory: &pod.MemoryStats{Time: now, WorkingSetBytes: &ws, LimitBytes: &limit},
	}, nil
}

func (f *fakeStats) NetworkStats(ctx context.Context, podUID string) (*pod.NetworkStats, error) {
	rx := uint64(10)
	return &pod.NetworkStats{RxBytes: &rx, Interfaces: []pod.InterfaceStats{{Name: "lo", RxBytes: &rx}}}, nil
}

func (f *fakeStats) Processes(ctx context.Context, podUID, id string) ([]pod.ProcessInfo, error) {
	return []pod.ProcessInfo{{PID: 1, User: "root", Command: "sh"}}, nil
}

func TestStats(t *testing.T) {
	rt := &fakeStats{fakeRuntime: newFakeRuntime(), start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	m := NewManager(Options{Runtime: rt, Sandbox: rt, Store: newMemStore(), LogRoot: t.TempDir(), BackoffBase: 10 * time.Millisecond, RetryDelay: 20 * time.Millisecond})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	if _, err := create(ctx, m, webManifest("Always")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", phaseIs(pod.PodRunning))

	// The first request has no earlier sample: it samples twice.
	st, err := m.Stats(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Containers) != 2 || st.Containers[0].Name != "a" || st.Network == nil || st.PodRef.Name != "web" {
		t.Fatalf("stats: %+v", st)
	}
	for _, c := range st.Containers {
		if c.CPU.UsageNanoCores == nil {
			t.Fatalf("%s: no usageNanoCores", c.Name)
		}
		if cores := float64(*c.CPU.UsageNanoCores) / 1e9; cores < 0.45 || cores > 0.55 {
			t.Errorf("%s: %.3f cores, want 0.5", c.Name, cores)
		}
		if c.StartTime == nil {
			t.Errorf("%s: no startTime", c.Name)
		}
	}
	// A second request takes its rate over the window since the first one.
	rt.mu.Lock()
	before := rt.calls
	rt.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	st, err = m.Stats(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	if n := rt.calls - before; n != 3 {
		t.Errorf("second request read %d cgroups, want 3 (pod and two containers, once each)", n)
	}
	rt.mu.Unlock()
	if cores := float64(*st.Containers[1].CPU.UsageNanoCores) / 1e9; cores < 0.45 || cores > 0.55 {
		t.Errorf("second sample: %.3f cores, want 0.5", cores)
	}

	all, err := m.AllStats(ctx, "")
	if err != nil || len(all) != 1 {
		t.Errorf("AllStats: %d pods, %v", len(all), err)
	}
	top, err := m.Top(ctx, "default", "web")
	if err != nil || len(top) != 2 || top[0].Processes[0].Command != "sh" {
		t.Errorf("Top: %+v, %v", top, err)
	}
	snaps, err := m.Snapshots(ctx)
	if err != nil || len(snaps) != 3 {
		t.Errorf("Snapshots: %d, %v", len(snaps), err)
	}
	if _, err := m.Stats(ctx, "default", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("stats of a missing pod: %v", err)
	}
}

func TestStatsWithoutStatsRuntime(t *testing.T) {
	m := startManager(t, newFakeRuntime(), newMemStore())
	if _, err := m.Stats(context.Background(), "default", "web"); !errdefs.IsNotImplemented(err) {
		t.Errorf("Stats on a runtime without stats: %v", err)
	}
}
