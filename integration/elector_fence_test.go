package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/controller/elections"
	"github.com/podd-dev/podd/pkg/pod"
)

// fencedDeployment is the spec's example (two replicas, the elector injected by annotation,
// podd.io/leader-fence: freeze) with the test's busybox image, renamed and with the given fence.
func fencedDeployment(t *testing.T, name, fence string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "specs", "patterns", "elector-fence.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := strings.ReplaceAll(string(data), "localhost/podd/busybox:1.35", busyboxImage)
	m = strings.ReplaceAll(m, "podd.io/leader-fence: freeze", "podd.io/leader-fence: "+fence)
	return strings.ReplaceAll(m, "fence-freeze", name)
}

// runningReplicas waits for n running pods with label app=name.
func runningReplicas(t *testing.T, p *Podd, name string, n int) []string {
	t.Helper()
	var pods []string
	waitFor(t, fmt.Sprintf("%d running replicas of %s", n, name), func() bool {
		var list struct{ Items []*pod.Pod }
		res := mustPodctl(t, p, "get", "po", "-l", "app="+name, "-o", "json")
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		pods = pods[:0]
		for _, q := range list.Items {
			if q.Status.Phase == pod.PodRunning {
				pods = append(pods, q.Metadata.Name)
			}
		}
		return len(pods) == n
	})
	return pods
}

// electionView reads one election from podd's main API (GET /v1/elections).
func electionView(t *testing.T, p *Podd, name string) elections.View {
	t.Helper()
	resp, err := unixHTTPClient(p.Socket).Get("http://podd/v1/elections?namespace=default")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var views []elections.View
	if err := json.NewDecoder(resp.Body).Decode(&views); err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Name == name {
			return v
		}
	}
	return elections.View{Name: name}
}

// containerCgroup is the cgroup path (below a controller's root) of a container of the pod.
func containerCgroup(t *testing.T, p *Podd, q *pod.Pod, container string) string {
	t.Helper()
	for _, cs := range append(append([]pod.ContainerStatus(nil), q.Status.InitContainerStatuses...), q.Status.ContainerStatuses...) {
		if cs.Name == container && cs.ContainerID != "" {
			return cgroups.ContainerPath(p.CgroupRoot, q.Metadata.UID, strings.TrimPrefix(cs.ContainerID, "containerd://"))
		}
	}
	t.Fatalf("pod %s has no container %s", q.Metadata.Name, container)
	return ""
}

// freezerState reads a container's freezer state: cgroup v1 freezer.state (FROZEN, FREEZING,
// THAWED), or on cgroup v2 cgroup.freeze (1 is reported as FROZEN, 0 as THAWED).
func freezerState(t *testing.T, cgroup string) string {
	t.Helper()
	if cgroupMode(t) == cgroups.V2 {
		if hostCgroupFile(t, "", cgroup, "cgroup.freeze") == "1" {
			return "FROZEN"
		}
		return "THAWED"
	}
	return hostCgroupFile(t, "freezer", cgroup, "freezer.state")
}

// signalCgroup sends sig to every process of a container's cgroup, from the host.
func signalCgroup(t *testing.T, cgroup string, sig syscall.Signal) int {
	t.Helper()
	procs := hostCgroupFile(t, "pids", cgroup, "cgroup.procs")
	n := 0
	for _, f := range strings.Fields(procs) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("cgroup.procs: %q", procs)
		}
		if err := syscall.Kill(pid, sig); err == nil {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no process of %s signalled (cgroup.procs %q)", cgroup, procs)
	}
	return n
}

