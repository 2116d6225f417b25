package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"
)

// logsWait bounds the waits of the logs tests for what should happen within seconds.
const logsWait = 60 * time.Second

// follower is a `podctl logs -f` running in the background.
type follower struct {
	cmd      *exec.Cmd
	out, err hosttest.Buffer
	exited   chan struct{}
	waitErr  error
}

func startFollower(t *testing.T, p *Podd, args ...string) *follower {
	t.Helper()
	_, podctlBin := poddBinaries(t)
	f := &follower{exited: make(chan struct{})}
	f.cmd = exec.Command(podctlBin, append([]string{"--socket", p.Socket, "logs", "-f"}, args...)...)
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.err
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		f.waitErr = f.cmd.Wait()
		close(f.exited)
	}()
	t.Cleanup(func() {
		f.cmd.Process.Kill()
		<-f.exited
	})
	return f
}

// waitFor polls cond until it holds; it fails the test after logsWait.
func logsWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(logsWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// numberedLines reads "line N" lines of out: their numbers in order, and the other lines.
func numberedLines(out string) (nums []int, other []string) {
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if n, err := strconv.Atoi(strings.TrimPrefix(l, "line ")); err == nil && strings.HasPrefix(l, "line ") {
			nums = append(nums, n)
		} else if l != "" {
			other = append(other, l)
		}
	}
	return nums, other
}

func (f *follower) output() string { return f.out.String() }

func (f *follower) count() int {
	return strings.Count(f.out.String(), "\n")
}

