// Package spool is the work queue's embedded backend: a folder of the host shared by a queue's
// workers, where an item is a folder whose state is the folder it is in (new, retry, leased,
// done, dead), every change of state is one rename(2), and a lease is the flock its claimer's
// process holds, so the kernel ends it when the holder dies. podctl reads it directly; the
// helper (package workqueue) works it. See specs/patterns/work-queue.md.
package spool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
)

// The spool's state folders. An item is a folder <state>/<id>/ holding its input (the file
// "input"), its record ("meta.json"), an empty "lock" file whose flock is the lease, and, once
// done, its committed "output" folder. Every change of state is one rename(2) of the item's
// folder, so a crash at any instant leaves each item in exactly one state.
const (
	StateNew    = "new"    // claimable now
	StateRetry  = "retry"  // failed, claimable again after its backoff (meta.notBefore)
	StateLeased = "leased" // an attempt holds it: the claimer's process holds the flock of its lock file
	StateDone   = "done"   // committed: output/ is the result of exactly one attempt
	StateDead   = "dead"   // dead letters: poison, or out of attempts
	stateTmp    = "tmp"    // items being added, outputs being copied; swept at start
)

var states = []string{StateNew, StateRetry, StateLeased, StateDone, StateDead}

// Errors of the spool, classified with errdefs.
var (
	// ErrLeaseLost: a commit or a failure report for an attempt whose lease has ended (its
	// item was taken back, or another attempt holds it now). The attempt's result is dropped.
	ErrLeaseLost = fmt.Errorf("the attempt's lease has ended: %w", errdefs.ErrFailedPrecondition)
)

// Files inside an item's folder.
const (
	fileInput  = "input"
	fileMeta   = "meta.json"
	fileLock   = "lock"
	dirOutput  = "output"
	fileCtl    = "control.json"
	fileSpLock = ".lock"
)

// Meta is an item's record, kept beside its input and rewritten (atomically) at each change.
type Meta struct {
	ID string `json:"id"`
	// Attempts counts the attempts started (claims), the current one included.
	Attempts int `json:"attempts"`
	// Token is the current (or last) attempt's token: "<attempt>-<random>".
	Token     string    `json:"token,omitempty"`
	Holder    string    `json:"holder,omitempty"`
	Added     time.Time `json:"added"`
	ClaimedAt time.Time `json:"claimedAt,omitempty"`
	// NotBefore: a retry waits for its backoff until then.
	NotBefore time.Time `json:"notBefore,omitempty"`
	Finished  time.Time `json:"finished,omitempty"`
	// The last failure: what happened, the user program's exit code (absent when it never
	// exited: the worker died), and the tail of its output.
	LastError    string `json:"lastError,omitempty"`
	LastExitCode *int   `json:"lastExitCode,omitempty"`
	LogTail      string `json:"logTail,omitempty"`
	// Reason says why a dead item is dead: "poison" or "attempts".
	Reason string `json:"reason,omitempty"`
}

// Policy is what happens to a failed attempt.
type Policy struct {
	// MaxAttempts: after this many failed attempts the item is a dead letter.
	MaxAttempts int
	// Backoff before the second attempt, doubled for each further one, at most MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// PoisonExitCode: a user program exiting with it sends the item to the dead letters at once.
	PoisonExitCode int
}

// DefaultPolicy is the helper's flags' defaults.
var DefaultPolicy = Policy{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Minute, PoisonExitCode: 65}

// BackoffAfter is the wait before the attempt that follows failed attempt n (1 for the first):
// Backoff·2^(n-1), at most MaxBackoff.
func (p Policy) BackoffAfter(n int) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// Failure is what an attempt that did not succeed reports.
type Failure struct {
	// ExitCode is the user program's; nil when it never exited (its worker died, the lease was
	// lost with its holder).
	ExitCode *int
	Error    string
	LogTail  string
}

