package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/pod"
)

// A subPath is mounted in two steps, as the kubelet does since CVE-2017-1002101. podd opens the
// subPath inside its volume one component at a time, never following a symlink out of the volume,
// and bind-mounts what it opened — by its file descriptor, /proc/self/fd/N, not by its name — at
// a path under the pod's folder that only podd can change. runc is handed that path. Handing runc
// the resolved name instead lets a container that swaps a directory of a shared volume with a
// symlink to / (renameat2 RENAME_EXCHANGE) between the two steps get the host's root mounted
// into its sibling: runc follows the name again when it mounts.

// subPathDir holds the bind mounts of one container's subPaths.
func (r *Host) subPathDir(podUID, containerID string) string {
	return filepath.Join(r.PodDir(podUID), "subpaths", containerID)
}

// bindSubPath opens subPath inside volume, creating it as a folder when it does not exist (as the
// kubelet does), and bind-mounts it at target, a file or a folder as the subPath is.
func bindSubPath(volume, subPath, target string) error {
	root, err := os.OpenFile(volume, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open volume: %w", err)
	}
	defer root.Close()
	handle, err := pathrs.OpenatInRoot(root, subPath)
	if errors.Is(err, fs.ErrNotExist) {
		handle, err = pathrs.MkdirAllHandle(root, subPath, 0o755)
	}
	if err != nil {
		return fmt.Errorf("open %s in its volume: %w", subPath, err)
	}
	defer handle.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(handle.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", subPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("create mount point of %s: %w", subPath, err)
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(handle.Fd()))
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s: %w", subPath, err)
	}
	return nil
}

// removeSubPaths unmounts a container's subPath mounts and removes their mount points. A mount
// point is removed only once unmounted (os.Remove, never RemoveAll), so that a failed unmount can
// never delete what the volume holds.
func (r *Host) removeSubPaths(podUID, containerID string) error {
	dir := r.subPathDir(podUID, containerID)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// BindSubPaths bind-mounts the subPath of each of a container's mounts that has one, and points
// the mount at its bind mount instead; an earlier try's mounts of the same container go first.
func (r *Host) BindSubPaths(podUID, containerID string, mounts []pod.Mount) error {
	if err := r.removeSubPaths(podUID, containerID); err != nil {
		return fmt.Errorf("remove stale subPath mounts: %w", err)
	}
	for i, m := range mounts {
		if m.SubPath == "" {
			continue
		}
		target := filepath.Join(r.subPathDir(podUID, containerID), strconv.Itoa(i))
		if err := bindSubPath(m.Source, m.SubPath, target); err != nil {
			return fmt.Errorf("subPath %s: %w", m.SubPath, err)
		}
		mounts[i].Source, mounts[i].SubPath = target, ""
	}
	return nil
}

// ReleaseSubPaths unmounts a removed container's subPath mounts.
func (r *Host) ReleaseSubPaths(podUID, containerID string) error {
	return r.removeSubPaths(podUID, containerID)
}
