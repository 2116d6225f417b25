package etcdbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/podd-dev/podd/pkg/helpers/elector"
)

// Importing the package installs the backend into the elector.
func init() {
	elector.RegisterEtcd(func(cfg elector.EtcdConfig) (elector.EtcdBackend, error) { return NewEtcd(cfg) })
}

// Etcd is the "etcd" backend: candidates on any host campaign in an etcd cluster with
// go.etcd.io/etcd/client/v3/concurrency. Each elector holds one session (a lease of --ttl,
// kept alive in the background) for all its elections; its key in an election is
// <prefix><election>/<lease in hex>, its value the candidate's name, and the leader is the key
// created first. The fencing token is the leader key's CreateRevision: etcd's revisions only
// grow, and every new candidacy is a new key.
//
// Renew is a keepalive of the lease answered by etcd (and a read that the key is still there):
// the elector counts its deadline from before it sent it, and etcd cannot expire the lease
// before that send time plus the ttl.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	name   string
	ttl    int64 // seconds

	mu   sync.Mutex
	sess *concurrency.Session
	// held: an election's grant, by token, with the lease its key is bound to.
	held map[string]etcdHeld
}

type etcdHeld struct {
	token uint64
	lease clientv3.LeaseID
}

// NewEtcd connects (lazily: no request is made before the first campaign or observe).
func NewEtcd(cfg elector.EtcdConfig) (*Etcd, error) {
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	if err := elector.CheckEtcdTTL(cfg.TTL); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		TLS:                  tlsCfg,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    cfg.TTL / 2,
		DialKeepAliveTimeout: cfg.TTL / 2,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("--etcd-endpoints: %w", err)
	}
	prefix := cfg.Prefix
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Etcd{cli: cli, prefix: prefix, name: cfg.Name, ttl: int64(cfg.TTL / time.Second), held: map[string]etcdHeld{}}, nil
}

// Close revokes the session's lease (every key of this elector goes at once) and closes the
// client.
func (b *Etcd) Close() error {
	b.mu.Lock()
	sess := b.sess
	b.sess = nil
	b.mu.Unlock()
	var err error
	if sess != nil {
		err = sess.Close()
	}
	return errors.Join(err, b.cli.Close())
}

// Self is the candidate's name (--name, the host's name by default: the pod's).
func (b *Etcd) Self(context.Context) (string, error) { return b.name, nil }

func (b *Etcd) electionPrefix(election string) string { return b.prefix + election }

func (b *Etcd) key(election string, lease clientv3.LeaseID) string {
	return fmt.Sprintf("%s/%x", b.electionPrefix(election), lease)
}

// session is the live session, a new one (a new lease) when there is none or its lease ended.
func (b *Etcd) session(ctx context.Context) (*concurrency.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil {
		select {
		case <-b.sess.Done():
			b.sess = nil
		default:
			return b.sess, nil
		}
	}
	lease, err := b.cli.Grant(ctx, b.ttl)
	if err != nil {
		return nil, err
	}
	sess, err := concurrency.NewSession(b.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(b.ttl)))
	if err != nil {
		return nil, err
	}
	b.sess = sess
	return sess, nil
}

// forget drops sess when it is the current one (its lease is gone).
func (b *Etcd) forget(sess *concurrency.Session) { b.forgetLease(sess.Lease()) }

// forgetLease drops the current session when its lease is lease (etcd no longer has it): the
// next campaign starts a new session.
func (b *Etcd) forgetLease(lease clientv3.LeaseID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil && b.sess.Lease() == lease {
		b.sess.Orphan()
		b.sess = nil
	}
}

// leader reads an election's leader: the key created first under its prefix.
func (b *Etcd) leader(ctx context.Context, election string) (elector.Observed, int64, error) {
	resp, err := b.cli.Get(ctx, b.electionPrefix(election)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return elector.Observed{}, 0, err
	}
	if len(resp.Kvs) == 0 {
		return elector.Observed{}, resp.Header.Revision, nil
	}
	kv := resp.Kvs[0]
	return elector.Observed{Leader: string(kv.Value), Token: uint64(kv.CreateRevision)}, resp.Header.Revision, nil
}

