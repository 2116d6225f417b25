package cgroups

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// removeDelays are the waits between attempts to remove a busy cgroup. A cgroup stays busy for a
// moment after its last process was reaped (the kernel frees the task later), so the first waits
// are short; about a second in all is enough for exiting processes and short enough that a cgroup
// with a live process fails RemovePod promptly. Like runc's RemovePaths, with a little more patience.
var removeDelays = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond,
}

// RemovePod removes the pod's cgroup, and any container cgroups left under it, from every
// hierarchy that has it: each v1 controller, named hierarchies such as name=systemd, and the
// unified tree (runc creates the pod's directory in all of them). A cgroup that is already gone
// counts as removed. One that still holds processes after a brief wait fails with
// errdefs.ErrFailedPrecondition; the other hierarchies are still cleaned.
func RemovePod(ctx context.Context, fs FS, parent, podUID string) error {
	if err := validPodUID(podUID); err != nil {
		return err
	}
	cgroup := PodPath(parent, podUID)
	rmdir := fs.rmdirFunc()
	var errs []error
	for _, h := range fs.Hierarchies {
		dir := h.dir(cgroup)
		if dir == "" {
			continue
		}
		if err := removeTree(ctx, rmdir, dir); err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// removeTree removes dir and the cgroups under it, deepest first, retrying while the kernel
// still counts processes in them or a child cgroup appears behind our back.
func removeTree(ctx context.Context, rmdir func(string) error, dir string) error {
	for attempt := 0; ; attempt++ {
		err := removeOnce(rmdir, dir)
		if err == nil {
			return nil
		}
		busy := errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY)
		if !busy {
			return err
		}
		if attempt == len(removeDelays) {
			return fmt.Errorf("%w: still in use: %w", errdefs.ErrFailedPrecondition, err)
		}
		t := time.NewTimer(removeDelays[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func removeOnce(rmdir func(string) error, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		// Files in a cgroup are its control files, which go with the directory; only child
		// cgroups must be removed first.
		if e.IsDir() {
			if err := removeOnce(rmdir, filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// PodExists tells whether the pod has a cgroup in any hierarchy.
func PodExists(fs FS, parent, podUID string) (bool, error) {
	if err := validPodUID(podUID); err != nil {
		return false, err
	}
	cgroup := PodPath(parent, podUID)
	for _, h := range fs.Hierarchies {
		dir := h.dir(cgroup)
		if dir == "" {
			continue
		}
		st, err := os.Stat(dir)
		switch {
		case err == nil && st.IsDir():
			return true, nil
		case err != nil && !errors.Is(err, iofs.ErrNotExist):
			return false, fmt.Errorf("look for cgroup %s: %w", dir, err)
		}
	}
	return false, nil
}

// ListPods returns the UIDs of the pods that have a cgroup under parent in any hierarchy, sorted.
// Reconciliation compares them with the store to find the cgroups of pods that no longer exist.
func ListPods(fs FS, parent string) ([]string, error) {
	cgroup := path.Join("/", parent)
	var uids []string
	for _, h := range fs.Hierarchies {
		dir := h.dir(cgroup)
		if dir == "" {
			continue
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list pod cgroups: %w", err)
		}
		for _, e := range entries {
			uid, ok := strings.CutPrefix(e.Name(), "pod")
			if e.IsDir() && ok && validPodUID(uid) == nil {
				uids = append(uids, uid)
			}
		}
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// validPodUID keeps a UID from naming a cgroup outside the pod's own: with "x/../.." RemovePod
// would walk every cgroup on the host and remove each empty one.
func validPodUID(uid string) error {
	if uid == "" || strings.ContainsAny(uid, "/\x00") {
		return fmt.Errorf("invalid pod uid %q: %w", uid, errdefs.ErrInvalidArgument)
	}
	return nil
}

// KillHelpers sends SIGKILL to every process left in the pod's own leaf cgroups — the loggers'
// (LogsLeaf) and the shared PID namespace's init (PodInitCgroup) — in every hierarchy, and
// returns how many it signalled. Those are podd's processes, not the user's: once the pod's
// containers are deleted they have nothing left to do, but a logger whose shim was killed (a
// crash in the middle of a task create) can wait on its pipes for ever and keep the pod's cgroup
// busy. The kubelet likewise kills what is left in a pod's cgroup before it removes it; podd
// limits that to its own leaves, so that a container process that outlives its container is
// still reported by RemovePod rather than killed silently.
func KillHelpers(fs FS, parent, podUID string) (int, error) {
	if err := validPodUID(podUID); err != nil {
		return 0, err
	}
	var errs []error
	killed := map[int]bool{}
	for _, cgroup := range []string{LogsPath(parent, podUID), PodInitCgroup(parent, podUID)} {
		for _, h := range fs.Hierarchies {
			dir := h.dir(cgroup)
			if dir == "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if errors.Is(err, iofs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				pid, err := strconv.Atoi(f)
				if err != nil || pid <= 0 || killed[pid] {
					continue
				}
				if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
					errs = append(errs, fmt.Errorf("kill %d in %s: %w", pid, dir, err))
					continue
				}
				killed[pid] = true
			}
		}
	}
	return len(killed), errors.Join(errs...)
}
