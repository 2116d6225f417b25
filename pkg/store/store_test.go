package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// smallFS mounts a tmpfs of size bytes for the test (root only; under CI=true a missing root
// is a failure).
func smallFS(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test mounts a tmpfs: run it as root")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes a file until the file system has no room left.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// And the last bytes, a page at a time.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			return
		}
	}
}

func record(i int) *supervisor.Record {
	return &supervisor.Record{Pod: &pod.Pod{Metadata: pod.ObjectMeta{
		Namespace: "default", Name: fmt.Sprintf("pod-%d", i), UID: fmt.Sprintf("uid-%d", i),
		Annotations: map[string]string{"pad": strings.Repeat("x", 2000)},
	}}}
}

// TestStopAndRemoveOnFullDisk: when a pod fills --root, the pod can still be stopped (the store
// records it) and removed (the store deletes it); a write that finds no room even so is an error
// of class ResourceExhausted, not an internal one.
func TestStopAndRemoveOnFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := smallFS(t, 16<<20)
	s, err := Open(filepath.Join(dir, "podd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	for i := range n {
		if err := s.Put(ctx, record(i)); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, dir)

	// Stop: the record changes, and grows (a pod's record holds its status): bbolt needs new
	// pages, beyond the ones its file has free.
	stopped := record(0)
	stopped.Stopped = true
	stopped.Pod.Metadata.Annotations["pad"] = strings.Repeat("y", 64<<10)
	if err := s.Put(ctx, stopped); err != nil {
		t.Fatalf("store a stop on a full disk: %v", err)
	}
	// Remove: every record goes.
	for i := range n {
		if err := s.Delete(ctx, fmt.Sprintf("uid-%d", i)); err != nil {
			t.Fatalf("delete record %d of %d on a full disk: %v", i, n, err)
		}
	}
	recs, err := s.List(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("after removal: %d records, %v", len(recs), err)
	}
	// New pods on a disk that stays full: refused with a class of their own.
	var full error
	for i := n; i < 10*n && full == nil; i++ {
		full = s.Put(ctx, record(i))
	}
	if !errdefs.IsResourceExhausted(full) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("a write on a full disk: %v, want ResourceExhausted and ENOSPC", full)
	}
}

// TestObjects: objects are written together, survive a reopen, and a nil value deletes.
func TestObjects(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "podd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutObjects(ctx, map[string][]byte{"Deployment/default/web": []byte(`{"a":1}`), "ConfigMap/default/c": []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObjects(ctx, map[string][]byte{"ConfigMap/default/c": nil}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got["Deployment/default/web"]) != `{"a":1}` {
		t.Errorf("objects = %q", got)
	}
}

func TestElectionTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "podd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []uint64{1, 2, 3} {
		if err := s.PutElectionToken("ns", "e", tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutElectionToken("other", "e", 9); err != nil {
		t.Fatal(err)
	}
	if err := s.PutElectionToken("ns", "e", 2); err == nil {
		t.Error("a token below the stored one was accepted")
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ElectionTokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["ns/e"] != 3 || got["other/e"] != 9 {
		t.Errorf("tokens after reopening = %v, want ns/e:3 other/e:9", got)
	}
}
