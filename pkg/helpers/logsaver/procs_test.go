package logsaver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"

	"github.com/urfave/cli/v2"
)

// Tests against a real rsyslogd started by the test on a loopback port, with the log saver run
// as its own process (this test binary, re-executed) so that it can be killed with SIGKILL.
// Without rsyslogd they are skipped, except under CI=true, where that fails.

const helperEnv = "PODD_LOG_SAVER_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		app := &cli.App{Name: "podd-patterns", Commands: []*cli.Command{Command()},
			Flags: []cli.Flag{&cli.BoolFlag{Name: "debug"}}}
		if err := app.Run(append([]string{"podd-patterns"}, os.Args[1:]...)); err != nil {
			fmt.Fprintln(os.Stderr, "podd-patterns:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func needRsyslogd(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real rsyslogd")
	}
	path, err := exec.LookPath("rsyslogd")
	if err == nil {
		return path
	}
	msg := "missing rsyslogd (Debian package rsyslog; make test installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// DedupeRsyslogConf is the rsyslog configuration of specs/patterns/log-saver.md: imtcp on
// port, every message whose sequence number is not above the last one kept is dropped, the
// others are written to out as they came (the line only).
func dedupeRsyslogConf(workDir string, port int, out string) string {
	return fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="podd-log-saver")
