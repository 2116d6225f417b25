// Package store keeps podd's desired state — the pods the API accepted — in a bbolt file, each
// write one fsynced transaction, so that nothing acknowledged is lost when podd dies.
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/podd-dev/podd/pkg/supervisor"
)

var podsBucket = []byte("pods")

// Store is a bbolt-backed supervisor.Store.
type Store struct {
	db *bolt.DB
}

var _ supervisor.Store = (*Store)(nil)

// Open opens (or creates) the store file. A second podd on the same file waits, then fails.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(podsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("init store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Put writes the records in one transaction: all of them or none.
func (s *Store) Put(ctx context.Context, recs ...*supervisor.Record) error {
	return s.db.Update(func(tx *bolt.Tx) error {
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
	return s.db.Update(func(tx *bolt.Tx) error {
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