// Decide is the state a failed attempt sends its item to: StateDead (with the reason) or
// StateRetry (with the time it may run again).
func (p Policy) Decide(m Meta, f Failure, now time.Time) (state, reason string, notBefore time.Time) {
	if f.ExitCode != nil && *f.ExitCode == p.PoisonExitCode {
		return StateDead, "poison", time.Time{}
	}
	if m.Attempts >= p.MaxAttempts {
		return StateDead, "attempts", time.Time{}
	}
	return StateRetry, "", now.Add(p.BackoffAfter(m.Attempts))
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$`)

// CheckID: an item's id names its folder, so it is a plain file name.
func CheckID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("item id %q: want 1 to 200 letters, digits, '.', '_' or '-', not starting with '.' or '-': %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Spool is a work queue in a folder of the host, shared by every worker on the host (a hostPath
// or a PersistentVolumeClaim, which podd keeps as a local folder).
type Spool struct {
	dir string
	now func() time.Time

	// fresh holds the rest of the last listing of new/, in order: Claim takes from it before
	// listing the folder again, so a queue of n items is listed about once, not n times (a
	// listing of 1,000 items cost 0.3 ms a claim). An entry another worker took meanwhile fails
	// its lock and is skipped; an item added meanwhile is found by the next listing.
	mu    sync.Mutex
	fresh []string
}

// Open makes (or finds) the spool's folders under dir.
func Open(dir string) (*Spool, error) {
	if dir == "" {
		return nil, fmt.Errorf("spool folder: required: %w", errdefs.ErrInvalidArgument)
	}
	for _, s := range append(states, stateTmp) {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o755); err != nil {
			return nil, fmt.Errorf("spool %s: %w", dir, err)
		}
	}
	return &Spool{dir: dir, now: time.Now}, nil
}

// Dir is the spool's folder.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) path(state, id string, more ...string) string {
	return filepath.Join(append([]string{s.dir, state, id}, more...)...)
}

// lockSpool takes the spool-wide lock that adding items, retrying dead ones and sweeping take.
func (s *Spool) lockSpool() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, fileSpLock), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// stateOf finds the state an item is in; "" when it is in none.
func (s *Spool) stateOf(id string) string {
	for _, st := range states {
		if _, err := os.Lstat(s.path(st, id)); err == nil {
			return st
		}
	}
	return ""
}

// Add puts a new item in the queue, unless an item of that id exists in any state (so that a
// source read again adds nothing twice); it says whether it added it.
func (s *Spool) Add(id string, input io.Reader) (bool, error) {
	if err := CheckID(id); err != nil {
		return false, err
	}
	unlock, err := s.lockSpool()
	if err != nil {
		return false, err
	}
	defer unlock()
	if s.stateOf(id) != "" {
		return false, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, stateTmp), "add-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := WriteFile(filepath.Join(tmp, fileInput), input, false); err != nil {
		return false, fmt.Errorf("add %s: %w", id, err)
	}
	if err := WriteFile(filepath.Join(tmp, fileLock), strings.NewReader(""), false); err != nil {
		return false, err
	}
	if err := writeMeta(tmp, Meta{ID: id, Added: s.now().UTC()}, false); err != nil {
		return false, err
	}
	// The item's files are durable before it is in new/ (see syncAll).
	if err := syncAll(filepath.Join(tmp, fileInput), filepath.Join(tmp, fileMeta), tmp); err != nil {
		return false, fmt.Errorf("add %s: %w", id, err)
	}
	if err := s.move(tmp, s.path(StateNew, id), true); err != nil {
		return false, fmt.Errorf("add %s: %w", id, err)
	}
	return true, nil
}

// move renames an item's folder; with durable, the rename survives a power loss once move
// returns. Only additions and commits need that: a claim, a failure or a recovery that a power
// loss forgets leaves the item where it was before, to be run again (at-least-once), and leases
// do not outlive the processes that hold them anyway. A process's crash loses nothing either way:
// the page cache outlives it.
func (s *Spool) move(from, to string, durable bool) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(filepath.Dir(to))
}

// Lease is one attempt at an item: its process holds the flock of the item's lock file until the
// lease ends (Commit, Fail, or Release — or the process's death, when the kernel drops the lock).
type Lease struct {
	s     *Spool
	lock  *os.File
	Meta  Meta
	ended bool
}

// ID is the item's id; Token the attempt's.
func (l *Lease) ID() string    { return l.Meta.ID }
func (l *Lease) Token() string { return l.Meta.Token }

// Input is the path of the item's input file.
func (l *Lease) Input() string { return l.s.path(StateLeased, l.Meta.ID, fileInput) }

// Claim leases the first claimable item (new ones first, by id; then retries whose backoff has
// passed) for holder. It returns nil when none can be claimed now.
func (s *Spool) Claim(holder string) (*Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.fresh) > 0 {
		id := s.fresh[0]
		s.fresh = s.fresh[1:]
		l, err := s.tryClaim(StateNew, id, holder)
		if l != nil || err != nil {
			return l, err
		}
	}
	for _, st := range []string{StateNew, StateRetry} {
		ids, err := s.list(st)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			l, err := s.tryClaim(st, id, holder)
			if err != nil {
				return nil, err
			}
			if l != nil {
				if st == StateNew {
					s.fresh = ids[i+1:]
				}
				return l, nil
			}
		}
	}
	return nil, nil
}

// tryClaim takes the item's lock first, then renames it into leased/: the lock goes with the
// folder, so nobody can ever see a leased item whose lock is free while its claimer lives.
func (s *Spool) tryClaim(state, id, holder string) (*Lease, error) {
	dir := s.path(state, id)
	if state == StateRetry {
		m, err := readMeta(dir)
		if err != nil || s.now().Before(m.NotBefore) {
			return nil, nil //nolint:nilerr // gone meanwhile, or not due: not claimable now
		}
	}
	f, ok, err := tryLock(filepath.Join(dir, fileLock))
	if err != nil || !ok {
		return nil, nil //nolint:nilerr // claimed by another worker meanwhile
	}
	// Under the lock: the item is still where we found it, or another claimer moved it.
	m, err := readMeta(dir)
	if err != nil {
		f.Close()
		return nil, nil //nolint:nilerr
	}
	m.Attempts++
	m.Token = fmt.Sprintf("%d-%s", m.Attempts, randomHex(8))
	m.Holder = holder
	m.ClaimedAt = s.now().UTC()
	m.NotBefore = time.Time{}
	if err := writeMeta(dir, m, false); err != nil {
		f.Close()
		return nil, err
	}
	if err := s.move(dir, s.path(StateLeased, id), false); err != nil {
		f.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	return &Lease{s: s, lock: f, Meta: m}, nil
}

// check: the lease is live and the item is still the attempt's (its token on disk).
func (l *Lease) check() error {
	if l.ended {
		return ErrLeaseLost
	}
	m, err := readMeta(l.s.path(StateLeased, l.Meta.ID))
	if err != nil || m.Token != l.Meta.Token {
		return ErrLeaseLost
	}
	return nil
}

// Commit makes outDir's content the item's output, together with the attempt's token, and the
// item done: the output is copied into the item's folder and the item renamed into done/ in one
// step. A lease that has ended cannot commit (ErrLeaseLost), so an item is committed once.
//
// Durability: the output's files and folders, the record and the item's folder are made durable
// before the rename into done/ (the commit point), and done/ after it, so a committed item
// survives a power loss whole. The copy needs no folder of its own to be renamed: until the
// commit point the item is in leased/, where a recovery removes a partial output.
func (l *Lease) Commit(outDir string) error {
	if err := l.check(); err != nil {
		return err
	}
	dir := l.s.path(StateLeased, l.Meta.ID)
	out := filepath.Join(dir, dirOutput)
	for _, o := range []string{out, out + ".tmp"} { // a partial output of this lease's earlier try
		if err := os.RemoveAll(o); err != nil {
			return err
		}
	}
	written, err := copyTree(outDir, out)
	if err != nil {
		return fmt.Errorf("commit %s: copy the output: %w", l.Meta.ID, err)
	}
	m := l.Meta
	m.Finished = l.s.now().UTC()
	if err := writeMeta(dir, m, false); err != nil {
		return err
	}
	if err := syncAll(append(written, filepath.Join(dir, fileMeta), dir)...); err != nil {
		return fmt.Errorf("commit %s: %w", l.Meta.ID, err)
	}
	// Only the lock's holder renames a leased item, and the lock is this lease's until it ends:
	// the record read above still holds (no second read).
	if l.ended {
		return ErrLeaseLost
	}
	if err := l.s.move(dir, l.s.path(StateDone, l.Meta.ID), true); err != nil {
		return fmt.Errorf("commit %s: %w", l.Meta.ID, err)
	}
	l.end()
	return nil
}

// Fail ends the attempt as failed: the item is retried after its backoff, or is a dead letter
// (poison, or out of attempts). It returns the state the item went to.
func (l *Lease) Fail(p Policy, f Failure) (string, error) {
	if err := l.check(); err != nil {
		return "", err
	}
	st, err := l.s.fail(l.s.path(StateLeased, l.Meta.ID), l.Meta, p, f)
	if err == nil {
		l.end()
	}
	return st, err
}

// fail moves a leased item (whose lock the caller holds) to retry/ or dead/.
func (s *Spool) fail(dir string, m Meta, p Policy, f Failure) (string, error) {
	st, reason, notBefore := p.Decide(m, f, s.now())
	m.LastError, m.LastExitCode, m.LogTail = f.Error, f.ExitCode, f.LogTail
	m.Reason, m.NotBefore = reason, notBefore
	if st == StateDead {
		m.Finished = s.now().UTC()
	}
	// A partial output of a crashed commit is no result.
	for _, o := range []string{dirOutput, dirOutput + ".tmp"} {
		if err := os.RemoveAll(filepath.Join(dir, o)); err != nil {
			return "", err
		}
	}
	if err := writeMeta(dir, m, false); err != nil {
		return "", err
	}
	if err := s.move(dir, s.path(st, m.ID), false); err != nil {
		return "", fmt.Errorf("fail %s: %w", m.ID, err)
	}
	return st, nil
}

// Release ends the lease without a result, as the holder's death would: the item stays leased
// until a Recover takes it back (as a failed attempt).
func (l *Lease) Release() { l.end() }

func (l *Lease) end() {
	if !l.ended {
		l.ended = true
		l.lock.Close()
	}
}

// Recover takes back the leased items whose holder has died (their lock is free): each counts as
// a failed attempt, with no exit code. Any worker runs it, at start and then periodically.
func (s *Spool) Recover(p Policy) (int, error) {
	ids, err := s.list(StateLeased)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		dir := s.path(StateLeased, id)
		f, ok, err := tryLock(filepath.Join(dir, fileLock))
		if err != nil || !ok {
			continue
		}
		m, err := readMeta(dir)
		if err == nil {
			_, err = s.fail(dir, m, p, Failure{Error: "the attempt's worker ended without a result (its lease holder died)"})
		}
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		if err == nil {
			n++
		}
	}
	return n, s.sweepTmp()
}

// sweepTmp removes what interrupted additions left in tmp/ (under the spool lock, so no
// addition is under way).
func (s *Spool) sweepTmp() error {
	unlock, err := s.lockSpool()
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(filepath.Join(s.dir, stateTmp))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.dir, stateTmp, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Retry puts a dead item back in the queue with its attempts counted afresh.
func (s *Spool) Retry(id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	unlock, err := s.lockSpool()
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.path(StateDead, id)
	m, err := readMeta(dir)
	if err != nil {
		if st := s.stateOf(id); st != "" {
			return fmt.Errorf("item %s is %s, not dead: %w", id, st, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("item %s: %w", id, errdefs.ErrNotFound)
	}
	m.Attempts, m.Reason, m.Finished, m.NotBefore = 0, "", time.Time{}, time.Time{}
	if err := writeMeta(dir, m, true); err != nil {
		return err
	}
	return s.move(dir, s.path(StateNew, id), true)
}

// RetryAllDead retries every dead item; it returns how many.
func (s *Spool) RetryAllDead() (int, error) {
	ids, err := s.list(StateDead)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := s.Retry(id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// Items lists the records of the items in a state, by id.
func (s *Spool) Items(state string) ([]Meta, error) {
	ids, err := s.list(state)
	if err != nil {
		return nil, err
	}
	out := make([]Meta, 0, len(ids))
	for _, id := range ids {
		m, err := readMeta(s.path(state, id))
		if err != nil {
			continue // moved on meanwhile
		}
		out = append(out, m)
	}
	return out, nil
}

// Output is the folder of a done item's committed output.
func (s *Spool) Output(id string) string { return s.path(StateDone, id, dirOutput) }

// Counts are the number of items in each state.
type Counts struct {
	New, Retry, Leased, Done, Dead int
}

// Pending is what remains to be done: new, retries and leased items.
func (c Counts) Pending() int { return c.New + c.Retry + c.Leased }

// Counts counts the items of each state.
func (s *Spool) Counts() (Counts, error) {
	var c Counts
	for _, x := range []struct {
		st string
		n  *int
	}{{StateNew, &c.New}, {StateRetry, &c.Retry}, {StateLeased, &c.Leased}, {StateDone, &c.Done}, {StateDead, &c.Dead}} {
		ids, err := s.list(x.st)
		if err != nil {
			return c, err
		}
		*x.n = len(ids)
	}
	return c, nil
}

// DoneSince counts the items committed since t (by the time their record was last written).
func (s *Spool) DoneSince(t time.Time) (int, error) {
	ids, err := s.list(StateDone)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if fi, err := os.Stat(s.path(StateDone, id, fileMeta)); err == nil && !fi.ModTime().Before(t) {
			n++
		}
	}
	return n, nil
}

// Control is the queue's switches, shared by all its workers.
type Control struct {
	// Paused: no worker claims an item until resumed.
	Paused bool `json:"paused,omitempty"`
	// Draining: workers take the items that remain and then exit, even those told to wait for
	// new items (--until drained).
	Draining bool `json:"draining,omitempty"`
}

// Control reads the switches (all off when never set).
func (s *Spool) Control() (Control, error) {
	var c Control
	b, err := os.ReadFile(filepath.Join(s.dir, fileCtl))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", fileCtl, err)
	}
	return c, nil
}

// SetControl writes the switches atomically.
func (s *Spool) SetControl(c Control) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.dir, fileCtl), b, true)
}

// list is the ids of a state's items, sorted.
func (s *Spool) list(state string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, state))
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", s.dir, err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func tryLock(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

func readMeta(dir string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(dir, fileMeta))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, fileMeta), err)
	}
	return m, nil
}

func writeMeta(dir string, m Meta, durable bool) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, fileMeta), append(b, '\n'), durable)
}

// writeAtomic replaces a file by a rename of a synced temporary file beside it.
func writeAtomic(path string, b []byte, durable bool) error {
	tmp := path + ".tmp"
	if err := WriteFile(tmp, strings.NewReader(string(b)), durable); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteFile writes r to path, fsynced when durable.
func WriteFile(path string, r io.Reader, durable bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncAll fsyncs files and folders (each path once, in order), once all of their changes are
// made: each gets its own fsync, as POSIX asks (the output's folders too, which a copy followed
// by a rename of its folder left unsynced before), but on a journaling filesystem (ext4, xfs) the
// first one commits the journal with every change made before it, and the others find little
// left to write. Interleaving the fsyncs with the changes commits the journal at each one (here,
// 100 commits of a one-file output: 1.6–2.1 ms each that way, 1.4–1.9 ms this way).
func syncAll(paths ...string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("fsync %s: %w", p, err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// copyTree copies the regular files and folders under from to to (made), not synced; it
// returns what it wrote for syncAll: the files, then the folders, each before its parent.
// Symbolic links and other special files are refused, so an output cannot point outside itself.
func copyTree(from, to string) ([]string, error) {
	var files, dirs []string
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			dirs = append(dirs, dst)
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			files = append(files, dst)
			return WriteFile(dst, src, false)
		}
		return fmt.Errorf("output %s: not a regular file or folder", rel)
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(dirs) // deepest first: WalkDir lists a folder before what it holds
	return append(files, dirs...), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
