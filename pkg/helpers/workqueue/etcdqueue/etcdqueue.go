// Package etcdqueue is the work queue's etcd backend, for queues shared by workers on several
// hosts: the spool's semantics (package spool: states, attempt tokens, the failure policy, dead
// letters, the control switches) kept in an etcd cluster. A claim is a transaction that moves
// the item to leased and writes its attempt's token under a key bound to the claimer's etcd
// lease, which the helper keeps alive while it lives; when its host dies, etcd ends the lease,
// the token's key goes, and any worker's recovery takes the item back. A commit is one
// transaction that holds only while that key still holds this attempt's token. It is linked into
// the helper image's etcd variant only (cmd/podd-patterns/etcd.go, -tags etcd).
//
// Keys, under /podd/queues/<queue>/:
//
//	items/<id>            the item's record: {"state": ..., spool.Meta}
//	input/<id>            its input (at most MaxInputBytes)
//	state/<state>/<id>    an index of the records by state (empty values), for claims and counts
//	leases/<id>           the current attempt's token, bound to its holder's etcd lease
//	output/<id>           the committed output: a tar of the output folder (at most MaxOutputBytes)
//	control               the switches (spool.Control, JSON)
package etcdqueue

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/podd-dev/podd/pkg/helpers/helper"
	"github.com/podd-dev/podd/pkg/helpers/workqueue"
	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// Importing the package installs the backend into the work queue's helper.
func init() {
	workqueue.RegisterEtcd(func(cfg workqueue.EtcdConfig) (workqueue.Queue, error) { return Open(cfg) })
}

// Limits: etcd refuses requests above 1.5 MiB (its --max-request-bytes default), and an addition
// or a commit is one request holding the input or the output with the item's record.
const (
	MaxInputBytes  = 1 << 20
	MaxOutputBytes = 1 << 20
	// KeyRoot is where every queue's keys are: <KeyRoot><queue>/.
	KeyRoot = "/podd/queues/"
	// opTimeout bounds each request: an unreachable cluster fails the operation, which the
	// helper retries at its next poll.
	opTimeout = 10 * time.Second
	// reasonTooLarge: the dead letter of an input above MaxInputBytes (never run).
	reasonTooLarge = "too-large"
)

// Queue is a work queue in an etcd cluster.
type Queue struct {
	cli    *clientv3.Client
	prefix string
	ttl    int64 // seconds
	now    func() time.Time

	mu   sync.Mutex
	sess *concurrency.Session
}

// record is an item's record: its state and the spool's Meta.
type record struct {
	State string `json:"state"`
	spool.Meta
}

// Open connects to the cluster (lazily: nothing is asked before the first operation).
func Open(cfg workqueue.EtcdConfig) (*Queue, error) {
	if err := workqueue.CheckQueueName(cfg.Queue); err != nil {
		return nil, err
	}
	if err := workqueue.CheckLeaseTTL(cfg.LeaseTTL); err != nil {
		return nil, err
	}
	tlsCfg, err := helper.EtcdTLS(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		TLS:                  tlsCfg,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    cfg.LeaseTTL / 2,
		DialKeepAliveTimeout: cfg.LeaseTTL / 2,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("--etcd-endpoints: %w", err)
	}
	return &Queue{cli: cli, prefix: KeyRoot + cfg.Queue + "/", ttl: int64(cfg.LeaseTTL / time.Second), now: time.Now}, nil
}

// Close revokes the helper's etcd lease — the tokens of the attempts it still holds go at once,
// and any worker's recovery takes their items back — and closes the client.
func (q *Queue) Close() error {
	q.mu.Lock()
	sess := q.sess
	q.sess = nil
	q.mu.Unlock()
	var err error
	if sess != nil {
		err = sess.Close()
	}
	return errors.Join(err, q.cli.Close())
}

// opCtx bounds one request; the client's own context ends when the queue is closed.
func (q *Queue) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(q.cli.Ctx(), opTimeout)
}