// TestLogsFollowAcrossRotationAndPoddRestarts follows a container that writes numbered lines
// steadily to a small, rotating log, while podd is restarted and then killed and started again:
// the follower reconnects, resumes after its last line, and prints every line exactly once.
func TestLogsFollowAcrossRotationAndPoddRestarts(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--log-max-size", "16Ki", "--log-max-files", "20")
	name := uniqueName(t)
	p.RunManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: writer
    image: %s
    command: ["sh", "-c"]
    args:
    - |
      trap 'exit 0' TERM
      i=0
      while true; do
        i=$((i+1))
        echo "line $i"
        if [ $((i %% 100)) = 0 ]; then echo "err $i" >&2; fi
        usleep 2000
      done
`, name, busyboxImage))
	uid := getPod(t, p, name).Metadata.UID
	logDir := filepath.Join(p.Root, "logs", "default_"+name+"_"+uid, "writer")

	f := startFollower(t, p, name)
	logsWaitFor(t, "the follower's first 200 lines", func() bool { return f.count() >= 200 })
	logsWaitFor(t, "a rotation while following", func() bool {
		_, err := os.Stat(filepath.Join(logDir, "0.log.1"))
		return err == nil
	})

	p.Restart(t)
	before := f.count()
	logsWaitFor(t, "lines after podd's restart", func() bool { return f.count() >= before+300 })

	p.Kill9(t)
	time.Sleep(time.Second) // the container writes on, podd is gone
	p.Start(t)
	before = f.count()
	logsWaitFor(t, "lines after podd was killed and started again", func() bool { return f.count() >= before+300 })

	if res := p.Podctl(t, "stop", name); res.ExitCode != 0 {
		t.Fatalf("podctl stop: %s", res)
	}
	select {
	case <-f.exited:
	case <-time.After(logsWait):
		t.Fatalf("the follower did not end after the container stopped\nstderr:\n%s", f.err.String())
	}
	if f.waitErr != nil {
		t.Errorf("podctl logs -f: %v\nstderr:\n%s", f.waitErr, f.err.String())
	}

	nums, other := numberedLines(f.out.String())
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("follower's line %d is \"line %d\", want \"line %d\": a line lost or repeated (stderr:\n%s)", i+1, n, i+1, f.err.String())
		}
	}
	var errs []int
	for _, l := range other {
		n, err := strconv.Atoi(strings.TrimPrefix(l, "err "))
		if err != nil || !strings.HasPrefix(l, "err ") {
			t.Errorf("unexpected line %q in the follower's output", l)
			continue
		}
		errs = append(errs, n)
	}
	if want := len(nums) / 100; len(errs) < want-1 || len(errs) > want+1 {
		t.Errorf("%d stderr lines for %d stdout lines, want one a hundred: %v", len(errs), len(nums), errs)
	}
	if !sort.IntsAreSorted(errs) || len(slices.Compact(slices.Clone(errs))) != len(errs) {
		t.Errorf("stderr lines out of order or repeated: %v", errs)
	}

	// The follower saw the end of the log: its last line is the log's last.
	res := p.Podctl(t, "logs", name, "--tail", "5")
	lastNums, _ := numberedLines(res.Stdout)
	if len(lastNums) == 0 || len(nums) == 0 || lastNums[len(lastNums)-1] != nums[len(nums)-1] {
		t.Errorf("the log ends with %q; the follower's last line is %d", res.Stdout, nums[len(nums)-1])
	}
	rotated, _ := filepath.Glob(filepath.Join(logDir, "0.log.*"))
	if reconnects := strings.Count(f.err.String(), "reconnected to podd"); reconnects != 2 {
		t.Errorf("the follower reconnected %d times, want 2 (a restart, a kill):\n%s", reconnects, f.err.String())
	}
	t.Logf("followed %d lines across %d rotated files (of at most 19 kept), a podd restart and a podd kill",
		len(nums), len(rotated))
}

// TestLogsPreviousTailSinceTimestamps reads the logs of a container that restarted once with
// podctl logs' options.
func TestLogsPreviousTailSinceTimestamps(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	// Detached: the first instance of crash may exit before podctl run sees it running.
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: data
    emptyDir: {}
  containers:
  - name: crash
    image: %[2]s
    command: ["sh", "-c"]
    args:
    - |
      n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n
      echo "instance $n"
      echo "instance $n to stderr" >&2
      if [ $n = 1 ]; then exit 1; fi
      %[3]s
    volumeMounts:
    - {name: data, mountPath: /data}
  - name: steady
    image: %[2]s
    command: ["sh", "-c", "echo one; echo two; echo three; %[3]s"]
`, name, busyboxImage, untilTerm))
	logsWaitFor(t, "the crash container's second instance", func() bool {
		for _, s := range getPod(t, p, name).Status.ContainerStatuses {
			if s.Name == "crash" && s.RestartCount == 1 && s.State.Running != nil {
				return true
			}
		}
		return false
	})
	sorted := func(s string) string {
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		slices.Sort(lines) // stdout and stderr are read at once
		return strings.Join(lines, "\n")
	}
	logsWaitFor(t, "the second instance's log", func() bool {
		return strings.Count(p.Podctl(t, "logs", name, "-c", "crash").Stdout, "\n") == 2
	})
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z `
	tests := []struct {
		args   []string
		stdout string // exact, or a regular expression when re
		re     bool
		sort   bool
		code   int
		stderr string
	}{
		{args: []string{"-c", "crash"}, stdout: "instance 2\ninstance 2 to stderr", sort: true},
		{args: []string{"-c", "crash", "--previous"}, stdout: "instance 1\ninstance 1 to stderr", sort: true},
		{args: []string{"-c", "crash", "-p", "--tail", "1"}, stdout: "^instance 1( to stderr)?\n$", re: true},
		{args: []string{"-c", "steady", "--previous"}, code: 1,
			stderr: fmt.Sprintf("error: previous terminated container \"steady\" in pod %q not found\n", name)},
		{args: []string{"-c", "steady"}, stdout: "one\ntwo\nthree\n"},
		{args: []string{"-c", "steady", "--tail", "2"}, stdout: "two\nthree\n"},
		{args: []string{"-c", "steady", "--tail", "0"}, stdout: ""},
		{args: []string{"-c", "steady", "--timestamps", "--tail", "1"}, stdout: "^" + ts + "three\n$", re: true},
		{args: []string{"-c", "steady", "--since", "1h"}, stdout: "one\ntwo\nthree\n"},
		{args: []string{"-c", "steady", "--since-time", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, stdout: ""},
		{args: []string{"-c", "nosuch"}, code: 1, stderr: fmt.Sprintf("error: container \"nosuch\" not found in pod %q\n", name)},
	}
	for _, tt := range tests {
		res := p.Podctl(t, append([]string{"logs", name}, tt.args...)...)
		out := res.Stdout
		if tt.sort {
			out = sorted(out)
		}
		ok := res.ExitCode == tt.code && res.Stderr == tt.stderr
		if tt.re {
			ok = ok && regexp.MustCompile(tt.stdout).MatchString(out)
		} else {
			ok = ok && out == tt.stdout
		}
		if !ok {
			t.Errorf("podctl logs %s %s:\n%s\nwant exit code %d, stdout %q, stderr %q", name, strings.Join(tt.args, " "), res, tt.code, tt.stdout, tt.stderr)
		}
	}

	// -f on a container that has ended for good prints its log and ends.
	if res := p.Podctl(t, "stop", name, "--grace", "1"); res.ExitCode != 0 {
		t.Fatalf("podctl stop: %s", res)
	}
	res := p.Podctl(t, "logs", name, "-c", "steady", "-f")
	if res.ExitCode != 0 || res.Stdout != "one\ntwo\nthree\n" {
		t.Errorf("podctl logs -f of a stopped container:\n%s\nwant its log, then the end", res)
	}
}

// TestLogsLoggerCost measures what the logging mechanism costs per container: the processes
// the shims start as loggers (podd-logger, installed beside podd), and their memory.
func TestLogsLoggerCost(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	const containers = 10
	var spec strings.Builder
	for i := range containers {
		fmt.Fprintf(&spec, "  - {name: c%d, image: %s, command: [\"sh\", \"-c\", \"echo started; %s\"]}\n", i, busyboxImage, untilTerm)
	}
	runManifest(t, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n%s", name, spec.String()))
	uid := getPod(t, p, name).Metadata.UID
	podLogDir := filepath.Join(p.Root, "logs", "default_"+name+"_"+uid) + "/"

	loggers := map[string][]int{} // container → logger pids
	var rss, anon, pss []int      // KiB
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) != 3 || args[1] != "logger" || !strings.Contains(args[2], podLogDir) || filepath.Base(args[0]) != "podd-logger" {
			continue
		}
		var cfg struct{ Path string }
		if err := json.Unmarshal([]byte(args[2]), &cfg); err != nil {
			t.Errorf("logger %d: config %q: %v", pid, args[2], err)
			continue
		}
		container := filepath.Base(filepath.Dir(cfg.Path))
		loggers[container] = append(loggers[container], pid)
		rss = append(rss, procKiB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:"))
		anon = append(anon, procKiB(fmt.Sprintf("/proc/%d/status", pid), "RssAnon:"))
		pss = append(pss, procKiB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:"))
		// The logger is the shim's child, not podd's: podd restarting cannot touch it.
		if ppid := parentPID(pid); ppid == 0 || strings.Contains(processName(ppid), "podd") {
			t.Errorf("logger %d's parent is %d (%s), want the container's shim", pid, ppid, processName(ppid))
		}
	}
	if len(loggers) != containers {
		t.Fatalf("loggers for %d containers, want %d: %v", len(loggers), containers, loggers)
	}
	for c, pids := range loggers {
		if len(pids) != 1 {
			t.Errorf("container %s has %d logger processes, want 1", c, len(pids))
		}
	}
	median := func(v []int) int { slices.Sort(v); return v[len(v)/2] }
	// VmRSS counts the pages of podd-logger's binary that the logger touched; they are shared by
	// every logger. RssAnon is what each logger has of its own; Pss shares the rest out.
	t.Logf("logging cost, %d containers: 1 logger process per container; medians: VmRSS %d KiB, RssAnon %d KiB (private), Pss %d KiB",
		containers, median(rss), median(anon), median(pss))
}

// procKiB reads a "Name:   123 kB" field of a /proc file.
func procKiB(path, field string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func parentPID(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(fields[1])
	return n
}

func processName(pid int) string {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(comm))
}

// TestLogsLastLineWithoutNewline: a container that ends its output without a newline (printf)
// and exits has that output in podctl logs while the pod stays, as kubectl logs shows it: the
// shim keeps the output pipes open until the task is deleted, so the logger writes a begun line
// out once it waited a moment, rather than when the pipe closes.
func TestLogsLastLineWithoutNewline(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: %s, command: [sh, -c, 'echo one; printf very']}
`, name, busyboxImage))
	waitDone(t, p, name)
	var out string
	logsWaitFor(t, "the last output in podctl logs", func() bool {
		out = podLogs(t, p, name, "c")
		return out == "one\nvery"
	})
}

