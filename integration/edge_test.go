package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/pod"
)

// notifyListener is a fake systemd: a datagram socket that records what podd sends with
// sd_notify, each message with the time it arrived.
type notifyListener struct {
	path string
	conn *net.UnixConn

	mu   sync.Mutex
	msgs []notifyMsg
	more chan struct{}
}

type notifyMsg struct {
	at    time.Time
	state string // one line: READY=1, WATCHDOG=1, STATUS=...
}

func newNotifyListener(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	l := &notifyListener{path: path, conn: conn, more: make(chan struct{}, 1)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			l.mu.Lock()
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				l.msgs = append(l.msgs, notifyMsg{at: now, state: line})
			}
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

func (l *notifyListener) all() []notifyMsg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]notifyMsg(nil), l.msgs...)
}

// wait waits until a message starting with state has come, and returns the first one.
func (l *notifyListener) wait(t *testing.T, state string, timeout time.Duration) notifyMsg {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, m := range l.all() {
			if strings.HasPrefix(m.state, state) {
				return m
			}
		}
		select {
		case <-l.more:
		case <-deadline:
			t.Fatalf("no %s from podd within %v; got %v", state, timeout, l.all())
		}
	}
}

func (l *notifyListener) count(state string) int {
	n := 0
	for _, m := range l.all() {
		if m.state == state {
			n++
		}
	}
	return n
}

// TestSystemdNotify runs podd as systemd would run a Type=notify service with a watchdog, with a
// fake systemd listening: READY=1 comes once the API serves, WATCHDOG=1 every half interval while
// podd is healthy, and STOPPING=1 when SIGTERM begins the shutdown.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	l := newNotifyListener(t)
	const watchdog = 600 * time.Millisecond
	p := startPoddConfigured(t, func(p *Podd) {
		p.Env = []string{"NOTIFY_SOCKET=" + l.path, fmt.Sprintf("WATCHDOG_USEC=%d", watchdog.Microseconds())}
	})
	ready := l.wait(t, "READY=1", 10*time.Second)
	// The harness's start returned once podd answered; READY=1 must not have come before podd
	// could answer, so the API answers right away now.
	mustPodctl(t, p, "version")
	l.wait(t, "STATUS=serving", 5*time.Second)
	for _, m := range l.all() {
		if m.state == "WATCHDOG=1" && m.at.Before(ready.at) {
			t.Errorf("WATCHDOG=1 at %v, before READY=1 at %v", m.at, ready.at)
		}
	}

	name := uniqueName(t)
	mustRun(t, p, sleeperPod(name))

	// Pings at half the interval: over 3 s, about 10 of them; a healthy podd misses none for long.
	before := l.count("WATCHDOG=1")
	time.Sleep(3 * time.Second)
	pings := l.count("WATCHDOG=1") - before
	if pings < 5 {
		t.Errorf("%d WATCHDOG=1 in 3 s with WATCHDOG_USEC=%v; want about %d", pings, watchdog, int(3*time.Second/(watchdog/2)))
	}
	t.Logf("%d WATCHDOG=1 in 3 s (interval %v)", pings, watchdog)

	p.Stop(t)
	stopping := l.wait(t, "STOPPING=1", 5*time.Second)
	if !stopping.at.After(ready.at) {
		t.Errorf("STOPPING=1 before READY=1")
	}
	// The default shutdown leaves the pod running: the next podd adopts it.
	p.Start(t)
	got := waitPhase(t, p, name, pod.PodRunning)
	if cs := containerStatus(t, got, "app"); cs.RestartCount != 0 {
		t.Errorf("restartCount %d after a podd restart, want 0", cs.RestartCount)
	}
}

