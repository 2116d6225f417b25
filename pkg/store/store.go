// Package store keeps podd's desired state — the pods the API accepted — in a bbolt file, each
// write one fsynced transaction, so that nothing acknowledged is lost when podd dies.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"

	"github.com/podd-dev/podd/pkg/supervisor"
)

var (
	podsBucket    = []byte("pods")
	objectsBucket = []byte("objects")
	// electionsBucket holds each local election's last token (namespace/name → 8 bytes, big
	// endian), so that tokens keep increasing across podd's restarts.
	electionsBucket = []byte("elections")
)

// ReserveSize is the room the store keeps for itself on --root: a file of that size, written
// out, that is deleted when a write finds no space, so that stopping and removing pods (which
// write the store) still work on a full --root, and written again once there is room.
const ReserveSize = 4 << 20

// Store is a bbolt-backed supervisor.Store.
type Store struct {
	db      *bolt.DB
	reserve string
	mu      sync.Mutex // orders the reserve's removal and recreation
}

var _ supervisor.Store = (*Store)(nil)

// Open opens (or creates) the store file. A second podd on the same file waits, then fails.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(podsBucket); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(objectsBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(electionsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("init store %s: %w", path, err)
	}
	s := &Store{db: db, reserve: path + ".reserve"}
	s.ensureReserve()
	return s, nil
}

// ensureReserve writes the reserve file unless it is there; on a full disk it is left for later.
func (s *Store) ensureReserve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi, err := os.Stat(s.reserve); err == nil && fi.Size() == ReserveSize {
		return
	}
	if err := writeReserve(s.reserve); err != nil {
		os.Remove(s.reserve)
	}
}

func writeReserve(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	// Written, not fallocated: tmpfs and some file systems would count a hole as free.
	_, err = f.Write(make([]byte, ReserveSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// update runs fn in a write transaction. When the disk is full it frees the reserve and tries
// once more; an error that remains is of errdefs' class ResourceExhausted.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	err := s.db.Update(fn)
	if errors.Is(err, syscall.ENOSPC) {
		s.mu.Lock()
		rerr := os.Remove(s.reserve)
		s.mu.Unlock()
		if rerr == nil {
			err = s.db.Update(fn)
		}
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w", errdefs.ErrResourceExhausted, err)
	}
	if err == nil {
		s.ensureReserve()
	}
	return err
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Put writes the records in one transaction: all of them or none.
func (s *Store) Put(ctx context.Context, recs ...*supervisor.Record) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(podsBucket)
		for _, r := range recs {
			data, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encode pod %s: %w", r.Pod.Metadata.Name, err)
			}
			if err := b.Put([]byte(r.Pod.Metadata.UID), data); err != nil {
				return fmt.Errorf("store pod %s: %w", r.Pod.Metadata.Name, err)
			}
		}
		return nil
	})
}

// Delete removes a pod's record; a missing one is fine.
func (s *Store) Delete(ctx context.Context, uid string) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(podsBucket).Delete([]byte(uid))
	})
}

// List returns every record.
func (s *Store) List(ctx context.Context) ([]*supervisor.Record, error) {
	var out []*supervisor.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(podsBucket).ForEach(func(k, v []byte) error {
			var r supervisor.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode stored pod %s: %w", k, err)
			}
			out = append(out, &r)
			return nil
		})
	})
	return out, err
}

// PutObjects writes the objects of the kinds beside Pod (pkg/controller's Objects), by key, in one
// transaction: all of them or none. A nil value deletes its key.
func (s *Store) PutObjects(ctx context.Context, objs map[string][]byte) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		for k, v := range objs {
			var err error
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return fmt.Errorf("store object %s: %w", k, err)
			}
		}
		return nil
	})
}

// ListObjects returns every object, by key.
func (s *Store) ListObjects(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(objectsBucket).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// PutElectionToken stores an election's last token, in one fsynced transaction: a grant is
// answered only after it returned. A token lower than the stored one is refused.
func (s *Store) PutElectionToken(namespace, name string, token uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(electionsBucket)
		k := []byte(namespace + "/" + name)
		if old := b.Get(k); len(old) == 8 && binary.BigEndian.Uint64(old) > token {
			return fmt.Errorf("election %s/%s: token %d is below the stored %d", namespace, name, token, binary.BigEndian.Uint64(old))
		}
		return b.Put(k, binary.BigEndian.AppendUint64(nil, token))
	})
}

// ElectionTokens returns every election's last token, by namespace/name.
func (s *Store) ElectionTokens() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(electionsBucket).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = binary.BigEndian.Uint64(v)
			}
			return nil
		})
	})
	return out, err
}
