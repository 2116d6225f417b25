package privcontainerd

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/moby/sys/mountinfo"
)

// MountsUnder lists the mount points at or under dir in this process's mount namespace, deepest
// first.
func MountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return nil, err
	}
	mounts := make([]string, len(infos))
	for i, m := range infos {
		mounts[i] = m.Mountpoint
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	return mounts, nil
}

// UnmountAll unmounts every mount at or under dir, deepest first: what a private containerd
// and the podds the tests or the bench ran there left mounted.
func UnmountAll(dir string) error {
	var errs []error
	for range 3 { // mounts can be stacked on one another
		mounts, err := MountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}
