package cgroups

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// fakeHost is a cgroupfs look-alike in a temporary folder: one folder per hierarchy, a mountinfo
// that points at them, and an rmdir that behaves as cgroupfs's does (control files go with their
// directory) and can be told to fail.
type fakeHost struct {
	root string
	fs   FS

	mu       sync.Mutex
	failures map[string][]error // directory → errors its next rmdir calls return, in turn
	rmdirs   []string           // every directory rmdir was called on, in order
}

type layout int

const (
	layoutV1 layout = iota
	layoutHybrid
	layoutV2
)

func newFakeHost(t *testing.T, l layout) *fakeHost {
	t.Helper()
	h := &fakeHost{root: t.TempDir(), failures: map[string][]error{}}
	var mounts []string
	v1 := []string{"cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "systemd"}
	if l == layoutV1 || l == layoutHybrid {
		for i, name := range v1 {
			opts := "rw," + name
			if name == "systemd" {
				opts = "rw,xattr,name=systemd"
			}
			mounts = append(mounts, fmt.Sprintf("%d 31 0:%d / %s rw,relatime shared:%d - cgroup cgroup %s",
				32+i, 29+i, filepath.Join(h.root, name), 10+i, opts))
		}
	}
	switch l {
	case layoutHybrid:
		mounts = append(mounts, fmt.Sprintf("50 31 0:50 / %s rw,relatime - cgroup2 cgroup2 rw,nsdelegate", filepath.Join(h.root, "unified")))
	case layoutV2:
		mounts = append(mounts, fmt.Sprintf("26 25 0:24 / %s rw,relatime - cgroup2 cgroup2 rw,nsdelegate", filepath.Join(h.root, "unified")))
	}
	for _, m := range mounts {
		mp := strings.Fields(m)[4]
		if err := os.MkdirAll(mp, 0o755); err != nil {
			t.Fatal(err)
		}
		writeControlFiles(t, mp)
	}
	fs, err := Load(writeFile(t, "mountinfo", strings.Join(mounts, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	fs.rmdir = h.rmdir
	h.fs = fs
	return h
}

func writeControlFiles(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{"cgroup.procs", "tasks", "notify_on_release"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *fakeHost) rmdir(dir string) error {
	h.mu.Lock()
	h.rmdirs = append(h.rmdirs, dir)
	if errs := h.failures[dir]; len(errs) > 0 {
		h.failures[dir] = errs[1:]
		h.mu.Unlock()
		return errs[0]
	}
	h.mu.Unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return unwrapErrno(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			return unix.ENOTEMPTY
		}
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return unwrapErrno(err)
		}
	}
	return unwrapErrno(os.Remove(dir))
}

// unwrapErrno returns the bare errno, as unix.Rmdir does.
func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func (h *fakeHost) failNext(dir string, errs ...error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures[dir] = append(h.failures[dir], errs...)
}

// hierarchyDirs are the folders of all hierarchies.
func (h *fakeHost) hierarchyDirs() []string {
	var dirs []string
	for _, hy := range h.fs.Hierarchies {
		dirs = append(dirs, hy.Mountpoint)
	}
	return dirs
}

// mkcgroup creates a cgroup (with control files) in the given hierarchy folders.
func (h *fakeHost) mkcgroup(t *testing.T, cgroup string, in ...string) {
	t.Helper()
	for _, mp := range in {
		dir := filepath.Join(mp, cgroup)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeControlFiles(t, dir)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var removeDelaysDefault = removeDelays

// fastRetries makes RemovePod's retry schedule short and returns how many attempts it allows.
func fastRetries(t *testing.T) int {
	saved := removeDelays
	removeDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { removeDelays = saved })
	return len(removeDelays) + 1
}

func TestRemovePod(t *testing.T) {
	const uid = "5f1c-77aa"
	for _, l := range []struct {
		name string
		l    layout
	}{{"v1", layoutV1}, {"hybrid", layoutHybrid}, {"v2", layoutV2}} {
		t.Run(l.name, func(t *testing.T) {
			h := newFakeHost(t, l.l)
			all := h.hierarchyDirs()
			// The pod in every hierarchy but the first, with two containers and one of them
			// with a nested cgroup of its own; a second pod that must stay.
			h.mkcgroup(t, "podd/pod"+uid+"/c1/nested", all[len(all)-1:]...)
			h.mkcgroup(t, "podd/pod"+uid+"/c2", all[min(1, len(all)-1):]...)
			h.mkcgroup(t, "podd/podother/c1", all...)

			if err := RemovePod(t.Context(), h.fs, DefaultParent, uid); err != nil {
				t.Fatal(err)
			}
			for _, mp := range all {
				if p := filepath.Join(mp, "podd", "pod"+uid); exists(p) {
					t.Errorf("%s still exists", p)
				}
				for _, keep := range []string{"podd", "podd/podother/c1"} {
					if p := filepath.Join(mp, keep); !exists(p) {
						t.Errorf("%s was removed", p)
					}
				}
			}
			// Deepest first: nothing was rmdir'ed before its children.
			for i, d := range h.rmdirs {
				for _, later := range h.rmdirs[i+1:] {
					if strings.HasPrefix(later, d+string(filepath.Separator)) {
						t.Errorf("rmdir %s before its child %s", d, later)
					}
				}
			}

			// Removing again finds nothing, which is success.
			if err := RemovePod(t.Context(), h.fs, DefaultParent, uid); err != nil {
				t.Errorf("second RemovePod: %v", err)
			}
		})
	}
}

func TestRemovePodNoParent(t *testing.T) {
	h := newFakeHost(t, layoutHybrid)
	if err := RemovePod(t.Context(), h.fs, DefaultParent, "never-ran"); err != nil {
		t.Fatal(err)
	}
	if len(h.rmdirs) != 0 {
		t.Errorf("rmdir called on %v", h.rmdirs)
	}
}

func TestRemovePodBusy(t *testing.T) {
	const uid = "u1"
	tests := []struct {
		name     string
		failures func(attempts int) []error // for the memory hierarchy's pod folder
		wantErr  func(error) bool
	}{
		{
			name:     "busy for a moment while processes exit",
			failures: func(int) []error { return []error{unix.EBUSY, unix.EBUSY} },
		},
		{
			name:     "a child cgroup appears meanwhile",
			failures: func(int) []error { return []error{unix.ENOTEMPTY} },
		},
		{
			name: "busy for good: processes still run",
			failures: func(attempts int) []error {
				return slices.Repeat([]error{unix.EBUSY}, attempts)
			},
			wantErr: errdefs.IsFailedPrecondition,
		},
		{
			name:     "permission denied is not retried",
			failures: func(int) []error { return []error{unix.EACCES} },
			wantErr:  func(err error) bool { return errors.Is(err, iofs.ErrPermission) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attempts := fastRetries(t)
			h := newFakeHost(t, layoutHybrid)
			all := h.hierarchyDirs()
			h.mkcgroup(t, "podd/pod"+uid+"/c1", all...)
			memory := filepath.Join(h.root, "memory", "podd", "pod"+uid)
			h.failNext(memory, tt.failures(attempts)...)

			err := RemovePod(t.Context(), h.fs, DefaultParent, uid)

			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("err = %v", err)
				}
				if !strings.Contains(err.Error(), memory) {
					t.Errorf("error %q does not name %s", err, memory)
				}
			}
			// Whatever the memory hierarchy does, the others are cleaned.
			for _, mp := range all {
				p := filepath.Join(mp, "podd", "pod"+uid)
				if want := tt.wantErr != nil && p == memory; exists(p) != want {
					t.Errorf("%s exists = %v, want %v", p, exists(p), want)
				}
			}
		})
	}
}

func TestRemovePodContextCancelled(t *testing.T) {
	h := newFakeHost(t, layoutV1)
	h.mkcgroup(t, "podd/podu", h.hierarchyDirs()...)
	h.failNext(filepath.Join(h.root, "memory", "podd", "podu"), slices.Repeat([]error{unix.EBUSY}, 100)...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := RemovePod(ctx, h.fs, DefaultParent, "u"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestRemovePodInvalidUID(t *testing.T) {
	h := newFakeHost(t, layoutV1)
	h.mkcgroup(t, "podd/podx", h.hierarchyDirs()...)
	for _, uid := range []string{"", "x/../..", "/", "a/b", "x\x00"} {
		if err := RemovePod(t.Context(), h.fs, DefaultParent, uid); !errdefs.IsInvalidArgument(err) {
			t.Errorf("RemovePod(%q): err = %v, want invalid argument", uid, err)
		}
		if _, err := PodExists(h.fs, DefaultParent, uid); !errdefs.IsInvalidArgument(err) {
			t.Errorf("PodExists(%q): err = %v, want invalid argument", uid, err)
		}
	}
	if len(h.rmdirs) != 0 {
		t.Errorf("rmdir called on %v", h.rmdirs)
	}
}

// With the real rmdir on an ordinary file system, empty folders go as they would on cgroupfs.
func TestRemovePodUnixRmdir(t *testing.T) {
	root := t.TempDir()
	fs := FS{Mode: V2, Hierarchies: []Hierarchy{{Mountpoint: root, Root: "/", Unified: true}}}
	for _, d := range []string{"podd/podu/a/b", "podd/podu/c"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemovePod(t.Context(), fs, "podd", "u"); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(root, "podd/podu")) || !exists(filepath.Join(root, "podd")) {
		t.Error("pod folder not removed, or its parent removed")
	}
}

func TestListPodsAndPodExists(t *testing.T) {
	for _, l := range []struct {
		name string
		l    layout
	}{{"v1", layoutV1}, {"hybrid", layoutHybrid}, {"v2", layoutV2}} {
		t.Run(l.name, func(t *testing.T) {
			h := newFakeHost(t, l.l)
			all := h.hierarchyDirs()
			last := all[len(all)-1:]

			uids, err := ListPods(h.fs, DefaultParent)
			if err != nil || len(uids) != 0 {
				t.Fatalf("ListPods without a parent = %v, %v", uids, err)
			}

			h.mkcgroup(t, "podd/podb/c1", all...)
			h.mkcgroup(t, "podd/poda", last...) // left behind in one hierarchy only
			h.mkcgroup(t, "podd/system.slice", all...)
			h.mkcgroup(t, "podd/pod", all...) // no UID
			h.mkcgroup(t, "other/podz", all...)
			if err := os.WriteFile(filepath.Join(all[0], "podd", "podfile"), nil, 0o644); err != nil {
				t.Fatal(err)
			}

			uids, err = ListPods(h.fs, DefaultParent)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"a", "b"}; !slices.Equal(uids, want) {
				t.Errorf("ListPods = %q, want %q", uids, want)
			}

			for uid, want := range map[string]bool{"a": true, "b": true, "z": false, "c1": false} {
				got, err := PodExists(h.fs, DefaultParent, uid)
				if err != nil || got != want {
					t.Errorf("PodExists(%q) = %v, %v; want %v", uid, got, err, want)
				}
			}
		})
	}
}