// TestLogsSelector: podctl logs -l prints the log of every pod the selector matches, as kubectl
// does: one after the other, and with -f all at once; --prefix names each line's pod and
// container; a selector that matches nothing says so; more pods than --max-log-requests refuse -f.
func TestLogsSelector(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	app := uniqueName(t, "sel")
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + app + `}
spec:
  replicas: 2
  selector: {matchLabels: {app: ` + app + `}}
  template:
    metadata: {labels: {app: ` + app + `}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: talk
        image: ` + busyboxImage + `
        command: [sh, -c, 'echo "hello from $(hostname)"; trap "exit 0" TERM; sleep 3600 & wait']
`
	p.ApplyManifest(t, manifest)
	var pods []string
	waitFor(t, "two pods that said hello", func() bool {
		pods = pods[:0]
		out := p.Podctl(t, "logs", "-l", "app="+app, "--prefix").Stdout
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			// [pod/NAME/talk] hello from NAME
			var name, from string
			if _, err := fmt.Sscanf(line, "[pod/%s hello from %s", &name, &from); err == nil && strings.TrimSuffix(name, "/talk]") == from {
				pods = append(pods, from)
			}
		}
		return len(pods) == 2
	})
	if pods[0] == pods[1] || !strings.HasPrefix(pods[0], app+"-") {
		t.Fatalf("logs -l printed %v, want the two replicas' lines", pods)
	}
	// -f follows both at once: both lines arrive while it runs.
	f := startFollower(t, p, "-l", "app="+app, "--prefix")
	logsWaitFor(t, "both replicas' lines from logs -l -f", func() bool {
		out := f.output()
		return strings.Contains(out, "[pod/"+pods[0]+"/talk] hello from "+pods[0]) && strings.Contains(out, "[pod/"+pods[1]+"/talk] hello from "+pods[1])
	})
	if res := p.Podctl(t, "logs", "-l", "app="+app, "-f", "--max-log-requests", "1"); res.ExitCode == 0 || !strings.Contains(res.Stderr, "maximum allowed concurrency is 1") {
		t.Errorf("logs -l -f with 2 pods and --max-log-requests 1: %s, want a refusal", res)
	}
	if res := mustPodctl(t, p, "logs", "-l", "app=nothing-"+app); !strings.Contains(res.Stderr, "No resources found") {
		t.Errorf("logs -l matching nothing: %s", res)
	}
}
