package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func intp(v int) *int { return &v }

func TestBackoffAfter(t *testing.T) {
	p := Policy{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {60, 10 * time.Second}} {
		if got := p.BackoffAfter(c.n); got != c.want {
			t.Errorf("BackoffAfter(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	p := Policy{MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute, PoisonExitCode: 65}
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		name      string
		attempts  int
		f         Failure
		state     string
		reason    string
		notBefore time.Duration
	}{
		{"first failure retries after the backoff", 1, Failure{ExitCode: intp(1)}, StateRetry, "", time.Second},
		{"second failure doubles it", 2, Failure{ExitCode: intp(2)}, StateRetry, "", 2 * time.Second},
		{"worker death is a failed attempt", 1, Failure{Error: "died"}, StateRetry, "", time.Second},
		{"last attempt failed: dead", 3, Failure{ExitCode: intp(1)}, StateDead, "attempts", 0},
		{"poison at the first attempt: dead", 1, Failure{ExitCode: intp(65)}, StateDead, "poison", 0},
		{"signal 65+128 is no poison", 1, Failure{ExitCode: intp(193)}, StateRetry, "", time.Second},
	} {
		st, reason, nb := p.Decide(Meta{Attempts: c.attempts}, c.f, now)
		if st != c.state || reason != c.reason {
			t.Errorf("%s: %s %q, want %s %q", c.name, st, reason, c.state, c.reason)
		}
		if c.state == StateRetry && nb.Sub(now) != c.notBefore {
			t.Errorf("%s: not before +%s, want +%s", c.name, nb.Sub(now), c.notBefore)
		}
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"a": true, "item-0001.txt": true, "_x": true,
		"": false, ".hidden": false, "-flag": false, "a/b": false, "..": false, "a b": false, strings.Repeat("x", 201): false,
	} {
		if err := CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func newSpool(t *testing.T) *Spool {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func add(t *testing.T, s *Spool, id, content string) {
	t.Helper()
	added, err := s.Add(id, strings.NewReader(content))
	if err != nil || !added {
		t.Fatalf("add %s: %v %v", id, added, err)
	}
}

func counts(t *testing.T, s *Spool) Counts {
	t.Helper()
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func output(t *testing.T, content string) string {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "result"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSpoolLifecycle walks an item through every transition and checks each state's count.
func TestSpoolLifecycle(t *testing.T) {
	s := newSpool(t)
	p := Policy{MaxAttempts: 2, Backoff: time.Hour, MaxBackoff: time.Hour, PoisonExitCode: 65}
	add(t, s, "a", "A")
	add(t, s, "b", "B")
	if added, err := s.Add("a", strings.NewReader("again")); err != nil || added {
		t.Fatalf("second add of a: %v %v", added, err)
	}
	la, _ := s.Claim("w1")
	lb, _ := s.Claim("w2")
	if la == nil || lb == nil || la.ID() != "a" || lb.ID() != "b" || la.Token() == lb.Token() {
		t.Fatalf("claims %+v %+v", la, lb)
	}
	if l, _ := s.Claim("w3"); l != nil {
		t.Fatalf("a third claim got %s", l.ID())
	}
	if c := counts(t, s); c.Leased != 2 || c.New != 0 {
		t.Fatalf("counts %+v", c)
	}
	// Recovery leaves live leases alone.
	if n, err := s.Recover(p); n != 0 || err != nil {
		t.Fatalf("recover took %d live leases: %v", n, err)
	}
	if err := la.Commit(output(t, "out-a")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Output("a"), "result")); string(b) != "out-a" {
		t.Fatalf("output of a: %q", b)
	}
	// A second commit of the same attempt is refused.
	if err := la.Commit(output(t, "twice")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("second commit: %v", err)
	}
	st, err := lb.Fail(p, Failure{ExitCode: intp(3), Error: "exit code 3", LogTail: "oops"})
	if err != nil || st != StateRetry {
		t.Fatalf("fail b: %s %v", st, err)
	}
	// Its backoff (1h) has not passed: nothing claimable.
	if l, _ := s.Claim("w1"); l != nil {
		t.Fatalf("claimed %s during its backoff", l.ID())
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	lb2, _ := s.Claim("w1")
	if lb2 == nil || lb2.Meta.Attempts != 2 {
		t.Fatalf("retry claim %+v", lb2)
	}
	st, err = lb2.Fail(p, Failure{ExitCode: intp(1), Error: "exit code 1", LogTail: "tail"})
	if err != nil || st != StateDead {
		t.Fatalf("second failure of b: %s %v", st, err)
	}
	dead, _ := s.Items(StateDead)
	if len(dead) != 1 || dead[0].Reason != "attempts" || *dead[0].LastExitCode != 1 || dead[0].LogTail != "tail" {
		t.Fatalf("dead letters %+v", dead)
	}
	if c := counts(t, s); c != (Counts{Done: 1, Dead: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if err := s.Retry("a"); err == nil {
		t.Fatal("retry of a done item")
	}
	if err := s.Retry("b"); err != nil {
		t.Fatal(err)
	}
	lb3, _ := s.Claim("w1")
	if lb3 == nil || lb3.Meta.Attempts != 1 {
		t.Fatalf("claim after retry: %+v", lb3)
	}
}

// TestStragglerRefused: a holder whose lease ended (here released: what its death does) and whose
// item was taken back and claimed again cannot commit; the new attempt can, once.
func TestStragglerRefused(t *testing.T) {
	s := newSpool(t)
	p := Policy{MaxAttempts: 5, PoisonExitCode: 65}
	add(t, s, "x", "X")
	old, _ := s.Claim("old")
	oldToken := old.Token()
	old.Release()
	if n, err := s.Recover(p); n != 1 || err != nil {
		t.Fatalf("recover: %d %v", n, err)
	}
	m, _ := s.Items(StateRetry)
	if len(m) != 1 || m[0].LastExitCode != nil || !strings.Contains(m[0].LastError, "died") {
		t.Fatalf("recovered record %+v", m)
	}
	l, _ := s.Claim("new")
	if l == nil || l.Token() == oldToken {
		t.Fatalf("reclaim %+v", l)
	}
	if err := old.Commit(output(t, "stale")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("straggler commit: %v", err)
	}
	// Even a straggler that kept its lock object but lost the item (token changed on disk).
	forged := &Lease{s: s, lock: l.lock, Meta: old.Meta}
	if err := forged.Commit(output(t, "stale")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("forged commit: %v", err)
	}
	if err := l.Commit(output(t, "fresh")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Output("x"), "result")); string(b) != "fresh" {
		t.Fatalf("output %q", b)
	}
}

func TestPoison(t *testing.T) {
	s := newSpool(t)
	add(t, s, "p", "P")
	l, _ := s.Claim("w")
	if st, err := l.Fail(DefaultPolicy, Failure{ExitCode: intp(65), Error: "exit code 65"}); st != StateDead || err != nil {
		t.Fatalf("%s %v", st, err)
	}
	d, _ := s.Items(StateDead)
	if d[0].Reason != "poison" || d[0].Attempts != 1 {
		t.Fatalf("%+v", d[0])
	}
}

// TestCommitRefusesLinks: an output may not smuggle a symbolic link into the spool.
func TestCommitRefusesLinks(t *testing.T) {
	s := newSpool(t)
	add(t, s, "l", "L")
	l, _ := s.Claim("w")
	out := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(out, "pw")); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(out); err == nil {
		t.Fatal("committed a symbolic link")
	}
	if c := counts(t, s); c.Leased != 1 || c.Done != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestControl(t *testing.T) {
	s := newSpool(t)
	c, err := s.Control()
	if err != nil || c != (Control{}) {
		t.Fatalf("%+v %v", c, err)
	}
	if err := s.SetControl(Control{Paused: true}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Control(); !c.Paused || c.Draining {
		t.Fatalf("%+v", c)
	}
}

// TestCommitAfterCrashedCommit: a commit copies the output straight into the leased item's
// folder, so a crash during the copy leaves a partial output there; the recovery removes it, and
// the next attempt's commit holds its own output tree only (folders included), nothing of the
// partial one.
func TestCommitAfterCrashedCommit(t *testing.T) {
	s := newSpool(t)
	add(t, s, "n", "N")
	l, _ := s.Claim("crashed")
	partial := filepath.Join(s.path(StateLeased, "n"), dirOutput)
	if err := os.MkdirAll(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "stale"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Release() // the holder's death
	if n, err := s.Recover(DefaultPolicy); n != 1 || err != nil {
		t.Fatalf("recover: %d %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(s.path(StateRetry, "n"), dirOutput)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the partial output outlived the recovery: %v", err)
	}
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	l2, _ := s.Claim("next")
	if l2 == nil {
		t.Fatal("no claim after the recovery")
	}
	out := output(t, "top")
	if err := os.MkdirAll(filepath.Join(out, "sub", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "sub", "deep", "f"), []byte("deep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l2.Commit(out); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := filepath.WalkDir(s.path(StateDone, "n"), func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(s.path(StateDone, "n"), p)
		got = append(got, rel)
		return err
	})
	want := []string{".", fileInput, fileLock, fileMeta, dirOutput, "output/result", "output/sub", "output/sub/deep", "output/sub/deep/f"}
	if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("done item: %q %v, want %q", got, err, want)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Output("n"), "sub", "deep", "f")); string(b) != "deep" {
		t.Fatalf("output sub/deep/f: %q", b)
	}
	done, _ := s.Items(StateDone)
	if len(done) != 1 || done[0].Token != l2.Token() || done[0].Finished.IsZero() {
		t.Fatalf("the done record %+v", done)
	}
}

// TestClaimFromListing: two spools on one folder (two workers) claim from their own listings;
// an item the other took meanwhile is skipped, none is claimed twice, and an item added after a
// listing is claimed once the listing is used up.
func TestClaimFromListing(t *testing.T) {
	dir := t.TempDir()
	s1, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		add(t, s1, id, id)
	}
	claim := func(s *Spool) string {
		t.Helper()
		l, err := s.Claim("w")
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			return ""
		}
		if err := l.Commit(output(t, l.ID())); err != nil {
			t.Fatal(err)
		}
		return l.ID()
	}
	got := []string{claim(s1), claim(s2), claim(s2)} // s1 lists b, c, d; s2 takes b and c
	add(t, s1, "e", "e")                             // after s1's listing
	got = append(got, claim(s1), claim(s1), claim(s1), claim(s2))
	want := []string{"a", "b", "c", "d", "e", "", ""}
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %q, want %q", got, want)
	}
	if c := counts(t, s1); c.Done != 5 || c.Pending() != 0 {
		t.Fatalf("counts %+v, want 5 done", c)
	}
}