func (q *Queue) itemKey(id string) string         { return q.prefix + "items/" + id }
func (q *Queue) inputKey(id string) string        { return q.prefix + "input/" + id }
func (q *Queue) leaseKey(id string) string        { return q.prefix + "leases/" + id }
func (q *Queue) outputKey(id string) string       { return q.prefix + "output/" + id }
func (q *Queue) stateDir(state string) string     { return q.prefix + "state/" + state + "/" }
func (q *Queue) indexKey(state, id string) string { return q.stateDir(state) + id }
func (q *Queue) controlKey() string               { return q.prefix + "control" }

// session is the live session (its lease kept alive in the background), a new one when there is
// none or etcd ended the last one's lease (a partition longer than the TTL: the attempts bound to
// it are lost, and their items recovered by others).
func (q *Queue) session() (*concurrency.Session, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sess != nil {
		select {
		case <-q.sess.Done():
			q.sess = nil
		default:
			return q.sess, nil
		}
	}
	ctx, cancel := q.opCtx()
	defer cancel()
	// Granted here, under a timeout: NewSession's own grant would wait for the cluster forever.
	lease, err := q.cli.Grant(ctx, q.ttl)
	if err != nil {
		return nil, fmt.Errorf("etcd: grant a lease: %w", err)
	}
	sess, err := concurrency.NewSession(q.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(q.ttl)))
	if err != nil {
		return nil, err
	}
	q.sess = sess
	return sess, nil
}

// forget drops sess when it is the current session (etcd no longer has its lease).
func (q *Queue) forget(sess *concurrency.Session) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sess == sess {
		q.sess.Orphan()
		q.sess = nil
	}
}

// get reads an item's record and the revision it was last written at; ok is false when the
// item does not exist.
func (q *Queue) get(id string) (rec record, rev int64, ok bool, err error) {
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Get(ctx, q.itemKey(id))
	if err != nil {
		return rec, 0, false, err
	}
	if len(resp.Kvs) == 0 {
		return rec, 0, false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		return rec, 0, false, fmt.Errorf("item %s: %w", id, err)
	}
	return rec, resp.Kvs[0].ModRevision, true, nil
}

// move is the operations that write rec in its new state, moving its index entry from the old one.
func (q *Queue) move(from string, rec record) ([]clientv3.Op, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return []clientv3.Op{
		clientv3.OpPut(q.itemKey(rec.ID), string(b)),
		clientv3.OpDelete(q.indexKey(from, rec.ID)),
		clientv3.OpPut(q.indexKey(rec.State, rec.ID), ""),
	}, nil
}

// Add puts a new item in the queue, unless an item of that id exists in any state. An input
// above MaxInputBytes is not stored: the item is a dead letter at once (reason too-large), so
// that the source's other items go on.
func (q *Queue) Add(id string, input io.Reader) (bool, error) {
	if err := spool.CheckID(id); err != nil {
		return false, err
	}
	data, err := io.ReadAll(io.LimitReader(input, MaxInputBytes+1))
	if err != nil {
		return false, fmt.Errorf("add %s: %w", id, err)
	}
	rec := record{State: spool.StateNew, Meta: spool.Meta{ID: id, Added: q.now().UTC()}}
	if len(data) > MaxInputBytes {
		rec.State, rec.Reason, rec.Finished = spool.StateDead, reasonTooLarge, rec.Added
		rec.LastError = fmt.Sprintf("the input is larger than %d bytes, the etcd backend's limit (etcd's requests are at most 1.5 MiB): use the spool backend, or pass a reference to the data as the item", MaxInputBytes)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	ops := []clientv3.Op{clientv3.OpPut(q.itemKey(id), string(b)), clientv3.OpPut(q.indexKey(rec.State, id), "")}
	if rec.State == spool.StateNew {
		ops = append(ops, clientv3.OpPut(q.inputKey(id), string(data)))
	}
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(q.itemKey(id)), "=", 0)).Then(ops...).Commit()
	if err != nil {
		return false, fmt.Errorf("add %s: %w", id, err)
	}
	return resp.Succeeded, nil
}