// TestSocketActivation starts podd the way a podd.socket unit does — systemd-socket-activate
// holds the API socket and passes it (LISTEN_FDS) — and checks podd serves on it and leaves the
// socket file in place when it stops.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-socket-activate (Debian package systemd) is missing")
		}
		t.Skip("systemd-socket-activate (Debian package systemd) is missing")
	}
	var socket string
	p := startPoddConfigured(t, func(p *Podd) {
		socket = p.Socket
		p.Wrapper = []string{activate, "--listen", p.Socket}
	})
	mustPodctl(t, p, "version")
	name := uniqueName(t)
	mustRun(t, p, sleeperPod(name))
	log, _ := os.ReadFile(p.LogPath)
	if !strings.Contains(string(log), "socket_activated=true") {
		t.Errorf("podd's log does not say it serves on the activated socket:\n%s", log)
	}
	removePod(t, p, "default", name)
	p.Stop(t)
	if _, err := os.Stat(socket); err != nil {
		t.Errorf("the activated socket %s is gone after podd stopped: %v (it is systemd's)", socket, err)
	}
}

// staticManifest is a static pod that records each start in its log.
func staticManifest(name, word string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {app: static}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "echo %s; trap 'exit 0' TERM; while true; do sleep 1; done"]
`, name, busyboxImage, word)
}

// writeStatic writes a file into the manifests folder the way an editor or `cp` does not: via a
// temporary hidden file renamed into place, so podd never reads a half-written file; the test
// of half-written files is TestStaticPodsIgnoreTemporaryFiles.
func writeStatic(t *testing.T, p *Podd, file, content string) {
	t.Helper()
	tmp := filepath.Join(p.Manifests, "."+file+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.Manifests, file)); err != nil {
		t.Fatal(err)
	}
}

// staticFollow bounds the wait for podd to follow a change of the manifests folder. The tests
// that use it set the rescan to an hour, so that only inotify can explain a change followed within
// it, however busy the machine is; how long it took is logged.
const staticFollow = podWaitTimeout

// waitStatic polls the pod until cond holds, failing after staticFollow; it returns the pod
// (nil when gone) and how long it took.
func waitStatic(t *testing.T, p *Podd, name, what string, cond func(*pod.Pod) bool) (*pod.Pod, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		var got *pod.Pod
		res := p.Podctl(t, "get", name, "-o", "json")
		switch {
		case res.ExitCode == 0:
			got = &pod.Pod{}
			if err := json.Unmarshal([]byte(res.Stdout), got); err != nil {
				t.Fatalf("decode podctl get: %v", err)
			}
		case !strings.Contains(res.Stderr, "not found"):
			t.Fatalf("podctl get %s: %s", name, res)
		}
		if cond(got) {
			return got, time.Since(start)
		}
		if time.Since(start) > staticFollow {
			t.Fatalf("static pod %s: not %s within %v (pod: %+v)", name, what, staticFollow, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(got *pod.Pod) bool { return got != nil && got.Status.Phase == pod.PodRunning }

// TestStaticPods: a file in the manifests folder starts its pod, an edit that changes the pod
// replaces it, an edit that does not (a comment) leaves it alone, `podctl rm` is refused, a bad
// file is reported and disturbs nothing, and a removed file removes its pod — each followed
// through inotify (the rescan is an hour). A file removed while podd is down is followed when it
// comes back.
func TestStaticPods(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--manifests-rescan", "1h")
	web, other := uniqueName(t, "web"), uniqueName(t, "other")

	writeStatic(t, p, "web.yaml", staticManifest(web, "v1"))
	writeStatic(t, p, "other.yml", staticManifest(other, "other"))
	first, took := waitStatic(t, p, web, "running", running)
	t.Logf("new file followed in %v", took)
	otherPod, _ := waitStatic(t, p, other, "running", running)

	// Marked as static in get, describe and the pod itself.
	if src := first.Metadata.Annotations[pod.AnnotationConfigFile]; src != filepath.Join(p.Manifests, "web.yaml") {
		t.Errorf("annotation %s = %q, want the file", pod.AnnotationConfigFile, src)
	}
	if out := mustPodctl(t, p, "get", "-o", "wide").Stdout; !strings.Contains(out, "file:web.yaml") {
		t.Errorf("podctl get -o wide does not mark the static pod:\n%s", out)
	}
	if out := mustPodctl(t, p, "describe", web).Stdout; !strings.Contains(out, filepath.Join(p.Manifests, "web.yaml")) {
		t.Errorf("podctl describe does not name the static pod's file:\n%s", out)
	}

	// rm is refused and changes nothing.
	res := p.Podctl(t, "rm", web)
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "static pod") || !strings.Contains(res.Stderr, "web.yaml") {
		t.Errorf("podctl rm of a static pod: %s; want a refusal naming the file", res)
	}
	if got := getPod(t, p, web); got.Metadata.UID != first.Metadata.UID || got.Status.Phase != pod.PodRunning {
		t.Errorf("refused rm changed the pod: uid %s phase %s", got.Metadata.UID, got.Status.Phase)
	}

	// A comment only: same pod.
	writeStatic(t, p, "web.yaml", "# a comment\n"+staticManifest(web, "v1"))
	time.Sleep(2 * manifestsSettle)
	if got := getPod(t, p, web); got.Metadata.UID != first.Metadata.UID {
		t.Errorf("an edit that changes nothing of the pod replaced it")
	}

	// A changed spec: replaced (a new UID), running the new command.
	writeStatic(t, p, "web.yaml", staticManifest(web, "v2"))
	second, took := waitStatic(t, p, web, "replaced and running", func(got *pod.Pod) bool {
		return running(got) && got.Metadata.UID != first.Metadata.UID
	})
	t.Logf("edit followed in %v", took)
	waitFor(t, "the replaced pod's log to show v2", func() bool { return podLogs(t, p, web, "app") == "v2\n" })
	if out := mustPodctl(t, p, "events", "-A").Stdout; !strings.Contains(out, controller.ReasonStaticReplaced) {
		t.Errorf("no %s event:\n%s", controller.ReasonStaticReplaced, out)
	}

	// A bad file: reported as an event, nothing else disturbed.
	writeStatic(t, p, "bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    imagee: busybox\n")
	waitFor(t, "an event about bad.yaml", func() bool {
		out := p.Podctl(t, "events", "-A").Stdout
		return strings.Contains(out, "bad.yaml") && strings.Contains(out, "imagee")
	})
	if got := getPod(t, p, other); got.Metadata.UID != otherPod.Metadata.UID || got.Status.Phase != pod.PodRunning {
		t.Errorf("a bad file disturbed another static pod")
	}

	// A bad edit of a good file keeps its pod as it was.
	writeStatic(t, p, "other.yml", "not: [a pod")
	time.Sleep(2 * manifestsSettle)
	if got := getPod(t, p, other); got.Metadata.UID != otherPod.Metadata.UID || got.Status.Phase != pod.PodRunning {
		t.Errorf("a broken edit of other.yml disturbed its pod")
	}

	// A removed file: the pod is stopped and removed.
	if err := os.Remove(filepath.Join(p.Manifests, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	_, took = waitStatic(t, p, web, "removed", func(got *pod.Pod) bool { return got == nil })
	t.Logf("removal followed in %v", took)
	if ids := podContainers(t, p, second.Metadata.UID); len(ids) != 0 {
		t.Errorf("containers of the removed static pod are left: %v", ids)
	}

	// Removed while podd is down: followed at start.
	writeStatic(t, p, "other.yml", staticManifest(other, "other"))
	p.Stop(t)
	if err := os.Remove(filepath.Join(p.Manifests, "other.yml")); err != nil {
		t.Fatal(err)
	}
	p.Start(t)
	waitStatic(t, p, other, "removed after podd's restart", func(got *pod.Pod) bool { return got == nil })
}

// manifestsSettle is a little more than podd's wait for a burst of changes to settle.
const manifestsSettle = 500 * time.Millisecond

// TestStaticPodsIgnoreTemporaryFiles: hidden files, editors' swap and backup files and files of
// other extensions describe no pod, and a file written in two steps (as `echo >` or an editor
// without atomic saves does) ends up as its pod.
func TestStaticPodsIgnoreTemporaryFiles(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--manifests-rescan", "1h")
	ignored := uniqueName(t, "ignored")
	for _, file := range []string{".web.yaml", ".web.yaml.swp", "web.yaml~", "#web.yaml#", "web.yaml.bak", "web.txt"} {
		if err := os.WriteFile(filepath.Join(p.Manifests, file), []byte(staticManifest(ignored, "no")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Written in two parts, a moment apart: the half file is a bad manifest for a moment.
	name := uniqueName(t)
	full := staticManifest(name, "yes")
	path := filepath.Join(p.Manifests, "slow.yaml")
	if err := os.WriteFile(path, []byte(full[:len(full)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(full[len(full)/2:])
	f.Close()
	waitStatic(t, p, name, "running", running)
	if res := p.Podctl(t, "get", ignored); res.ExitCode == 0 {
		t.Errorf("a hidden or temporary file started a pod: %s", res)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitStatic(t, p, name, "removed", func(got *pod.Pod) bool { return got == nil })
}

// TestStopPodsOnShutdown: with --stop-pods-on-shutdown, SIGTERM makes podd stop every pod with
// the stop contract before it exits; the next podd starts them again (restartPolicy Always).
func TestStopPodsOnShutdown(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--stop-pods-on-shutdown")
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: stubborn, image: %s, command: [sleep, "3600"]}
  - {name: polite, image: %s, command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do sleep 1; done"]}
`, name, busyboxImage, busyboxImage))
	before := getPod(t, p, name)
	start := time.Now()
	p.Stop(t)
	took := time.Since(start)
	// sleep ignores SIGTERM as PID 1: it holds the shutdown for its 2 s grace, then is killed.
	if took < 2*time.Second {
		t.Errorf("podd exited %v after SIGTERM; the stubborn container's grace is 2 s", took)
	}
	t.Logf("podd stopped its pod and exited %v after SIGTERM", took)
	for _, c := range podContainers(t, p, before.Metadata.UID) {
		if pid := taskPidOrZero(p, c.ID); pid != 0 {
			t.Errorf("container %s still runs (pid %d) after podd's shutdown stopped the pods", c.ID, pid)
		}
	}
	p.Start(t)
	got := waitPhase(t, p, name, pod.PodRunning)
	if got.Metadata.UID != before.Metadata.UID {
		t.Errorf("the pod was recreated rather than started again")
	}
	waitFor(t, "polite to have said bye", func() bool {
		return strings.Contains(p.Podctl(t, "logs", name, "-c", "polite", "--previous").Stdout, "bye")
	})
}

