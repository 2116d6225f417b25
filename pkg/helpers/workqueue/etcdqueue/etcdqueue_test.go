package etcdqueue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/hosttest"
	"github.com/podd-dev/podd/pkg/helpers/workqueue"
	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// The test binary doubles as a holder of its own (childEnv=1): it opens the queue, claims an
// item, prints "claimed <id> <token>", and on each line of its input "commit" tries to commit
// the item (printing "committed" or "refused: <error>"). Killing it is a host's death; stopping
// it past the lease TTL makes it a straggler.
const childEnv = "PODD_ETCDQUEUE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

func child() int {
	q, err := Open(workqueue.EtcdConfig{Endpoints: strings.Split(os.Getenv("ETCD"), ","), Queue: os.Getenv("QUEUE"), LeaseTTL: 2 * time.Second})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer q.Close()
	l, err := q.Claim("child")
	if err != nil || l == nil {
		fmt.Println("error: claim:", l, err)
		return 1
	}
	fmt.Println("claimed", l.ID(), l.Token())
	out, err := os.MkdirTemp("", "etcdqueue-child-")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer os.RemoveAll(out)
	if err := os.WriteFile(filepath.Join(out, "result"), []byte("straggler"), 0o644); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "commit" {
			continue
		}
		if err := l.Commit(out); err != nil {
			fmt.Println("refused:", err)
		} else {
			fmt.Println("committed")
		}
	}
	return 0
}

type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startHolder(t *testing.T, endpoints []string, queue string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "ETCD="+strings.Join(endpoints, ","), "QUEUE="+queue)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	return h
}

func (h *holder) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatal("the holder process ended")
		}
		return l
	case <-time.After(time.Minute):
		t.Fatal("the holder process said nothing for a minute")
	}
	return ""
}

