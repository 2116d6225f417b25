package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/store"
)

// crashPodContainers are the containers of every pod of the crash tests.
var crashPodContainers = []string{"app", "side"}

// crashManifest is n pods named prefix-0 ... prefix-(n-1), each with crashPodContainers, which stop
// at once on SIGTERM.
func crashManifest(prefix string, n int) (string, []string) {
	var docs, names []string
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		names = append(names, name)
		var ctrs strings.Builder
		for _, c := range crashPodContainers {
			fmt.Fprintf(&ctrs, "  - name: %s\n    image: %s\n    command: [\"sh\", \"-c\", %q]\n", c, busyboxImage, untilTerm)
		}
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 2
  containers:
%s`, name, ctrs.String()))
	}
	return strings.Join(docs, "---\n"), names
}

// waitExit waits until podd has exited by itself (a crash point fired); false when it still runs.
func (p *Podd) waitExit(timeout time.Duration) bool {
	p.mu.Lock()
	d := p.d
	p.mu.Unlock()
	if d == nil {
		return true
	}
	select {
	case <-d.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// listPods lists the podd's pods by name.
func listPods(t testing.TB, p *Podd) map[string]*pod.Pod {
	t.Helper()
	res := mustPodctl(t, p, "get", "-o", "json")
	var list api.PodList
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatalf("decode podctl get -o json: %v\n%s", err, res.Stdout)
	}
	out := map[string]*pod.Pod{}
	for _, got := range list.Items {
		if out[got.Metadata.Name] != nil {
			t.Errorf("pod %s is listed twice", got.Metadata.Name)
		}
		out[got.Metadata.Name] = got
	}
	return out
}

var (
	// podctl run -d prints "pod/NAME created" once the API answered; podctl run prints
	// "pod/NAME started", or "pod/NAME: <why it did not start>" (such as podd's death).
	ackedOut = regexp.MustCompile(`(?m)^pod/(\S+) (created|started)$`)
	ackedErr = regexp.MustCompile(`pod/([a-z0-9-]+): `)
)

// acknowledged are the pods that the API acknowledged, as `podctl run` reports them.
func acknowledged(res Result) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range append(ackedOut.FindAllStringSubmatch(res.Stdout, -1), ackedErr.FindAllStringSubmatch(res.Stderr, -1)...) {
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	return names
}

// crashCheck is the state of one crash-safety test: the pods it may have created and every pod
// UID it saw, for the leak checks.
type crashCheck struct {
	p     *Podd
	names []string
	uids  map[string]bool
}

// afterCrash restarts podd (without crash points) after it died, and checks: every pod in must
// exists; every pod of the test that exists is removed (Terminating) or runs exactly its
// containers, each once in containerd; nothing is left of pods that do not exist.
func (c *crashCheck) afterCrash(t *testing.T, must []string) {
	t.Helper()
	p := c.p
	p.seenUIDs(t, c.uids) // what podd was working on when it died
	p.Env = nil
	p.Start(t)
	pods := listPods(t, p)
	for _, name := range must {
		if pods[name] == nil {
			t.Errorf("pod %s was acknowledged by the API and does not exist after the crash", name)
		}
	}
	keep := map[string]bool{}
	deadline := time.Now().Add(podWaitTimeout)
	for _, name := range c.names {
		got := pods[name]
		if got == nil {
			continue
		}
		c.uids[got.Metadata.UID] = true
		if got.Status.Reason == "Terminating" {
			continue // a removal recorded before the crash, which podd finishes
		}
		keep[got.Metadata.UID] = true
		for {
			if crashPodRunning(got) {
				break
			}
			if time.Now().After(deadline) {
				b, _ := json.MarshalIndent(got.Status, "", "  ")
				t.Fatalf("pod %s does not run after the crash:\n%s", name, b)
			}
			time.Sleep(100 * time.Millisecond)
			got = getPod(t, p, name)
		}
		ctrs := podContainers(t, p, got.Metadata.UID)
		byName := map[string]int{}
		for _, ctr := range ctrs {
			byName[ctr.Labels["io.podd.container.name"]]++
		}
		for _, want := range crashPodContainers {
			if byName[want] != 1 {
				t.Errorf("pod %s: containerd holds %d containers named %s, want exactly 1 (all: %v)", name, byName[want], want, byName)
			}
		}
		if len(ctrs) != len(crashPodContainers) {
			t.Errorf("pod %s: containerd holds %d containers, want %d", name, len(ctrs), len(crashPodContainers))
		}
		for _, cs := range got.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				t.Errorf("pod %s: container %s restarted %d times: a crash of podd must not restart containers", name, cs.Name, cs.RestartCount)
			}
		}
	}
	// Terminating pods are removed meanwhile; everything else must belong to a kept pod.
	p.waitNoLeaks(t, c.uids, keep, podWaitTimeout)
}

func crashPodRunning(got *pod.Pod) bool {
	if got.Status.Phase != pod.PodRunning || len(got.Status.ContainerStatuses) != len(crashPodContainers) {
		return false
	}
	for _, cs := range got.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// removeAll removes every pod of the test that exists and checks that nothing is left.
func (c *crashCheck) removeAll(t *testing.T) {
	t.Helper()
	pods := listPods(t, c.p)
	var names []string
	for _, name := range c.names {
		if got := pods[name]; got != nil {
			c.uids[got.Metadata.UID] = true
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		if res := c.p.Podctl(t, append([]string{"rm"}, names...)...); res.ExitCode != 0 && !strings.Contains(res.Stderr, "not found") {
			t.Fatalf("podctl rm: %s", res)
		}
	}
	c.p.waitNoLeaks(t, c.uids, nil, podWaitTimeout)
}

// cleanupOnFailure makes sure a failed check leaves no pod behind for the next subtest.
func (c *crashCheck) cleanupOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		c.p.Env = nil
		if !c.p.Running() {
			if err := c.p.start(); err != nil {
				t.Log(err)
				return
			}
		}
		c.p.Podctl(t, append([]string{"rm"}, c.names...)...)
	})
}

// armCrash restarts podd with a crash point armed.
func (c *crashCheck) armCrash(t *testing.T, spec string) {
	t.Helper()
	c.p.Kill9(t)
	c.p.Env = []string{fault.Env + "=" + spec}
	c.p.Start(t)
}

// TestCrashPoints kills podd at every named crash point of creating and removing pods
// (internal/fault), one point per subtest, and checks after each that the restarted podd lost,
// duplicated and leaked nothing. Each crash happens at the second pass of its point (the first for
// the store writes, which happen once per request), so that one pod is further along than
// another.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	removal := map[string]bool{
		fault.RemoveAfterMark: true, fault.ContainerRemoveAfterTask: true, fault.RemoveAfterContainer: true,
		fault.SandboxTeardownAfterNamespaces: true, fault.RemoveAfterSandbox: true, fault.RemoveBeforeStoreDelete: true,
	}
	for i, point := range fault.Points {
		t.Run(point, func(t *testing.T) {
			nth := 2
			if point == fault.CreateBeforeStore || point == fault.CreateAfterStore {
				nth = 1
			}
			manifest, names := crashManifest(fmt.Sprintf("crash-%d", i), 2)
			c := &crashCheck{p: p, names: names, uids: map[string]bool{}}
			c.cleanupOnFailure(t)
			c.armCrash(t, fmt.Sprintf("%s:%d", point, nth))
			path := writeManifest(t, manifest)
			var must []string
			if removal[point] {
				mustPodctl(t, p, "run", path)
				must = nil // the removal was asked: each pod may be gone or still there
				p.Podctl(t, append([]string{"rm"}, names...)...)
			} else {
				res := p.Podctl(t, "run", path)
				must = acknowledged(res)
				if res.ExitCode == 0 {
					t.Errorf("podctl run succeeded: podd did not crash at %s:%d", point, nth)
				}
			}
			if !p.waitExit(podWaitTimeout) {
				t.Fatalf("podd did not crash at %s:%d", point, nth)
			}
			c.afterCrash(t, must)
			c.removeAll(t)
		})
	}
}

// TestCrashWhileCreating kills podd with SIGKILL at swept delays while it creates a dozen pods
// (`podctl run -d` of a manifest of 12, until all run), then while `podctl rm` removes them, and
// checks after each crash that the restarted podd lost, duplicated and leaked nothing. The delays
// are 20ms (during the API request) and fractions of how long an undisturbed creation and removal
// take on this host. PODD_CRASH_SWEEPS sets the number of those fractions (default 5: about 5 to
// 15 s each on the 2-core test VM).
func TestCrashWhileCreating(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	sweeps := 5
	if v := os.Getenv("PODD_CRASH_SWEEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PODD_CRASH_SWEEPS=%q: want a number above 0", v)
		}
		sweeps = n
	}
	const pods = 12

	// The undisturbed run and removal, for the delays.
	manifest, names := crashManifest("calib", pods)
	c := &crashCheck{p: p, names: names, uids: map[string]bool{}}
	start := time.Now()
	mustPodctl(t, p, "run", "-d", writeManifest(t, manifest))
	waitAllRunning(t, p, names)
	createTook := time.Since(start)
	start = time.Now()
	c.removeAll(t)
	removeTook := time.Since(start)
	t.Logf("undisturbed: run of %d pods %v, rm and clean up %v", pods, createTook.Round(time.Millisecond), removeTook.Round(time.Millisecond))

	// The first kill lands while the API request itself is under way; the others spread over
	// the creation and the removal.
	for i := 0; i <= sweeps; i++ {
		frac := float64(i) / float64(sweeps+1)
		createAt := time.Duration(frac * float64(createTook))
		removeAt := time.Duration(frac * float64(removeTook))
		name := fmt.Sprintf("kill at %.0f%%", 100*frac)
		if i == 0 {
			createAt, removeAt = 20*time.Millisecond, 20*time.Millisecond
			name = "kill at 20ms"
		}
		t.Run(name, func(t *testing.T) {
			manifest, names := crashManifest(fmt.Sprintf("sweep-%d", i), pods)
			c := &crashCheck{p: p, names: names, uids: map[string]bool{}}
			c.cleanupOnFailure(t)
			path := writeManifest(t, manifest)

			res := killDuring(t, p, createAt, "run", "-d", path)
			must := acknowledged(res)
			t.Logf("killed %v into podctl run: %d of %d pods acknowledged", createAt.Round(time.Millisecond), len(must), pods)
			if len(must) != 0 && len(must) != pods {
				t.Errorf("%d of %d pods acknowledged: a manifest's pods are created all or none", len(must), pods)
			}
			c.afterCrash(t, must)
			existing := listPods(t, p)
			var present []string
			for _, name := range names {
				if existing[name] != nil {
					present = append(present, name)
				}
			}
			if len(present) != 0 && len(present) != pods {
				t.Errorf("%d of %d pods exist after the crash: a manifest's pods are created all or none", len(present), pods)
			}
			if len(present) > 0 {
				killDuring(t, p, removeAt, append([]string{"rm"}, present...)...)
				t.Logf("killed %v into podctl rm", removeAt.Round(time.Millisecond))
				c.afterCrash(t, nil)
			}
			c.removeAll(t)
		})
	}
}

// killDuring runs podctl with args and kills podd with SIGKILL delay after podctl started,
// whether podctl returned by then or not (podd works on after `run -d` returned).
func killDuring(t *testing.T, p *Podd, delay time.Duration, args ...string) Result {
	t.Helper()
	done := make(chan Result, 1)
	kill := time.After(delay)
	go func() { done <- p.Podctl(t, args...) }()
	<-kill
	p.Kill9(t)
	return <-done
}

// waitAllRunning waits until every named pod runs all its containers.
func waitAllRunning(t *testing.T, p *Podd, names []string) {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for {
		pods := listPods(t, p)
		n := 0
		for _, name := range names {
			if got := pods[name]; got != nil && crashPodRunning(got) {
				n++
			}
		}
		if n == len(names) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods run after %v", n, len(names), podWaitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashBetweenSnapshotAndContainer kills podd after it prepared a container's snapshot and
// before it created the container, then has the pod removed before podd could create it again
// (the removal is recorded in the store while podd is down, as a `podctl rm` that raced the crash
// would have): the snapshot, which no container names, must not outlive the pod.
func TestCrashBetweenSnapshotAndContainer(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	manifest, names := crashManifest("snap", 1)
	c := &crashCheck{p: p, names: names, uids: map[string]bool{}}
	c.cleanupOnFailure(t)
	c.armCrash(t, fault.ContainerAfterSnapshot)
	p.Podctl(t, "run", writeManifest(t, manifest))
	if !p.waitExit(podWaitTimeout) {
		t.Fatalf("podd did not crash at %s", fault.ContainerAfterSnapshot)
	}
	p.seenUIDs(t, c.uids)
	st, err := store.Open(filepath.Join(p.Root, "podd.db"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.List(context.Background())
	if err != nil || len(recs) != 1 {
		st.Close()
		t.Fatalf("stored pods: %d, %v; want the one pod", len(recs), err)
	}
	recs[0].Stopped, recs[0].Deleting = true, true
	err = st.Put(context.Background(), recs[0])
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.Env = nil
	p.Start(t)
	p.waitNoLeaks(t, c.uids, nil, podWaitTimeout)
	if pods := listPods(t, p); len(pods) != 0 {
		t.Errorf("%d pods after the removal, want none", len(pods))
	}
}