// Campaign: the concurrency package's campaign (a key of this session's lease; granted when
// every key created before it is gone). A candidate whose key is still there (its grant was lost
// to its own deadline but not to etcd) keeps its key and its token: nobody else was granted
// since. Without wait it answers elector.ErrNotLeader when another candidate leads.
func (b *Etcd) Campaign(ctx context.Context, election string, ttl time.Duration, wait bool) (elector.Grant, error) {
	sess, err := b.session(ctx)
	if err != nil {
		return elector.Grant{}, err
	}
	el := concurrency.NewElection(sess, b.electionPrefix(election))
	cctx := ctx
	if !wait {
		o, _, err := b.leader(ctx, election)
		if err != nil {
			return elector.Grant{}, err
		}
		if o.Leader != "" && o.Leader != b.name {
			return elector.Grant{}, fmt.Errorf("%w (leader %q)", elector.ErrNotLeader, o.Leader)
		}
		// Someone may have come first meanwhile: wait a little only.
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, time.Duration(b.ttl)*time.Second)
		defer cancel()
	}
	if err := el.Campaign(cctx, b.name); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			b.forget(sess)
		}
		if !wait && ctx.Err() == nil && cctx.Err() != nil {
			return elector.Grant{}, elector.ErrNotLeader
		}
		return elector.Grant{}, err
	}
	token := uint64(el.Rev())
	b.mu.Lock()
	b.held[election] = etcdHeld{token: token, lease: sess.Lease()}
	b.mu.Unlock()
	// The lease may have been kept alive last before the caller's clock started: renew it now,
	// so that the caller's deadline counts from before an answered keepalive; and check that
	// the key is still the leader's (its lease may have ended while it waited).
	return b.Renew(ctx, election, token, ttl)
}

// Renew sends a keepalive of the lease the grant's key is bound to and checks that the key is
// still there with its token. The grant's TTL is the one etcd answered (at least etcd's
// minimum lease TTL, which may be more than --ttl).
func (b *Etcd) Renew(ctx context.Context, election string, token uint64, _ time.Duration) (elector.Grant, error) {
	b.mu.Lock()
	h, ok := b.held[election]
	b.mu.Unlock()
	if !ok || h.token != token {
		return elector.Grant{}, fmt.Errorf("%w (token %d is not this elector's)", elector.ErrNotLeader, token)
	}
	ka, err := b.cli.KeepAliveOnce(ctx, h.lease)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		b.release(election, token)
		b.forgetLease(h.lease)
		return elector.Grant{}, fmt.Errorf("%w (the lease expired)", elector.ErrNotLeader)
	}
	if err != nil {
		return elector.Grant{}, err
	}
	resp, err := b.cli.Get(ctx, b.key(election, h.lease))
	if err != nil {
		return elector.Grant{}, err
	}
	if len(resp.Kvs) == 0 || uint64(resp.Kvs[0].CreateRevision) != token {
		b.release(election, token)
		return elector.Grant{}, fmt.Errorf("%w (the key of token %d is gone)", elector.ErrNotLeader, token)
	}
	return elector.Grant{Leader: b.name, Token: token, TTL: time.Duration(ka.TTL) * time.Second}, nil
}

func (b *Etcd) release(election string, token uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[election].token == token {
		delete(b.held, election)
	}
}

// deleteKey deletes this elector's key of the grant token, if it is still there.
func (b *Etcd) deleteKey(ctx context.Context, election string, token uint64) error {
	b.mu.Lock()
	h, ok := b.held[election]
	b.mu.Unlock()
	if !ok || h.token != token {
		return nil
	}
	k := b.key(election, h.lease)
	_, err := b.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", int64(token))).Then(clientv3.OpDelete(k)).Commit()
	if err == nil {
		b.release(election, token)
	}
	return err
}

// Resign deletes the key: the next candidate is granted at once.
func (b *Etcd) Resign(ctx context.Context, election string, token uint64) error {
	return b.deleteKey(ctx, election, token)
}

// Ack: a grant this elector lost (its deadline passed, or etcd refused a renew). Its key, if
// etcd still has it, is deleted, so that a new campaign is a new candidacy with a new token.
func (b *Etcd) Ack(ctx context.Context, election string, token uint64) error {
	return b.deleteKey(ctx, election, token)
}

// Observe reads the leader and then again at each change of the election's keys (a watch of
// its prefix), calling fn each time; a vacancy is an empty Observed. It ends when the watch
// breaks (with an error) or ctx ends.
func (b *Etcd) Observe(ctx context.Context, election string, fn func(elector.Observed)) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	o, rev, err := b.leader(ctx, election)
	if err != nil {
		return err
	}
	fn(o)
	last := o
	for wr := range b.cli.Watch(ctx, b.electionPrefix(election)+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		o, _, err := b.leader(ctx, election)
		if err != nil {
			return err
		}
		if o != last {
			fn(o)
			last = o
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("etcd: the watch ended")
}
