package workqueue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// Queue is a work queue's backend: the embedded spool (one host's folder, package spool) or
// etcd (queues shared by several hosts, package etcdqueue, in the image variant
// localhost/podd/patterns-etcd only). Both keep the same semantics: the states, the records
// (spool.Meta), the failure policy (spool.Policy.Decide), the control switches and the refusal
// of a commit whose lease has ended (spool.ErrLeaseLost).
type Queue interface {
	// Add puts a new item in the queue unless an item of that id exists in any state; it says
	// whether it added it.
	Add(id string, input io.Reader) (bool, error)
	// Claim leases the first claimable item for holder (new ones first, then retries whose
	// backoff has passed); nil when none can be claimed now.
	Claim(holder string) (Lease, error)
	// Recover takes back the leased items whose holder is gone, each as a failed attempt.
	Recover(p spool.Policy) (int, error)
	Counts() (spool.Counts, error)
	Control() (spool.Control, error)
	SetControl(spool.Control) error
	// Retry puts a dead item back in the queue, its attempts counted afresh.
	Retry(id string) error
	// Items lists the records of the items in a state, by id.
	Items(state string) ([]spool.Meta, error)
	// Close ends what the queue holds (etcd: its session, whose lease ends with it).
	Close() error
}

// Lease is one attempt at an item.
type Lease interface {
	ID() string
	Token() string
	// Attempt is 1 for the first attempt.
	Attempt() int
	// OpenInput reads the item's input.
	OpenInput() (io.ReadCloser, error)
	// Commit makes outDir's content the item's output, and the item done, in one step; a lease
	// that has ended cannot (spool.ErrLeaseLost).
	Commit(outDir string) error
	// Fail ends the attempt as failed: retried after its backoff, or dead. It returns the state.
	Fail(p spool.Policy, f spool.Failure) (string, error)
	// Release ends the lease without a result, as its holder's death would: a later Recover
	// takes the item back.
	Release()
}

// Backends of --backend.
const (
	BackendSpool = "spool"
	BackendEtcd  = "etcd"
)

// EtcdConfig is the etcd backend's settings (the --etcd-*, --queue and --lease-ttl flags).
type EtcdConfig struct {
	Endpoints []string
	// TLS: the CA that signed the members' certificates, and the client's certificate and key
	// (all optional; the certificate and the key go together).
	CAFile, CertFile, KeyFile string
	// Queue names the queue: its keys are under /podd/queues/<Queue>/.
	Queue string
	// LeaseTTL is the etcd lease of the helper's attempts, kept alive while the helper lives:
	// when its host dies, its items return to the queue this long after its last keepalive.
	LeaseTTL time.Duration
}

// The etcd backend's defaults and limits.
const (
	DefaultLeaseTTL = 5 * time.Second
	// etcd's leases count whole seconds, and below 2 s one missed keepalive (every ttl/3) ends
	// a live helper's leases.
	minLeaseTTL = 2 * time.Second
	maxLeaseTTL = time.Hour
	// EtcdImageHint names the helper image with the etcd backend, in errors.
	EtcdImageHint = "localhost/podd/patterns-etcd"
)

// newEtcd makes the etcd backend, when this build links it (package etcdqueue, which the helper
// binary of the image localhost/podd/patterns-etcd imports): the etcd client is 5 MB that the
// other helpers' image does without.
var newEtcd func(EtcdConfig) (Queue, error)

// RegisterEtcd installs the etcd backend's constructor.
func RegisterEtcd(f func(EtcdConfig) (Queue, error)) { newEtcd = f }

// CheckQueueName: a queue's name is a key's part: 1–200 letters, digits, '.', '_', '-'.
func CheckQueueName(name string) error {
	if err := spool.CheckID(name); err != nil {
		return fmt.Errorf("--queue: %q: want 1 to 200 letters, digits, '.', '_' or '-', not starting with '.' or '-'", name)
	}
	return nil
}

// CheckLeaseTTL: whole seconds, 2 s to 1 h.
func CheckLeaseTTL(ttl time.Duration) error {
	if ttl < minLeaseTTL || ttl > maxLeaseTTL {
		return fmt.Errorf("--lease-ttl: %s is out of range [%s, %s]", ttl, minLeaseTTL, maxLeaseTTL)
	}
	if ttl%time.Second != 0 {
		return fmt.Errorf("--lease-ttl: %s is not a whole number of seconds (etcd's leases count seconds)", ttl)
	}
	return nil
}

// openQueue opens the backend the configuration names.
func openQueue(cfg Config) (Queue, error) {
	if cfg.Etcd == nil {
		s, err := spool.Open(cfg.Spool)
		if err != nil {
			return nil, err
		}
		return spoolQueue{s}, nil
	}
	if newEtcd == nil {
		return nil, fmt.Errorf("--backend etcd: this build of the helpers has no etcd backend: the image %s has it (podd injects that image for workqueue.podd.io/backend: etcd)", EtcdImageHint)
	}
	return newEtcd(*cfg.Etcd)
}

// spoolQueue is the spool as a Queue.
type spoolQueue struct{ *spool.Spool }

func (q spoolQueue) Claim(holder string) (Lease, error) {
	l, err := q.Spool.Claim(holder)
	if l == nil || err != nil {
		return nil, err
	}
	return spoolLease{l}, nil
}

func (q spoolQueue) Close() error { return nil }

type spoolLease struct{ *spool.Lease }

func (l spoolLease) Attempt() int                      { return l.Meta.Attempts }
func (l spoolLease) OpenInput() (io.ReadCloser, error) { return os.Open(l.Input()) }

// etcdOnly are the etcd backend's flags, refused with the spool.
var etcdOnly = []string{"etcd-endpoints", "etcd-ca-file", "etcd-cert-file", "etcd-key-file", "queue", "lease-ttl"}

// backendError says which flags a backend lacks or refuses.
func backendError(backend string, set func(string) bool) error {
	var errs []string
	switch backend {
	case BackendSpool:
		for _, f := range etcdOnly {
			if set(f) {
				errs = append(errs, fmt.Sprintf("--%s: only with --backend etcd", f))
			}
		}
		if !set("spool") {
			errs = append(errs, "--spool: required with --backend spool")
		}
	case BackendEtcd:
		if set("spool") {
			errs = append(errs, "--spool: only with --backend spool")
		}
		for _, f := range []string{"etcd-endpoints", "queue"} {
			if !set(f) {
				errs = append(errs, fmt.Sprintf("--%s: required with --backend etcd", f))
			}
		}
	default:
		return fmt.Errorf("--backend: %q is not available (spool or etcd)", backend)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
