package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// logSaverWriter is the app container: an nginx-like writer that appends numbered access-log
// lines to /var/log/app/access.log as fast as busybox sh goes, renaming the file away and
// reopening it every 4000 lines (as logrotate and nginx's USR1 do), until /var/log/app/stop
// appears; it then writes its last number to /var/log/app/last.
const logSaverWriter = `cd /var/log/app
exec 3>>access.log
i=0
while [ ! -e stop ]; do
  i=$((i+1))
  echo "10.123.0.7 - - [05/Dec/2026:12:00:00 +0000] \"GET /items/$i HTTP/1.1\" 200 612 \"-\" \"curl/8.0\" a=$i" >&3
  if [ $((i % 4000)) = 0 ]; then mv access.log access.log.$i; exec 3>>access.log; fi
done
echo $i > last.tmp && mv last.tmp last
exec sleep 100000
`

// TestLogSaverSidecar: the log saver as a native sidecar beside a busybox writer, sharing an
// emptyDir, shipping to a real rsyslogd on the host (on the bridge gateway) over TCP. The
// sidecar's process is killed with SIGKILL twice mid-stream (podd restarts it after its
// back-off, while the writer goes on rotating), the file is rotated many times, and in the end
// every line is in rsyslog's file exactly once. The glob takes the rotated names in
// (access.log*), as the spec advises for rename rotations: a file renamed out of the globs
// while the sidecar is down is never seen.
func TestLogSaverSidecar(t *testing.T) {
	t.Parallel()
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing rsyslogd (Debian package rsyslog; hack/install-deps.sh installs it)")
		}
		t.Skip("missing rsyslogd (Debian package rsyslog)")
	}
	p := sharedPodd(t)
	name := uniqueName(t)
	gw := gatewayOf(p)
	ln := listenGateway(t, p) // a free port on the gateway, for rsyslogd to take
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	p.ApplyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 10
  initContainers:
  - name: log-saver
    image: %[2]s
    restartPolicy: Always
    args: [log-saver, --paths, "/var/log/app/access.log*", --to, "syslog+tcp://%[3]s:%[4]d",
           --batch-wait, 50ms, --rotate-wait, 1s, --max-backoff, 1s]
    volumeMounts: [{name: logs, mountPath: /var/log/app}]
  containers:
  - name: writer
    image: %[5]s
    command: [sh, -c, %[6]q]
    volumeMounts: [{name: logs, mountPath: /var/log/app}]
  volumes:
  - name: logs
    emptyDir: {}