template(name="line" type="string" string="%%msg%%\n")
# One worker thread: the check and the update of $/podd_seq are one step for each message.
# The numbers are compared as strings of 20 digits ("s" makes them strings).
ruleset(name="podd-log-saver" queue.type="LinkedList" queue.workerThreads="1") {
  set $.seq = "s" & re_extract($structured-data, "seq=\"([0-9]+)\"", 0, 1, "");
  if $.seq <= $/podd_seq then stop
  set $/podd_seq = $.seq;
  action(type="omfile" file=%q template="line")
}
`, workDir, port, out)
}

// rsyslog is a running rsyslogd.
type rsyslog struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func startRsyslog(t *testing.T, bin, conf string, port int) *rsyslog {
	t.Helper()
	dir := t.TempDir()
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &rsyslog{exited: make(chan struct{}), log: filepath.Join(dir, "rsyslogd.log")}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); logf.Close(); close(r.exited) }()
	t.Cleanup(func() { r.cmd.Process.Kill(); <-r.exited })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return r
		}
		select {
		case <-r.exited:
			b, _ := os.ReadFile(r.log)
			t.Fatalf("rsyslogd exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd does not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends rsyslogd with SIGTERM, which empties its queue into the file first.
func (r *rsyslog) stop(t *testing.T) {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(120 * time.Second):
		t.Fatal("rsyslogd did not stop on SIGTERM")
	}
}

// saverProc is a log saver process.
type saverProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
	mu     *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func startSaver(t *testing.T, args ...string) *saverProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &saverProc{exited: make(chan struct{}), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	p.cmd = exec.Command(exe, append([]string{"log-saver"}, args...)...)
	p.cmd.Env = append(os.Environ(), helperEnv+"=1")
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	return p
}

func (p *saverProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// counts reads the collector's file: per prefix (the writer: "a" or "e"), how many times each
// sequence number arrived, and the lines that do not parse. Whole lines only: rsyslog's omfile
// writes the file in 4096-byte chunks, so while it runs the file can end in the middle of a
// line (which may be cut in its number: "a=12" of "a=123"); it is counted once its end is
// written.
func counts(t *testing.T, path string) (map[string]map[int]int, []string) {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]map[int]int{}, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]map[int]int{"a": {}, "e": {}}
	var bad []string
	sc := bufio.NewScanner(f)
	sc.Split(wholeLines)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		k, v, ok := strings.Cut(line[i+1:], "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || got[k] == nil {
			if len(bad) < 10 {
				bad = append(bad, line)
			}
			continue
		}
		got[k][n]++
	}
	return got, bad
}

// wholeLines is bufio.ScanLines without the last line when its newline is not written yet.
func wholeLines(data []byte, atEOF bool) (int, []byte, error) {
	if bytes.IndexByte(data, '\n') < 0 {
		return 0, nil, nil // more to read, or an unfinished line at the end
	}
	return bufio.ScanLines(data, atEOF)
}

// writer writes numbered lines at full speed, one write(2) each (as nginx writes its access
// log), into dir/name; rotate renames the file away and opens a new one, as after nginx's
// USR1; copytruncate copies the file and truncates it, as logrotate's copytruncate.
type writer struct {
	dir, name, prefix string
	f                 *os.File
	n                 int
	rotations         int
}

func newWriter(t *testing.T, dir, name, prefix string) *writer {
	w := &writer{dir: dir, name: name, prefix: prefix}
	w.open(t)
	return w
}

func (w *writer) open(t *testing.T) {
	f, err := os.OpenFile(filepath.Join(w.dir, w.name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w.f = f
}

func (w *writer) write(t *testing.T) {
	w.n++
	var line string
	if w.prefix == "a" {
		line = fmt.Sprintf("10.123.0.%d - - [05/Dec/2026:12:00:00 +0000] \"GET /items/%d HTTP/1.1\" 200 %d \"-\" \"curl/8.0\" a=%d\n", w.n%250, w.n, 100+w.n%900, w.n)
	} else {
		line = fmt.Sprintf("2026/12/05 12:00:00 [error] 7#7: *%d upstream timed out e=%d\n", w.n, w.n)
	}
	if _, err := w.f.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

func (w *writer) rotate(t *testing.T) {
	w.rotations++
	old := filepath.Join(w.dir, w.name)
	if err := os.Rename(old, fmt.Sprintf("%s.%d", old, w.rotations)); err != nil {
		t.Fatal(err)
	}
	// nginx writes on into the renamed file until it reopens: a few lines more.
	for i := 0; i < 50; i++ {
		w.write(t)
	}
	w.f.Close()
	w.open(t)
}

func (w *writer) copytruncate(t *testing.T) {
	w.rotations++
	path := filepath.Join(w.dir, w.name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fmt.Sprintf("%s.%d", path, w.rotations), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExactlyOnceRsyslog: an nginx-like writer writes numbered access-log lines at full speed
// (and a second file, error lines), rotating by rename three times and once by copytruncate,
// while the log saver ships to a real rsyslogd over TCP and is killed with SIGKILL three times
// mid-stream and started again. At the end every line is in rsyslog's file exactly once.
func TestExactlyOnceRsyslog(t *testing.T) {
	bin := needRsyslogd(t)
	tmp := t.TempDir()
	logDir := filepath.Join(tmp, "app")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "collected.log")
	port := hosttest.FreePort(t)
	rs := startRsyslog(t, bin, dedupeRsyslogConf(tmp, port, out), port)

	args := []string{
		"--paths", filepath.Join(logDir, "access*.log") + "," + filepath.Join(logDir, "err-*.log"),
		"--to", fmt.Sprintf("syslog+tcp://127.0.0.1:%d", port),
		"--listen", "", "--batch-lines", "300", "--batch-wait", "20ms", "--rotate-wait", "500ms",
		"--min-backoff", "10ms", "--max-backoff", "200ms",
	}
	saver := startSaver(t, args...)

	const total = 100000
	acc := newWriter(t, logDir, "access.log", "a")
	errw := newWriter(t, logDir, "err-app.log", "e")
	arrived := func(prefix string) int {
		c, _ := counts(t, out)
		return len(c[prefix])
	}
	var outputs []string
	kills, arrivedAtStart, killPending, stoppedAt := 0, 0, false, 0
	defer func() {
		if t.Failed() {
			outputs = append(outputs, saver.output())
			for i, o := range outputs {
				t.Logf("log saver run %d:\n%s", i+1, o)
			}
			b, _ := os.ReadFile(rs.log)
			t.Logf("rsyslogd:\n%s", b)
		}
	}()
	killAt := map[int]bool{total / 5: true, total / 2: true, 4 * total / 5: true}
	rotateAt := map[int]bool{total / 6: true, 2 * total / 5: true, 7 * total / 10: true}
	for acc.n < total {
		acc.write(t)
		if acc.n%20 == 0 {
			errw.write(t)
		}
		if stoppedAt > 0 && acc.n >= stoppedAt+500 {
			// 500 lines were written while the saver stood still: lines are waiting, and
			// whatever it had in flight when it stopped is still in flight.
			saver.cmd.Process.Signal(syscall.SIGKILL)
			<-saver.exited
			outputs = append(outputs, saver.output())
			if n := arrived("a"); n >= acc.n {
				t.Fatalf("after the kill at line %d, %d lines had arrived: a stopped saver shipped", acc.n, n)
			}
			kills++
			stoppedAt = 0
			arrivedAtStart = arrived("a")
			saver = startSaver(t, args...)
		}
		switch {
		case rotateAt[acc.n]:
			acc.rotate(t)
		case acc.n == 3*total/5:
			// copytruncate loses what the saver has not read when the file is truncated
			// (logrotate's own race): the writer waits until everything arrived.
			waitFor(t, "the saver to catch up before copytruncate", 120*time.Second, func() bool {
				return arrived("a") >= acc.n
			})
			acc.copytruncate(t)
		case killAt[acc.n]:
			killPending = true
		case killPending && acc.n%500 == 0 && arrived("a") > arrivedAtStart+500:
			// This saver is mid-stream: it shipped lines since it started and the writer
			// goes on. It is stopped here and killed 500 lines later, so the kill finds lines
			// waiting even when a slow writer (a busy machine) lets it keep up.
			if err := saver.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stoppedAt, killPending = acc.n, false
		}
	}
	waitFor(t, "every line to arrive", 300*time.Second, func() bool {
		return arrived("a") >= total && arrived("e") >= errw.n
	})
	saver.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-saver.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the log saver did not exit on SIGTERM")
	}
	outputs = append(outputs, saver.output())
	if code := saver.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; output:\n%s", code, saver.output())
	}
	rs.stop(t) // its queue is in the file now: the file is final
	got, bad := counts(t, out)
	if len(bad) > 0 {
		t.Errorf("lines that are not the writers': %q", bad)
	}
	for _, w := range []*writer{acc, errw} {
		var missing, repeated []int
		for i := 1; i <= w.n; i++ {
			switch c := got[w.prefix][i]; {
			case c == 0:
				missing = append(missing, i)
			case c > 1:
				repeated = append(repeated, i)
			}
		}
		if len(got[w.prefix]) != w.n || len(missing) > 0 || len(repeated) > 0 {
			t.Errorf("%s: %d lines written, %d distinct arrived; missing %s; repeated %s",
				w.name, w.n, len(got[w.prefix]), head(missing), head(repeated))
		}
	}
	replays := strings.Count(strings.Join(outputs, ""), "sending again the batch in flight")
	t.Logf("%d access lines, %d error lines, %d rotations, %d kills; %d restarts re-sent a batch in flight", acc.n, errw.n, acc.rotations, kills, replays)
	if kills < 3 {
		t.Errorf("%d kills, want 3", kills)
	}
}

func head(l []int) string {
	if len(l) > 10 {
		return fmt.Sprint(l[:10], "...")
	}
	return fmt.Sprint(l)
}

// TestSIGTERMFlushes: lines read before SIGTERM are shipped before the exit (0), and the state
// file then holds nothing pending.
func TestSIGTERMFlushes(t *testing.T) {
	bin := needRsyslogd(t)
	tmp := t.TempDir()
	logDir := filepath.Join(tmp, "app")
	os.Mkdir(logDir, 0o755)
	out := filepath.Join(tmp, "collected.log")
	port := hosttest.FreePort(t)
	rs := startRsyslog(t, bin, dedupeRsyslogConf(tmp, port, out), port)
	w := newWriter(t, logDir, "access.log", "a")
	for i := 0; i < 1000; i++ {
		w.write(t)
	}
	// A batch that waits a long time for more lines: only the flush at SIGTERM sends it.
	saver := startSaver(t, "--paths", filepath.Join(logDir, "*.log"), "--to", fmt.Sprintf("syslog+tcp://127.0.0.1:%d", port),
		"--listen", "", "--batch-lines", "100000", "--batch-wait", "1h")
	waitFor(t, "the saver to follow the file", 60*time.Second, func() bool {
		return strings.Contains(saver.output(), `"following"`)
	})
	saver.cmd.Process.Signal(syscall.SIGTERM)
	<-saver.exited
	if code := saver.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, saver.output())
	}
	rs.stop(t)
	got, _ := counts(t, out)
	if len(got["a"]) != 1000 {
		t.Fatalf("%d lines arrived, want 1000; log saver:\n%s", len(got["a"]), saver.output())
	}
	st, err := LoadState(filepath.Join(logDir, ".podd-log-saver"))
	if err != nil || st == nil || st.Pending != nil || len(st.Files) != 1 || st.Files[0].Offset == 0 {
		t.Fatalf("state after SIGTERM: %+v, %v", st, err)
	}
	if fi, _ := os.Stat(filepath.Join(logDir, "access.log")); st.Files[0].Offset != fi.Size() {
		t.Fatalf("state offset %d, file size %d", st.Files[0].Offset, fi.Size())
	}
}

// TestSequenceAboveInt32: sequence numbers far above 2^32 — as the clock-based ones of a fresh
// state are — against a fresh rsyslogd with the spec's rule: every line is kept. rsyslog
// compares numbers by the low 32 bits of their difference, so a rule comparing cnum()s drops
// them depending on those bits (3000000000 against the unset variable's 0 is "smaller"); the
// zero-padded numbers compared as strings are right.
func TestSequenceAboveInt32(t *testing.T) {
	bin := needRsyslogd(t)
	tmp := t.TempDir()
	logDir := filepath.Join(tmp, "app")
	stateDir := filepath.Join(logDir, ".podd-log-saver")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, next := range []uint64{3000000000, 1 << 32, 1<<62 + 5} {
		out := filepath.Join(tmp, fmt.Sprintf("collected-%d.log", next))
		port := hosttest.FreePort(t)
		rs := startRsyslog(t, bin, dedupeRsyslogConf(tmp, port, out), port)
		os.RemoveAll(logDir)
		os.MkdirAll(stateDir, 0o755)
		if err := SaveState(stateDir, &State{NextSeq: next}); err != nil {
			t.Fatal(err)
		}
		w := newWriter(t, logDir, "access.log", "a")
		for i := 0; i < 10; i++ {
			w.write(t)
		}
		saver := startSaver(t, "--paths", filepath.Join(logDir, "*.log"), "--to", fmt.Sprintf("syslog+tcp://127.0.0.1:%d", port), "--listen", "")
		waitFor(t, "the lines to be acknowledged", 60*time.Second, func() bool {
			st, _ := LoadState(stateDir)
			return st != nil && len(st.Files) == 1 && st.Files[0].Offset > 0 && st.Pending == nil
		})
		saver.cmd.Process.Signal(syscall.SIGTERM)
		<-saver.exited
		rs.stop(t)
		got, _ := counts(t, out)
		if len(got["a"]) != 10 {
			t.Errorf("numbers from %d: %d of 10 lines kept by rsyslog", next, len(got["a"]))
		}
	}
}

// TestCountsUnfinishedLine: a read of rsyslog's file while omfile writes it (in 4096-byte
// chunks) can end in the middle of a line; that tail is neither a line that does not parse nor
// the number it was cut in ("a=12" of "a=123").
func TestCountsUnfinishedLine(t *testing.T) {
	whole := "10.123.0.1 - - [05/Dec/2026:12:00:00 +0000] \"GET /items/1 HTTP/1.1\" 200 101 \"-\" \"curl/8.0\" a=1\n" +
		"2026/12/05 12:00:00 [error] 7#7: *1 upstream timed out e=1\n"
	for _, tail := range []string{"", "1", "10.123.0.12 - - [05/Dec/2026:12:00:00 +0000", "10.123.0.123 - - [05/Dec/2026:12:00:00 +0000] \"GET /items/123 HTTP/1.1\" 200 223 \"-\" \"curl/8.0\" a=12"} {
		path := filepath.Join(t.TempDir(), "collected.log")
		if err := os.WriteFile(path, []byte(whole+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		got, bad := counts(t, path)
		if len(bad) > 0 || len(got["a"]) != 1 || got["a"][1] != 1 || len(got["e"]) != 1 || got["e"][1] != 1 {
			t.Errorf("with the unfinished tail %q: got %v, lines that do not parse %q; want a=1 and e=1 once each", tail, got, bad)
		}
	}
}
