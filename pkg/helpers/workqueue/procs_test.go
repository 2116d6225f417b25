package workqueue

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// The test binary doubles as podd-patterns: with WQ_MAIN=1 it runs the commands as
// cmd/podd-patterns does, so that the helper and the runner are real processes (the helper
// copies this binary into the work folder, and the runner runs from there).
func TestMain(m *testing.M) {
	if os.Getenv("WQ_MAIN") == "1" {
		app := &cli.App{Name: "podd-patterns", Flags: []cli.Flag{&cli.BoolFlag{Name: "debug"}}, Commands: []*cli.Command{Command(), RunCommand()}}
		if err := app.Run(os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "podd-patterns:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// userScript is the tests' user program: poison items exit 65, flaky ones fail their first
// attempt, the others write done:<input> to their output.
const userScript = `c=$(cat "$WORK_ITEM")
case "$c" in poison*) echo "cannot parse $c" >&2; exit 65;; esac
case "$WORK_ITEM_ID" in flaky-*) [ "$WORK_ATTEMPT" -gt 1 ] || { echo "flake on $c" >&2; exit 3; };; esac
sleep 0.1
echo "done:$c" > "$WORK_OUTPUT/result"
`

func startProc(t *testing.T, out *hosttest.Buffer, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "WQ_MAIN=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestHelperAndRunnerProcesses: a helper and a runner, as real processes, work through a folder
// of items while the user's programs are killed at random and the helper is killed (-9) and
// started again: every good item's output is committed once with the right content, the poison
// items are dead letters with their reason and log tail, and nothing stays leased.
func TestHelperAndRunnerProcesses(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	src, spoolDir, work := t.TempDir(), t.TempDir(), t.TempDir()
	want := map[string]string{}
	var poison []string
	for i := range 40 {
		id, content := fmt.Sprintf("ok-%03d", i), fmt.Sprintf("v%d", i)
		switch {
		case i%10 == 3:
			id, content = fmt.Sprintf("poison-%03d", i), fmt.Sprintf("poison%d", i)
			poison = append(poison, id)
		case i%10 == 7:
			id = fmt.Sprintf("flaky-%03d", i)
		}
		if !strings.HasPrefix(id, "poison") {
			want[id] = "done:" + content + "\n"
		}
		if err := os.WriteFile(filepath.Join(src, id), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var helperOut, runnerOut hosttest.Buffer
	helperArgs := []string{"workqueue", "--spool", spoolDir, "--work-dir", work, "--source-dir", src,
		"--backoff", "50ms", "--max-backoff", "200ms", "--poll", "50ms", "--max-attempts", "8", "--listen", "127.0.0.1:0",
		"--socket", filepath.Join(work, "no-podd.sock")}
	helper := startProc(t, &helperOut, os.Args[0], helperArgs...)
	bin := filepath.Join(work, binaryName)
	waitFor(t, "the runner's program installed", func() bool { _, err := os.Stat(bin); return err == nil })
	runner := startProc(t, &runnerOut, bin, "wq-run", "--work-dir", work, "--", "sh", "-c", userScript)
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Wait() }()

	s, err := spool.Open(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	// Chaos while the queue runs: kill the user's program a few times, and the helper once.
	killedPrograms, helperKilled := 0, false
	deadline := time.Now().Add(2 * time.Minute)
loop:
	for {
		select {
		case err := <-runnerDone:
			if err != nil {
				t.Fatalf("runner: %v\n%s", err, runnerOut.String())
			}
			break loop
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not finish: %+v\nhelper:\n%s\nrunner:\n%s", counts(t, s), helperOut.String(), runnerOut.String())
		}
		c := counts(t, s)
		switch {
		case killedPrograms < 4 && c.Done >= 3*(killedPrograms+1):
			if killChildren(runner.Process.Pid) {
				killedPrograms++
			}
		case !helperKilled && c.Done >= 10:
			_ = helper.Process.Signal(syscall.SIGKILL)
			_, _ = helper.Process.Wait()
			helperKilled = true
			helper = startProc(t, &helperOut, os.Args[0], helperArgs...)
		}
	}
	if !helperKilled || killedPrograms == 0 {
		t.Fatalf("the chaos did not happen: helper killed %v, programs killed %d", helperKilled, killedPrograms)
	}
	c := counts(t, s)
	if c != (spool.Counts{Done: len(want), Dead: len(poison)}) {
		t.Fatalf("counts %+v, want %d done and %d dead", c, len(want), len(poison))
	}
	for id, content := range want {
		b, err := os.ReadFile(filepath.Join(s.Output(id), "result"))
		if err != nil || string(b) != content {
			t.Errorf("output of %s: %q %v, want %q", id, b, err, content)
		}
	}
	dead, _ := s.Items(spool.StateDead)
	for _, m := range dead {
		if m.Reason != "poison" || m.LastExitCode == nil || *m.LastExitCode != 65 || !strings.Contains(m.LogTail, "cannot parse") {
			t.Errorf("dead letter %+v", m)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(spoolDir, "tmp")); len(entries) != 0 {
		t.Errorf("tmp/ holds %d leftovers", len(entries))
	}
	t.Logf("programs killed: %d, helper killed: %v, runner output %d bytes", killedPrograms, helperKilled, len(runnerOut.String()))
}

// killChildren SIGKILLs the children of pid (the user's program under the runner), found by
// their parent in /proc/*/stat (a task's children file lists only that thread's).
func killChildren(pid int) bool {
	// The kernel's list of each thread's children: a scan of every /proc/<pid>/stat takes longer
	// than the program lives on a machine with a thousand processes (under -race, 0 kills).
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	killed := false
	for _, f := range lists {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(field); err == nil && syscall.Kill(child, syscall.SIGKILL) == nil {
				killed = true
			}
		}
	}
	return killed
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	hosttest.WaitFor(t, what, 30*time.Second, cond)
}

func counts(t *testing.T, s *spool.Spool) spool.Counts {
	t.Helper()
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