// TestElectorFenceFreeze: two replicas with the elector injected and podd.io/leader-fence:
// freeze. The leader's elector is SIGSTOPped (from the host) past its ttl, so its lease expires:
// podd freezes the old leader's app container before it grants the election to the other pod
// (whenever the new token is seen, the old app is already FROZEN), and the new leader's token
// is higher. SIGCONT: the old elector sees its loss, acknowledges it, podd thaws its app, and
// it follows the new leader. Every step is an event.
func TestElectorFenceFreeze(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := "fence-freeze"
	p.ApplyManifest(t, fencedDeployment(t, name, "freeze"))
	pods := runningReplicas(t, p, name, 2)
	var first elections.View
	waitFor(t, "a leader", func() bool {
		first = electionView(t, p, name)
		return first.Leader != "" && len(first.Candidates) == 1
	})
	t.Logf("leader %s with token %d, candidates %v (pods %v)", first.Leader, first.Token, first.Candidates, pods)
	old := getPod(t, p, first.Leader)
	appCgroup := containerCgroup(t, p, old, "app")
	electorCgroup := containerCgroup(t, p, old, "podd-elector")
	if st := freezerState(t, appCgroup); st != "THAWED" {
		t.Fatalf("the leader's app before anything: %s", st)
	}

	// SIGSTOP the leader's elector: it renews no more.
	stoppedAt := time.Now()
	signalCgroup(t, electorCgroup, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			signalCgroup(t, electorCgroup, syscall.SIGCONT)
		}
	}()
	// Observe in this order: the election, then the freezer. Once a new token is seen the grant
	// has happened, so the freeze that must precede it is over: the freezer reads FROZEN.
	var frozenAt, grantedAt time.Time
	var second elections.View
	for deadline := time.Now().Add(podWaitTimeout); ; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new leader %v after the SIGSTOP (freezer %s)", podWaitTimeout, freezerState(t, appCgroup))
		}
		v := electionView(t, p, name)
		st := freezerState(t, appCgroup)
		if st == "FROZEN" && frozenAt.IsZero() {
			frozenAt = time.Now()
		}
		if v.Token > first.Token && v.Leader != "" {
			grantedAt, second = time.Now(), v
			if st != "FROZEN" {
				t.Fatalf("%s was granted token %d while the old leader's app was %s", v.Leader, v.Token, st)
			}
			break
		}
	}
	if second.Leader == first.Leader {
		t.Fatalf("the SIGSTOPped leader %s leads again (token %d)", second.Leader, second.Token)
	}
	t.Logf("after SIGSTOP of %s's elector: app FROZEN seen after %v, %s granted token %d seen after %v",
		first.Leader, frozenAt.Sub(stoppedAt).Round(time.Millisecond), second.Leader, second.Token, grantedAt.Sub(stoppedAt).Round(time.Millisecond))
	logFenceFigures(t, p)
	// Stays frozen while its elector is stopped (nobody acknowledged).
	time.Sleep(2 * time.Second)
	if st := freezerState(t, appCgroup); st != "FROZEN" {
		t.Fatalf("the old leader's app %s before any acknowledgement", st)
	}
	events := mustPodctl(t, p, "events").Stdout
	for _, want := range []string{
		fmt.Sprintf("pod %s lost the lead of election %s (token %d): Expired", first.Leader, name, first.Token),
		fmt.Sprintf("froze containers app of pod %s after it lost the lead of election %s (token %d): Expired", first.Leader, name, first.Token),
		fmt.Sprintf("pod %s became leader of election %s with token %d", second.Leader, name, second.Token),
	} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}

	// SIGCONT: the elector sees its loss, acknowledges it; podd thaws the app.
	signalCgroup(t, electorCgroup, syscall.SIGCONT)
	stopped = false
	waitFor(t, "the old leader's app thawed", func() bool { return freezerState(t, appCgroup) == "THAWED" })
	waitFor(t, "the old leader's elector to follow the new leader", func() bool {
		st, ok := electorOf(t, p, first.Leader)
		return ok && !st.IsLeader && st.Leader == second.Leader && st.Token == second.Token
	})
	if v := electionView(t, p, name); v.Leader != second.Leader || v.Token != second.Token || len(v.Candidates) != 1 || v.Candidates[0] != first.Leader {
		t.Errorf("the election after the ack: %+v, want %s leading with token %d and %s waiting", v, second.Leader, second.Token, first.Leader)
	}
	waitFor(t, "a LeaderThawed event", func() bool {
		return strings.Contains(mustPodctl(t, p, "events").Stdout,
			fmt.Sprintf("thawed containers app of pod %s (election %s, token %d): ", first.Leader, name, first.Token))
	})
	logs := mustPodctl(t, p, "logs", first.Leader, "-c", "podd-elector").Stdout
	if !strings.Contains(logs, "acknowledged the lost lease") {
		t.Errorf("the old leader's elector did not log its acknowledgement:\n%s", logs)
	}
}

// logFenceFigures logs podd's own lines about the fences (each with how long it took).
func logFenceFigures(t *testing.T, p *Podd) {
	t.Helper()
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "fenced the lost leader") {
			t.Logf("podd: %s", line)
		}
	}
}

// TestElectorFenceStop: with podd.io/leader-fence: stop, the SIGSTOPped leader's app is stopped
// (its processes are gone) before the election is granted to the other pod; restartPolicy
// Always starts it again, and after SIGCONT the old leader follows.
func TestElectorFenceStop(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := "fence-stop"
	p.ApplyManifest(t, fencedDeployment(t, name, "stop"))
	runningReplicas(t, p, name, 2)
	var first elections.View
	waitFor(t, "a leader", func() bool {
		first = electionView(t, p, name)
		return first.Leader != "" && len(first.Candidates) == 1
	})
	old := getPod(t, p, first.Leader)
	var pids []int
	for _, f := range strings.Fields(hostCgroupFile(t, "pids", containerCgroup(t, p, old, "app"), "cgroup.procs")) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	electorCgroup := containerCgroup(t, p, old, "podd-elector")
	stoppedAt := time.Now()
	signalCgroup(t, electorCgroup, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			signalCgroup(t, electorCgroup, syscall.SIGCONT)
		}
	}()
	var second elections.View
	waitFor(t, "a new leader", func() bool {
		second = electionView(t, p, name)
		if second.Token <= first.Token || second.Leader == "" {
			return false
		}
		// The grant came after the stop: none of the old app's processes is left.
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); err == nil {
				t.Fatalf("%s was granted token %d while the old leader's app process %d still existed", second.Leader, second.Token, pid)
			}
		}
		return true
	})
	t.Logf("after SIGSTOP of %s's elector: %s granted token %d seen after %v", first.Leader, second.Leader, second.Token, time.Since(stoppedAt).Round(time.Millisecond))
	logFenceFigures(t, p)
	if second.Leader == first.Leader {
		t.Fatalf("the SIGSTOPped leader %s leads again", second.Leader)
	}
	waitFor(t, "the old leader's app restarted", func() bool {
		for _, cs := range getPod(t, p, first.Leader).Status.ContainerStatuses {
			if cs.Name == "app" {
				return cs.RestartCount >= 1 && cs.State.Running != nil
			}
		}
		return false
	})
	signalCgroup(t, electorCgroup, syscall.SIGCONT)
	stopped = false
	waitFor(t, "the old leader's elector to follow the new leader", func() bool {
		st, ok := electorOf(t, p, first.Leader)
		return ok && !st.IsLeader && st.Leader == second.Leader && st.Token == second.Token
	})
	events := mustPodctl(t, p, "events").Stdout
	for _, want := range []string{
		fmt.Sprintf("stopped containers app of pod %s after it lost the lead of election %s (token %d): Expired", first.Leader, name, first.Token),
		fmt.Sprintf("pod %s became leader of election %s with token %d", second.Leader, name, second.Token),
	} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
}