// ids lists the ids of a state's index, sorted.
func (q *Queue) ids(state string) ([]string, error) {
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Get(ctx, q.stateDir(state), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), q.stateDir(state)))
	}
	return out, nil
}

// Claim leases the first claimable item for holder: new items by id, then retries whose backoff
// has passed. A claim is a transaction that holds only if the item's record is the one read (no
// other worker claimed it meanwhile); it binds the attempt's token to this helper's etcd lease.
func (q *Queue) Claim(holder string) (workqueue.Lease, error) {
	sess, err := q.session()
	if err != nil {
		return nil, err
	}
	for _, st := range []string{spool.StateNew, spool.StateRetry} {
		ids, err := q.ids(st)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			l, err := q.tryClaim(sess, st, id, holder)
			if err != nil {
				return nil, err
			}
			if l != nil {
				return l, nil
			}
		}
	}
	return nil, nil
}

func (q *Queue) tryClaim(sess *concurrency.Session, state, id, holder string) (workqueue.Lease, error) {
	rec, rev, ok, err := q.get(id)
	if err != nil {
		return nil, err
	}
	if !ok || rec.State != state || state == spool.StateRetry && q.now().Before(rec.NotBefore) {
		return nil, nil // claimed meanwhile, or not due
	}
	from := rec.State
	rec.State = spool.StateLeased
	rec.Attempts++
	rec.Token = fmt.Sprintf("%d-%s", rec.Attempts, randomHex(8))
	rec.Holder = holder
	rec.ClaimedAt = q.now().UTC()
	rec.NotBefore = time.Time{}
	ops, err := q.move(from, rec)
	if err != nil {
		return nil, err
	}
	ops = append(ops, clientv3.OpPut(q.leaseKey(id), rec.Token, clientv3.WithLease(sess.Lease())))
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(q.itemKey(id)), "=", rev)).Then(ops...).Commit()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		// etcd ended the session's lease before its keepalive loop noticed: the next claim
		// starts a new session.
		q.forget(sess)
	}
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	if !resp.Succeeded {
		return nil, nil
	}
	return &Lease{q: q, rec: rec, rev: resp.Header.Revision}, nil
}

// Lease is one attempt at an item. It is live while the item's record is still the one its
// claim wrote (rev) and the token's key, bound to the holder's etcd lease, still holds its token.
type Lease struct {
	q     *Queue
	rec   record
	rev   int64 // the record's revision since the claim
	ended bool
}

// ID is the item's id; Token the attempt's; Attempt its number (1 for the first).
func (l *Lease) ID() string    { return l.rec.ID }
func (l *Lease) Token() string { return l.rec.Token }
func (l *Lease) Attempt() int  { return l.rec.Attempts }

// Meta is the item's record as the claim wrote it.
func (l *Lease) Meta() spool.Meta { return l.rec.Meta }

// OpenInput reads the item's input.
func (l *Lease) OpenInput() (io.ReadCloser, error) {
	ctx, cancel := l.q.opCtx()
	defer cancel()
	resp, err := l.q.cli.Get(ctx, l.q.inputKey(l.rec.ID))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("item %s: no input: %w", l.rec.ID, errdefs.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(resp.Kvs[0].Value)), nil
}

// live are the conditions of the lease: its record unchanged since the claim, its token's key
// (alive with the holder's etcd lease) holding its token.
func (l *Lease) live() []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(l.q.itemKey(l.rec.ID)), "=", l.rev),
		// A value compare fails when the key is gone: the etcd lease ended.
		clientv3.Compare(clientv3.Value(l.q.leaseKey(l.rec.ID)), "=", l.rec.Token),
	}
}