`, name, patternsImage, gw, port, busyboxImage, logSaverWriter))
	got := waitPhase(t, p, name, pod.PodRunning)
	logDir := filepath.Join(p.Root, "pods", got.Metadata.UID, "volumes", "logs")

	// rsyslogd on the host, on the gateway (the bridge has its address now that the pod is
	// attached); the sidecar retries until it listens.
	dir := t.TempDir()
	out := filepath.Join(dir, "collected.log")
	conf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
input(type="imtcp" address=%q port="%d" ruleset="podd-log-saver")
template(name="line" type="string" string="%%msg%%\n")
ruleset(name="podd-log-saver" queue.type="LinkedList" queue.workerThreads="1") {
  set $.seq = "s" & re_extract($structured-data, "seq=\"([0-9]+)\"", 0, 1, "");
  if $.seq <= $/podd_seq then stop
  set $/podd_seq = $.seq;
  action(type="omfile" file=%q template="line")
}
`, dir, gw, port, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	rlog, err := os.Create(filepath.Join(dir, "rsyslogd.log"))
	if err != nil {
		t.Fatal(err)
	}
	rs := exec.Command(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	rs.Stdout, rs.Stderr = rlog, rlog
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	rsExited := make(chan struct{})
	go func() { rs.Wait(); close(rsExited) }()
	t.Cleanup(func() { rs.Process.Kill(); <-rsExited })

	unfinished := 0 // reads of rsyslog's file that ended in the middle of a line
	arrived := func() map[int]int {
		got, tail := collectedSeqsTail(t, out)
		if tail {
			unfinished++
		}
		return got
	}
	waitArrived := func(what string, cond func(map[int]int) bool) map[int]int {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			got := arrived()
			if cond(got) {
				return got
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(rlog.Name())
				t.Fatalf("%s: %d distinct lines arrived after 3 minutes\nlog-saver:\n%s\nrsyslogd:\n%s", what, len(got), podLogsAll(t, p, name), b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var rss []string
	pid := sidecarPID(t, p, name, 0)
	for kill := 1; kill <= 2; kill++ {
		before := len(arrived())
		waitArrived(fmt.Sprintf("lines shipped before kill %d", kill), func(m map[int]int) bool { return len(m) >= before+3000 })
		rss = append(rss, "under load "+vmRSS(pid))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		t.Logf("kill -9 of the log saver (pid %d) with %d lines arrived", pid, len(arrived()))
		pid = sidecarPID(t, p, name, pid) // restarted by podd
	}
	// Let the restarted sidecar ship some, then stop the writer.
	before := len(arrived())
	waitArrived("lines shipped after the last restart", func(m map[int]int) bool { return len(m) >= before+3000 })
	if err := os.WriteFile(filepath.Join(logDir, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var last int
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := os.ReadFile(filepath.Join(logDir, "last"))
		if err == nil {
			if last, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("the writer's last number: %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not stop")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitArrived(fmt.Sprintf("all %d lines", last), func(m map[int]int) bool { return len(m) >= last })
	time.Sleep(5 * time.Second) // idle a while (a figure for the report, not an assertion)
	rss = append(rss, "idle "+vmRSS(sidecarPID(t, p, name, 0)))
	rotations, _ := filepath.Glob(filepath.Join(logDir, "access.log.*"))

	// Delete the pod: the sidecar stops after the writer, on SIGTERM, flushing.
	mustPodctl(t, p, "delete", "pod", name)
	// rsyslogd writes out its queue on SIGTERM: then its file is final.
	rs.Process.Signal(syscall.SIGTERM)
	select {
	case <-rsExited:
	case <-time.After(2 * time.Minute):
		t.Fatal("rsyslogd did not stop on SIGTERM")
	}
	final := arrived()
	var missing, repeated []int
	for i := 1; i <= last; i++ {
		switch c := final[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			repeated = append(repeated, i)
		}
	}
	if len(final) != last || len(missing) > 0 || len(repeated) > 0 {
		t.Fatalf("%d lines written, %d distinct arrived; missing %v; repeated %v", last, len(final), firstFew(missing), firstFew(repeated))
	}
	t.Logf("%d lines, %d rotations, 2 kills: every line once; log saver VmRSS %s; %d reads of rsyslog's file ended in an unfinished line",
		last, len(rotations), strings.Join(rss, ", "), unfinished)
}

// wholeLines is bufio.ScanLines without the last line when its newline is not written yet.
func wholeLines(data []byte, atEOF bool) (int, []byte, error) {
	if bytes.IndexByte(data, '\n') < 0 {
		return 0, nil, nil // more to read, or an unfinished line at the end
	}
	return bufio.ScanLines(data, atEOF)
}

func firstFew(l []int) []int {
	if len(l) > 10 {
		return l[:10]
	}
	return l
}

// collectedSeqs counts each number (a=N) in rsyslog's file, whole lines only: rsyslog's omfile
// writes the file in 4096-byte chunks, not line by line, so while it runs the file can end in
// the middle of a line ("10.123.0.7 - - [05/Dec/2026:12:00:00 +0000"); that line is counted
// once its end is written. (After rsyslogd exited, a line without its end is missing.)
func collectedSeqs(t *testing.T, path string) map[int]int {
	t.Helper()
	got, _ := collectedSeqsTail(t, path)
	return got
}

// collectedSeqsTail is collectedSeqs, and whether the file ended in an unfinished line.
func collectedSeqsTail(t *testing.T, path string) (got map[int]int, tail bool) {
	t.Helper()
	got = map[int]int{}
	f, err := os.Open(path)
	if err != nil {
		return got, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		tail = atEOF && len(data) > 0 && bytes.IndexByte(data, '\n') < 0
		return wholeLines(data, atEOF)
	})
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndex(line, " a=")
		if i < 0 {
			t.Fatalf("a line that is not the writer's: %q", line)
		}
		n, err := strconv.Atoi(line[i+3:])
		if err != nil {
			t.Fatalf("a line that is not the writer's: %q", line)
		}
		got[n]++
	}
	return got, tail
}

// sidecarPID is the host PID of the log-saver container's process (from podctl top), once it
// is another than not (a restarted one).
func sidecarPID(t *testing.T, p *Podd, name string, not int) int {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		res := p.Podctl(t, "top", name)
		for _, line := range strings.Split(res.Stdout, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "log-saver" {
				if pid, err := strconv.Atoi(f[1]); err == nil && pid != not {
					return pid
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log-saver process other than %d after 3 minutes; podctl top:\n%s", not, res)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func vmRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

func podLogsAll(t *testing.T, p *Podd, name string) string {
	res := p.Podctl(t, "logs", name, "-c", "log-saver")
	prev := p.Podctl(t, "logs", name, "-c", "log-saver", "-p")
	return "previous:\n" + prev.Stdout + "\ncurrent:\n" + res.Stdout
}

// TestLogSaverExample runs specs/patterns/log-saver.yaml with rsyslogd started from
// specs/patterns/log-saver-rsyslog.conf as the spec shows (addresses and folders replaced by
// this podd's), on a podd of its own (the example's names are fixed): the writer's lines, across
// two rotations, arrive in rsyslog's file once each, named by the pod and the file.
func TestLogSaverExample(t *testing.T) {
	t.Parallel()
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing rsyslogd (Debian package rsyslog; hack/install-deps.sh installs it)")
		}
		t.Skip("missing rsyslogd (Debian package rsyslog)")
	}
	p := startPodd(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(root, "specs", "patterns", "log-saver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(root, "specs", "patterns", "log-saver-rsyslog.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "podd.io/inject: log-saver") || !strings.Contains(string(manifest), "10.123.0.1:10514") ||
		!strings.Contains(string(conf), `address="10.123.0.1" port="10514"`) {
		t.Fatal("the example does not ask for log-saver by podd.io/inject and 10.123.0.1:10514")
	}
	gw := gatewayOf(p)
	ln := listenGateway(t, p)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	applyManifest(t, p, strings.NewReplacer("localhost/podd/busybox:1.35", busyboxImage,
		"10.123.0.1:10514", fmt.Sprintf("%s:%d", gw, port)).Replace(string(manifest)))
	waitPhase(t, p, "log-saver-demo", pod.PodRunning)
	if q := getPod(t, p, "log-saver-demo"); len(q.Spec.InitContainers) != 1 || q.Spec.InitContainers[0].Name != "podd-log-saver" ||
		q.Spec.InitContainers[0].Image != patternsImage {
		t.Fatalf("init containers %+v, want the injected podd-log-saver of %s", q.Spec.InitContainers, patternsImage)
	}
	confPath := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(confPath, []byte(strings.NewReplacer(`address="10.123.0.1" port="10514"`, fmt.Sprintf(`address=%q port="%d"`, gw, port),
		"/tmp/log-saver-demo", dir).Replace(string(conf))), 0o644)
	rs := exec.Command(rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var rsOut strings.Builder
	rs.Stdout, rs.Stderr = &rsOut, &rsOut
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Process.Kill(); rs.Wait() })

	const want = 250 // past the rotations at 100 and 200
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "collected.log"))
		b = b[:bytes.LastIndexByte(b, '\n')+1] // whole lines only (see collectedSeqs)
		seen := map[int]int{}
		bad := ""
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			// log-saver-demo access.log 10.123.0.9 - - [...] "GET /items/N HTTP/1.1" ...
			if len(f) < 9 || f[0] != "log-saver-demo" || !strings.HasPrefix(f[1], "access.log") || !strings.HasPrefix(f[8], "/items/") {
				bad = line
				continue
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(f[8], "/items/"))
			seen[n]++
		}
		if len(b) > 0 && bad != "" {
			t.Fatalf("a line rsyslog wrote is not the writer's, named by the pod and the file: %q", bad)
		}
		done := true
		for i := 1; i <= want; i++ {
			if seen[i] > 1 {
				t.Fatalf("line %d arrived %d times", i, seen[i])
			}
			done = done && seen[i] == 1
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes, %d distinct lines arrived, want 1..%d\nlog-saver:\n%s\nrsyslogd:\n%s", len(seen), want,
				podLogs(t, p, "log-saver-demo", "podd-log-saver"), rsOut.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestCollectedSeqsUnfinishedLine: rsyslog's omfile writes its file in 4096-byte chunks, not
// line by line, so a read while it writes can end in the middle of a line (seen:
// "10.123.0.7 - - [05/Dec/2026:12:00:00 +0000" and "1"). Such a tail is not a line yet: it is
// neither a line that is not the writer's nor the number it was cut in ("a=12" of "a=123").
func TestCollectedSeqsUnfinishedLine(t *testing.T) {
	line := func(n int) string {
		return fmt.Sprintf("10.123.0.7 - - [05/Dec/2026:12:00:00 +0000] \"GET /items/%d HTTP/1.1\" 200 612 \"-\" \"curl/8.0\" a=%d\n", n, n)
	}
	whole := line(1) + line(2)
	for _, tail := range []string{"", "1", "10.123.0.7 - - [05/Dec/2026:12:00:00 +0000", strings.TrimSuffix(line(123), "3\n")} {
		path := filepath.Join(t.TempDir(), "collected.log")
		if err := os.WriteFile(path, []byte(whole+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := collectedSeqs(t, path); len(got) != 2 || got[1] != 1 || got[2] != 1 {
			t.Errorf("with the unfinished tail %q: got %v, want map[1:1 2:1]", tail, got)
		}
		if _, unfinished := collectedSeqsTail(t, path); unfinished != (tail != "") {
			t.Errorf("with the tail %q: unfinished %v", tail, unfinished)
		}
	}
}