func openQueue(t *testing.T, endpoints []string, name string) *Queue {
	t.Helper()
	q, err := Open(workqueue.EtcdConfig{Endpoints: endpoints, Queue: name, LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func outputDir(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{"result": content, "sub/more": "more:" + content} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustCounts(t *testing.T, q *Queue) spool.Counts {
	t.Helper()
	c, err := q.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func claim(t *testing.T, q *Queue, holder string) workqueue.Lease {
	t.Helper()
	l, err := q.Claim(holder)
	if err != nil || l == nil {
		t.Fatalf("claim: %v %v", l, err)
	}
	return l
}

// TestEtcdQueue: the spool's semantics on a real etcd (one member): additions once, claims by
// two workers never of the same item, commits once with their output, the failure policy (retry
// after the backoff, poison, out of attempts), a released lease recovered and its straggler's
// commit and failure refused, control switches, retries of dead letters, and an input above the
// limit a dead letter at once. Then across processes: a holder killed with -9 → its item is
// recovered once its etcd lease expires (the TTL) and retried elsewhere; a holder stopped past
// the TTL (a straggler) → its commit after SIGCONT is refused, and the new attempt commits.
func TestEtcdQueue(t *testing.T) {
	hosttest.NeedBinaries(t, "etcd-server", "etcd")
	endpoints := hosttest.StartEtcd(t, 1)
	a, b := openQueue(t, endpoints, "q1"), openQueue(t, endpoints, "q1")
	policy := spool.Policy{MaxAttempts: 2, Backoff: 0, MaxBackoff: 0, PoisonExitCode: 65}

	for _, id := range []string{"a1", "a2", "a3", "a4", "a5"} {
		if added, err := a.Add(id, strings.NewReader("in:"+id)); err != nil || !added {
			t.Fatalf("add %s: %v %v", id, added, err)
		}
	}
	if added, err := b.Add("a1", strings.NewReader("again")); err != nil || added {
		t.Fatalf("a second add of a1: added %v %v, want not added", added, err)
	}
	if _, err := a.Add("../x", strings.NewReader("")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("add of a bad id: %v", err)
	}
	if added, err := a.Add("big", strings.NewReader(strings.Repeat("x", MaxInputBytes+1))); err != nil || !added {
		t.Fatalf("add of a large input: %v %v", added, err)
	}
	if c := mustCounts(t, a); c != (spool.Counts{New: 5, Dead: 1}) {
		t.Fatalf("counts %+v", c)
	}
	dead, _ := a.Items(spool.StateDead)
	if len(dead) != 1 || dead[0].ID != "big" || dead[0].Reason != reasonTooLarge || !strings.Contains(dead[0].LastError, "larger than 1048576 bytes") {
		t.Fatalf("dead %+v", dead)
	}
	if err := a.Retry("big"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("retry of the too-large item: %v", err)
	}

	// Two workers claim two different items, each with its own token.
	la, lb := claim(t, a, "worker-a"), claim(t, b, "worker-b")
	if la.ID() != "a1" || lb.ID() != "a2" || la.Token() == lb.Token() || la.Attempt() != 1 {
		t.Fatalf("claims %s %s %s / %s %s", la.ID(), la.Token(), lb.ID(), lb.Token(), fmt.Sprint(la.Attempt()))
	}
	r, err := la.OpenInput()
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := io.ReadAll(r); string(in) != "in:a1" {
		t.Fatalf("input %q", in)
	}
	if err := la.Commit(outputDir(t, "A1")); err != nil {
		t.Fatal(err)
	}
	if err := la.Commit(outputDir(t, "again")); !errors.Is(err, spool.ErrLeaseLost) {
		t.Fatalf("a second commit: %v, want the lease lost", err)
	}
	files, writes, err := b.Output("a1")
	if err != nil || writes != 1 || string(files["result"]) != "A1" || string(files["sub/more"]) != "more:A1" {
		t.Fatalf("output of a1: %q written %d times, %v", files, writes, err)
	}

	// A failure with attempts left: retry (backoff 0), claimable again, attempt 2; then out of
	// attempts: dead. A poison exit: dead at once.
	one, poison := 1, 65
	if st, err := lb.Fail(policy, spool.Failure{ExitCode: &one, Error: "exit 1", LogTail: "oops"}); err != nil || st != spool.StateRetry {
		t.Fatalf("fail: %s %v", st, err)
	}
	lp := claim(t, a, "worker-a") // a3: new items first
	if lp.ID() != "a3" {
		t.Fatalf("claimed %s, want a3 (new items before retries)", lp.ID())
	}
	if st, _ := lp.Fail(policy, spool.Failure{ExitCode: &poison}); st != spool.StateDead {
		t.Fatalf("poison: %s", st)
	}
	// Release (as a dead holder): the item stays leased until a recovery takes it back; the
	// straggler can neither commit nor fail it after that.
	lr := claim(t, a, "worker-a") // a4
	lr.Release()
	if n, err := b.Recover(policy); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	if err := lr.Commit(outputDir(t, "late")); !errors.Is(err, spool.ErrLeaseLost) {
		t.Fatalf("commit after release: %v", err)
	}
	if c := mustCounts(t, a); c != (spool.Counts{New: 1, Retry: 2, Done: 1, Dead: 2}) {
		t.Fatalf("counts %+v", c)
	}
	l5 := claim(t, b, "worker-b") // a5, then the retries by id
	l2 := claim(t, b, "worker-b")
	l4 := claim(t, a, "worker-a")
	if l5.ID() != "a5" || l2.ID() != "a2" || l2.Attempt() != 2 || l4.ID() != "a4" || l4.Attempt() != 2 {
		t.Fatalf("claims %s %s#%d %s#%d", l5.ID(), l2.ID(), l2.Attempt(), l4.ID(), l4.Attempt())
	}
	if st, _ := l2.Fail(policy, spool.Failure{ExitCode: &one}); st != spool.StateDead {
		t.Fatalf("out of attempts: %s", st)
	}
	for _, l := range []workqueue.Lease{l5, l4} {
		if err := l.Commit(outputDir(t, strings.ToUpper(l.ID()))); err != nil {
			t.Fatal(err)
		}
	}
	dead, _ = a.Items(spool.StateDead)
	reasons := map[string]string{}
	for _, m := range dead {
		reasons[m.ID] = m.Reason
	}
	if reasons["a2"] != "attempts" || reasons["a3"] != "poison" || len(dead) != 3 {
		t.Fatalf("dead letters %+v", dead)
	}
	if l, err := a.Claim("worker-a"); l != nil || err != nil {
		t.Fatalf("a claim with nothing claimable: %v %v", l, err)
	}

	// Retry of dead letters; of a done item and of an unknown one: refused.
	if err := a.Retry("a3"); err != nil {
		t.Fatal(err)
	}
	if err := a.Retry("a1"); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "item a1 is done, not dead") {
		t.Fatalf("retry of a done item: %v", err)
	}
	if err := a.Retry("nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("retry of an unknown item: %v", err)
	}
	if c := mustCounts(t, a); c != (spool.Counts{New: 1, Done: 3, Dead: 2}) {
		t.Fatalf("counts after retry %+v", c)
	}

	// The switches.
	if err := a.SetControl(spool.Control{Paused: true}); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Control(); err != nil || !c.Paused || c.Draining {
		t.Fatalf("control %+v %v", c, err)
	}

	// A helper whose etcd lease ended while it lived (a partition longer than the TTL): its
	// attempt's commit is refused, its item recovered, and it claims again on a new lease.
	q3 := openQueue(t, endpoints, "q3")
	for _, id := range []string{"p1", "p2"} {
		if _, err := q3.Add(id, strings.NewReader(id)); err != nil {
			t.Fatal(err)
		}
	}
	old := claim(t, q3, "worker-q3")
	q3.mu.Lock()
	lease := q3.sess.Lease()
	q3.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := q3.cli.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	var next workqueue.Lease
	hosttest.WaitFor(t, "a claim on a new lease", time.Minute, func() bool {
		l, err := q3.Claim("worker-q3")
		next = l
		return err == nil && l != nil
	})
	if err := old.Commit(outputDir(t, "old")); !errors.Is(err, spool.ErrLeaseLost) {
		t.Fatalf("the commit of an attempt whose lease was revoked: %v", err)
	}
	if n, err := q3.Recover(policy); err != nil || n != 1 {
		t.Fatalf("recover after the revoke: %d %v", n, err)
	}
	if next.ID() != "p2" || next.Commit(outputDir(t, "P2")) != nil {
		t.Fatalf("the claim on the new lease: %s", next.ID())
	}

	// Across processes: a holder killed with -9. Its etcd lease expires after the TTL; a
	// recovery then takes the item back, and another worker's attempt commits it.
	q2 := openQueue(t, endpoints, "q2")
	for _, id := range []string{"k1", "s1"} {
		if _, err := q2.Add(id, strings.NewReader(id)); err != nil {
			t.Fatal(err)
		}
	}
	killed := startHolder(t, endpoints, "q2")
	if l := killed.line(t); !strings.HasPrefix(l, "claimed k1 ") {
		t.Fatalf("the holder: %q", l)
	}
	if n, _ := q2.Recover(policy); n != 0 {
		t.Fatalf("recovered %d items of a live holder", n)
	}
	killed.cmd.Process.Kill()
	start := time.Now()
	hosttest.WaitFor(t, "k1 recovered once its holder's lease expired", time.Minute, func() bool {
		n, err := q2.Recover(policy)
		return err == nil && n == 1
	})
	t.Logf("k1 recovered %s after its holder's kill -9 (lease TTL 2s)", time.Since(start).Round(10*time.Millisecond))
	retry, _ := q2.Items(spool.StateRetry)
	if len(retry) != 1 || retry[0].ID != "k1" || retry[0].Holder != "child" || !strings.Contains(retry[0].LastError, "etcd lease expired") {
		t.Fatalf("retry %+v", retry)
	}

	// A straggler: stopped past the TTL, its item recovered and claimed again; after SIGCONT its
	// commit is refused, and the new attempt's output is the one committed.
	straggler := startHolder(t, endpoints, "q2")
	if l := straggler.line(t); !strings.HasPrefix(l, "claimed s1 ") {
		t.Fatalf("the straggler: %q", l)
	}
	if err := straggler.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	hosttest.WaitFor(t, "s1 recovered while its holder is stopped", time.Minute, func() bool {
		n, err := q2.Recover(policy)
		return err == nil && n == 1
	})
	var again workqueue.Lease
	hosttest.WaitFor(t, "s1 claimed again", time.Minute, func() bool {
		l, err := q2.Claim("worker-q2")
		if err != nil || l == nil {
			return false
		}
		if l.ID() != "s1" {
			if err := l.Commit(outputDir(t, strings.ToUpper(l.ID()))); err != nil {
				t.Fatal(err)
			}
			return false
		}
		again = l
		return true
	})
	if err := straggler.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(straggler.stdin, "commit")
	if l := straggler.line(t); !strings.Contains(l, "refused: the attempt's lease has ended") {
		t.Fatalf("the straggler's commit: %q", l)
	}
	if again.Attempt() != 2 {
		t.Fatalf("the second attempt at s1 is attempt %d", again.Attempt())
	}
	if err := again.Commit(outputDir(t, "S1")); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(straggler.stdin, "commit")
	if l := straggler.line(t); !strings.HasPrefix(l, "refused:") {
		t.Fatalf("the straggler's commit after the item was done: %q", l)
	}
	for id, want := range map[string]string{"k1": "K1", "s1": "S1"} {
		files, writes, err := q2.Output(id)
		if err != nil || writes != 1 || string(files["result"]) != want {
			t.Fatalf("output of %s: %q written %d times, %v; want %q once", id, files, writes, err, want)
		}
	}
	if c := mustCounts(t, q2); c != (spool.Counts{Done: 2}) {
		t.Fatalf("q2 counts %+v", c)
	}
}

// TestTarTree: an output folder's regular files and folders are packed; a symbolic link is
// refused, and so is an output above the limit.
func TestTarTree(t *testing.T) {
	files, err := untarFiles(must(tarTree(outputDir(t, "x"))))
	if err != nil || len(files) != 2 || string(files["result"]) != "x" || string(files["sub/more"]) != "more:x" {
		t.Fatalf("files %q %v", files, err)
	}
	empty, err := untarFiles(must(tarTree(t.TempDir())))
	if err != nil || len(empty) != 0 {
		t.Fatalf("an empty output: %q %v", empty, err)
	}
	linked := outputDir(t, "x")
	if err := os.Symlink("/etc/passwd", filepath.Join(linked, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := tarTree(linked); err == nil || !strings.Contains(err.Error(), "output link: not a regular file or folder") {
		t.Fatalf("a link: %v", err)
	}
	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, "big"), make([]byte, MaxOutputBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tarTree(big); err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Fatalf("a large output: %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkClaimCommit: the etcd backend's own cost per item, a claim and a commit of an empty
// output (the additions excluded), one worker, one etcd member on this host's loopback.
func BenchmarkClaimCommit(b *testing.B) {
	hosttest.NeedBinaries(b, "etcd-server", "etcd")
	endpoints := hosttest.StartEtcd(b, 1)
	q, err := Open(workqueue.EtcdConfig{Endpoints: endpoints, Queue: "bench", LeaseTTL: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	for i := range b.N {
		if _, err := q.Add(fmt.Sprintf("i%07d", i), strings.NewReader("x")); err != nil {
			b.Fatal(err)
		}
	}
	out := b.TempDir()
	b.ResetTimer()
	for range b.N {
		l, err := q.Claim("bench")
		if err != nil || l == nil {
			b.Fatalf("claim: %v %v", l, err)
		}
		if err := l.Commit(out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if c, _ := q.Counts(); c.Done != b.N {
		b.Fatalf("counts %+v", c)
	}
}