// waitFor polls cond for up to podWaitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", podWaitTimeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// taskPidOrZero is the PID of the container's running task, or 0 when it has none or it is not
// running.
func taskPidOrZero(p *Podd, id string) int {
	c, err := h.client.LoadContainer(p.Context(), id)
	if err != nil {
		return 0
	}
	task, err := c.Task(p.Context(), nil)
	if err != nil {
		return 0
	}
	st, err := task.Status(p.Context())
	if err != nil || st.Status != "running" {
		return 0
	}
	if err := syscall.Kill(int(task.Pid()), 0); err != nil {
		return 0
	}
	return int(task.Pid())
}

// TestSystemdUnits checks the unit files `make install` installs with systemd's own verifier,
// with ExecStart pointing at the podd the tests built.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze (Debian package systemd) is missing")
		}
		t.Skip("systemd-analyze (Debian package systemd) is missing")
	}
	podd, _ := poddBinaries(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, unit := range []string{"podd.service", "podd.socket"} {
		b, err := os.ReadFile(filepath.Join(root, "contrib", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/podd", podd))
		if err := os.WriteFile(filepath.Join(dir, unit), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "podd.service"), filepath.Join(dir, "podd.socket")).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// sleeperPod is a pod of one container that sleeps for an hour.
func sleeperPod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: %s, command: [sleep, "3600"]}
`, name, busyboxImage)
}