// TestElectorFenceFreezeDelete: a frozen old leader that is deleted (its elector still stopped,
// so it never acknowledges) is thawed by podd so that its containers can stop: the pod goes away.
func TestElectorFenceFreezeDelete(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := "fence-delete"
	p.ApplyManifest(t, fencedDeployment(t, name, "freeze"))
	runningReplicas(t, p, name, 2)
	var first elections.View
	waitFor(t, "a leader", func() bool {
		first = electionView(t, p, name)
		return first.Leader != "" && len(first.Candidates) == 1
	})
	old := getPod(t, p, first.Leader)
	appCgroup := containerCgroup(t, p, old, "app")
	signalCgroup(t, containerCgroup(t, p, old, "podd-elector"), syscall.SIGSTOP)
	waitFor(t, "a new leader", func() bool { return electionView(t, p, name).Token > first.Token })
	if st := freezerState(t, appCgroup); st != "FROZEN" {
		t.Fatalf("the old leader's app after the next grant: %s", st)
	}
	if res := p.Podctl(t, "delete", "pod", first.Leader); res.ExitCode != 0 {
		t.Fatalf("delete: %s", res)
	}
	waitFor(t, "the deleted old leader to be gone", func() bool {
		return p.Podctl(t, "get", "pod", first.Leader).ExitCode != 0
	})
	// The pod's events went with it; podd's log keeps the thaw.
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	thawed := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, `msg="elections: thawed"`) && strings.Contains(line, "pod="+first.Leader) && strings.Contains(line, "reason=PodNotRunning") {
			t.Logf("podd: %s", line)
			thawed = true
		}
	}
	if !thawed {
		t.Errorf("podd did not log the thaw of %s's app at its deletion", first.Leader)
	}
}

// TestElectorFenceSignal: with podd.io/leader-fence: signal:SIGUSR1, podd signals the old
// leader's app when its lease expires (the app's trap prints it), and grants the other pod.
func TestElectorFenceSignal(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := "fence-signal"
	m := fencedDeployment(t, name, "signal:SIGUSR1")
	trap := "trap 'exit 0' TERM"
	if !strings.Contains(m, trap) {
		t.Fatalf("the example's app no longer has %q", trap)
	}
	p.ApplyManifest(t, strings.Replace(m, trap, trap+"; trap 'echo fenced-by-USR1' USR1", 1))
	runningReplicas(t, p, name, 2)
	var first elections.View
	waitFor(t, "a leader", func() bool {
		first = electionView(t, p, name)
		return first.Leader != "" && len(first.Candidates) == 1
	})
	electorCgroup := containerCgroup(t, p, getPod(t, p, first.Leader), "podd-elector")
	signalCgroup(t, electorCgroup, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			signalCgroup(t, electorCgroup, syscall.SIGCONT)
		}
	}()
	var second elections.View
	waitFor(t, "a new leader", func() bool {
		second = electionView(t, p, name)
		return second.Token > first.Token && second.Leader != ""
	})
	// The app's shell runs its trap once its foreground command (a request to its stopped
	// elector) returns: after the SIGCONT.
	signalCgroup(t, electorCgroup, syscall.SIGCONT)
	stopped = false
	waitFor(t, "the old leader's app to print its SIGUSR1", func() bool {
		return strings.Contains(p.Podctl(t, "logs", first.Leader, "-c", "app").Stdout, "fenced-by-USR1")
	})
	events := mustPodctl(t, p, "events").Stdout
	if want := fmt.Sprintf("signalled (user defined signal 1) containers app of pod %s after it lost the lead of election %s (token %d): Expired", first.Leader, name, first.Token); !strings.Contains(events, want) {
		t.Errorf("events lack %q:\n%s", want, events)
	}
	if second.Leader == first.Leader {
		t.Errorf("the SIGSTOPped leader %s leads again", first.Leader)
	}
}