// Commit makes outDir's content (a tar of its regular files and folders) the item's output and
// the item done, in one transaction that holds only while the lease is live and no output was
// ever written: an item is committed once, and a straggler is refused (spool.ErrLeaseLost).
func (l *Lease) Commit(outDir string) error {
	if l.ended {
		return spool.ErrLeaseLost
	}
	data, err := tarTree(outDir)
	if err != nil {
		return fmt.Errorf("commit %s: %w", l.rec.ID, err)
	}
	rec := l.rec
	rec.State = spool.StateDone
	rec.Finished = l.q.now().UTC()
	ops, err := l.q.move(spool.StateLeased, rec)
	if err != nil {
		return err
	}
	ops = append(ops, clientv3.OpPut(l.q.outputKey(rec.ID), string(data)), clientv3.OpDelete(l.q.leaseKey(rec.ID)))
	cmps := append(l.live(), clientv3.Compare(clientv3.Version(l.q.outputKey(rec.ID)), "=", 0))
	ctx, cancel := l.q.opCtx()
	defer cancel()
	resp, err := l.q.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("commit %s: %w", rec.ID, err)
	}
	if !resp.Succeeded {
		l.ended = true
		return spool.ErrLeaseLost
	}
	l.ended = true
	return nil
}

// Fail ends the attempt as failed, by the spool's policy: retried after its backoff, or dead.
func (l *Lease) Fail(p spool.Policy, f spool.Failure) (string, error) {
	if l.ended {
		return "", spool.ErrLeaseLost
	}
	st, ok, err := l.q.fail(l.rec, p, f, l.live())
	if err != nil {
		return "", err
	}
	l.ended = true
	if !ok {
		return "", spool.ErrLeaseLost
	}
	return st, nil
}

// Release ends the lease without a result: its token's key is deleted (if it still holds the
// token), as the holder's death would, and a Recover takes the item back.
func (l *Lease) Release() {
	if l.ended {
		return
	}
	l.ended = true
	ctx, cancel := l.q.opCtx()
	defer cancel()
	k := l.q.leaseKey(l.rec.ID)
	_, _ = l.q.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", l.rec.Token)).Then(clientv3.OpDelete(k)).Commit()
}

// fail moves a leased item to retry or dead under cmps; ok is false when they did not hold.
func (q *Queue) fail(rec record, p spool.Policy, f spool.Failure, cmps []clientv3.Cmp) (string, bool, error) {
	st, reason, notBefore := p.Decide(rec.Meta, f, q.now())
	rec.State = st
	rec.LastError, rec.LastExitCode, rec.LogTail = f.Error, f.ExitCode, f.LogTail
	rec.Reason, rec.NotBefore = reason, notBefore
	if st == spool.StateDead {
		rec.Finished = q.now().UTC()
	}
	ops, err := q.move(spool.StateLeased, rec)
	if err != nil {
		return "", false, err
	}
	ops = append(ops, clientv3.OpDelete(q.leaseKey(rec.ID)))
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return "", false, fmt.Errorf("fail %s: %w", rec.ID, err)
	}
	return st, resp.Succeeded, nil
}

