package integration

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/cgroups"
)

// cgroupRootPrefix names the cgroup roots of the tests' podds: podd-test-<pid>-<n>, so that
// concurrent test binaries (and a podd on the host, under podd/) never share one.
const cgroupRootPrefix = "podd-test-"

func newCgroupRoot(n int32) string {
	return fmt.Sprintf("%s%d-%d", cgroupRootPrefix, os.Getpid(), n)
}

// cgroupMountpoints are the host's cgroup hierarchies.
func cgroupMountpoints() ([]string, error) {
	fs, err := cgroups.Load(cgroups.MountinfoPath)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range fs.Hierarchies {
		if h.Root == "/" {
			out = append(out, h.Mountpoint)
		}
	}
	return out, nil
}

// removeCgroupRoot removes a podd's cgroup root, with whatever pod and container cgroups are left
// under it, in every hierarchy, deepest first; busy cgroups (processes still exiting) are retried
// for a few seconds.
func removeCgroupRoot(root string) error {
	if root == "" || !strings.HasPrefix(root, cgroupRootPrefix) {
		return fmt.Errorf("refusing to remove cgroup root %q", root)
	}
	mps, err := cgroupMountpoints()
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mps {
		if err := rmCgroupTree(filepath.Join(mp, root)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func rmCgroupTree(top string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var dirs []string
		err := filepath.WalkDir(top, func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if errors.Is(err, iofs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		slices.Reverse(dirs)
		var last error
		for _, d := range dirs {
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				last = fmt.Errorf("rmdir %s: %w", d, err)
			}
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			// What is left is not podd's to clean: the podd was stopped with its pods running
			// (as a podd restart leaves them), and the harness removed their containers, not the
			// pods' own processes that podd starts outside containerd (a shared process
			// namespace's pid init, a logger: podd-logger). Those are ended here; anything else
			// left is an error (and killed too, so that the next tests start clean).
			helpers, others := killCgroupProcs(dirs)
			if len(helpers)+len(others) > 0 {
				last = nil
				for _, d := range dirs {
					if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
						last = fmt.Errorf("rmdir %s: %w", d, err)
					}
				}
			}
			if len(others) > 0 {
				last = errors.Join(last, fmt.Errorf("processes other than podd's pod helpers were left in %s (killed): %v", top, others))
			}
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killCgroupProcs SIGKILLs the processes of the cgroups dirs; what it found, as "pid comm":
// podd's pod helpers (podd-logger) and the others.
func killCgroupProcs(dirs []string) (helpers, others []string) {
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			name := strings.TrimSpace(string(comm))
			if name == "podd-logger" {
				helpers = append(helpers, f+" "+name)
			} else {
				others = append(others, f+" "+name)
			}
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	if len(helpers)+len(others) > 0 {
		time.Sleep(200 * time.Millisecond) // the kernel empties the cgroups as they die
	}
	return helpers, others
}

// removeStaleCgroupRoots removes the cgroup roots of test runs that are gone.
func removeStaleCgroupRoots() {
	mps, err := cgroupMountpoints()
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, mp := range mps {
		entries, _ := os.ReadDir(mp)
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), cgroupRootPrefix)
			if !ok || !e.IsDir() || seen[e.Name()] {
				continue
			}
			pid, _, _ := strings.Cut(rest, "-")
			if n, err := strconv.Atoi(pid); err == nil && (n == os.Getpid() || unix.Kill(n, 0) == nil) {
				continue // its run is alive
			}
			seen[e.Name()] = true
			if err := removeCgroupRoot(e.Name()); err != nil {
				fmt.Fprintf(os.Stderr, "integration: stale cgroup root: %v\n", err)
			}
		}
	}
}