// Recover takes back the leased items whose token's key is gone — their holder's etcd lease
// ended (its host or its helper died, or lost etcd for longer than the TTL) — each as a failed
// attempt with no exit code. Any worker runs it every --poll.
func (q *Queue) Recover(p spool.Policy) (int, error) {
	leased, err := q.ids(spool.StateLeased)
	if err != nil || len(leased) == 0 {
		return 0, err
	}
	ctx, cancel := q.opCtx()
	resp, err := q.cli.Get(ctx, q.prefix+"leases/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return 0, err
	}
	held := map[string]bool{}
	for _, kv := range resp.Kvs {
		held[strings.TrimPrefix(string(kv.Key), q.prefix+"leases/")] = true
	}
	n := 0
	for _, id := range leased {
		if held[id] {
			continue
		}
		rec, rev, ok, err := q.get(id)
		if err != nil {
			return n, err
		}
		if !ok || rec.State != spool.StateLeased {
			continue
		}
		// Only if nobody moved it meanwhile and its token's key is still gone.
		_, done, err := q.fail(rec, p, spool.Failure{Error: "the attempt's holder ended without a result (its etcd lease expired: its helper or its host died)"},
			[]clientv3.Cmp{
				clientv3.Compare(clientv3.ModRevision(q.itemKey(id)), "=", rev),
				clientv3.Compare(clientv3.Version(q.leaseKey(id)), "=", 0),
			})
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// Counts counts the items of each state, at one revision.
func (q *Queue) Counts() (spool.Counts, error) {
	var c spool.Counts
	states := []struct {
		st string
		n  *int
	}{{spool.StateNew, &c.New}, {spool.StateRetry, &c.Retry}, {spool.StateLeased, &c.Leased}, {spool.StateDone, &c.Done}, {spool.StateDead, &c.Dead}}
	ops := make([]clientv3.Op, len(states))
	for i, s := range states {
		ops[i] = clientv3.OpGet(q.stateDir(s.st), clientv3.WithPrefix(), clientv3.WithCountOnly())
	}
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return c, err
	}
	for i, r := range resp.Responses {
		*states[i].n = int(r.GetResponseRange().Count)
	}
	return c, nil
}

// Control reads the switches (all off when never set).
func (q *Queue) Control() (spool.Control, error) {
	var c spool.Control
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Get(ctx, q.controlKey())
	if err != nil || len(resp.Kvs) == 0 {
		return c, err
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &c); err != nil {
		return c, fmt.Errorf("%s: %w", q.controlKey(), err)
	}
	return c, nil
}

// SetControl writes the switches.
func (q *Queue) SetControl(c spool.Control) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := q.opCtx()
	defer cancel()
	_, err = q.cli.Put(ctx, q.controlKey(), string(b))
	return err
}

// Retry puts a dead item back in the queue with its attempts counted afresh.
func (q *Queue) Retry(id string) error {
	if err := spool.CheckID(id); err != nil {
		return err
	}
	rec, rev, ok, err := q.get(id)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("item %s: %w", id, errdefs.ErrNotFound)
	case rec.State != spool.StateDead:
		return fmt.Errorf("item %s is %s, not dead: %w", id, rec.State, errdefs.ErrFailedPrecondition)
	case rec.Reason == reasonTooLarge:
		return fmt.Errorf("item %s: %s: %w", id, rec.LastError, errdefs.ErrFailedPrecondition)
	}
	rec.State = spool.StateNew
	rec.Attempts, rec.Reason, rec.Finished, rec.NotBefore = 0, "", time.Time{}, time.Time{}
	ops, err := q.move(spool.StateDead, rec)
	if err != nil {
		return err
	}
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(q.itemKey(id)), "=", rev)).Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("item %s changed meanwhile: %w", id, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// Items lists the records of the items in a state, by id.
func (q *Queue) Items(state string) ([]spool.Meta, error) {
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Get(ctx, q.prefix+"items/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []spool.Meta
	for _, kv := range resp.Kvs {
		var rec record
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		if rec.State == state {
			out = append(out, rec.Meta)
		}
	}
	return out, nil
}

// Output reads a done item's committed output: its files by path, and how many times the output
// was written (1: etcd's version of its key; the commit's transaction refuses a second write).
func (q *Queue) Output(id string) (files map[string][]byte, writes int64, err error) {
	ctx, cancel := q.opCtx()
	defer cancel()
	resp, err := q.cli.Get(ctx, q.outputKey(id))
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("output of %s: %w", id, errdefs.ErrNotFound)
	}
	files, err = untarFiles(resp.Kvs[0].Value)
	return files, resp.Kvs[0].Version, err
}

// tarTree packs the regular files and folders under dir; a symbolic link or another special
// file is refused (an output never points outside itself), and so is an output above
// MaxOutputBytes.
func tarTree(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755})
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(b))}); err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
			if buf.Len() > MaxOutputBytes {
				return fmt.Errorf("the output is larger than %d bytes, the etcd backend's limit (etcd's requests are at most 1.5 MiB)", MaxOutputBytes)
			}
			return nil
		}
		return fmt.Errorf("output %s: not a regular file or folder", rel)
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// untarFiles reads the regular files of a committed output.
func untarFiles(data []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[h.Name] = b
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
