package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pidinit"
)

// pidNS is the pod's shared PID namespace (shareProcessNamespace: true). Unlike the other
// namespaces it cannot be made empty and kept by a bind mount alone: a PID namespace takes new
// processes only while its first one lives. Its first process is pkg/pidinit, started here, in
// the pod's cgroup, and the bind mount under --state names the namespace for runc and lets a
// restarted podd find it.
var pidNS = nsKind{"pidns", "pid", unix.CLONE_NEWPID}

// pidInitFile records the host PID of the pod's PID 1, in the pod's state folder (not beside the
// namespace files, whose folder ListSandboxes reads as pod UIDs).
func (r *Host) pidInitFile(uid string) string {
	return filepath.Join(r.PodStateDir(uid), "pidinit.pid")
}

// ensurePIDNamespace starts the pod's PID 1 and names its namespace, unless a living one does.
func (r *Host) ensurePIDNamespace(uid string) error {
	if r.pidInit(uid) > 0 {
		return nil
	}
	// A namespace whose first process is gone takes no new process: start it again.
	if err := r.removePIDNamespace(uid); err != nil {
		return err
	}
	if r.cfg.PIDInit == "" {
		return fmt.Errorf("shareProcessNamespace: no binary for the pod's PID 1 (podd-logger or podd): %w", errdefs.ErrFailedPrecondition)
	}
	for _, dir := range []string{filepath.Join(r.cfg.State, pidNS.dir), r.PodStateDir(uid)} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return err
		}
	}
	cmd := exec.Command(r.cfg.PIDInit, pidinit.Arg)
	// Its own session, so that no terminal or process group of podd's reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the pod's PID 1: %w", err)
	}
	pid := cmd.Process.Pid
	// Reaped by this podd if it ends while podd runs; after a restart of podd, by init.
	go cmd.Wait()
	started := false
	defer func() {
		if !started {
			unix.Kill(pid, unix.SIGKILL)
			r.removePIDNamespace(uid)
		}
	}()
	if err := cgroups.AddPodProcess(r.cgroupFS, r.cfg.CgroupParent, uid, pid); err != nil {
		return fmt.Errorf("put the pod's PID 1 in the pod's cgroup: %w", err)
	}
	path := r.nsPath(pidNS, uid)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	if err := unix.Mount(fmt.Sprintf("/proc/%d/ns/pid", pid), path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount the pod's PID namespace on %s: %w", path, err)
	}
	if err := os.WriteFile(r.pidInitFile(uid), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("record the pod's PID 1: %w", err)
	}
	started = true
	return nil
}

// pidInit is the host PID of the pod's living PID 1, or 0: the process the PID file names, if it
// is still the first process of the namespace that the bind mount names (a PID can be reused).
func (r *Host) pidInit(uid string) int {
	b, err := os.ReadFile(r.pidInitFile(uid))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	var ns, proc unix.Stat_t
	if unix.Stat(r.nsPath(pidNS, uid), &ns) != nil || unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &proc) != nil {
		return 0
	}
	if ns.Ino != proc.Ino || ns.Dev != proc.Dev {
		return 0
	}
	// The first process of the namespace, not another of its members: its PID there is 1.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "NSpid:" {
			if f[len(f)-1] != "1" {
				return 0
			}
		}
	}
	return pid
}

// removePIDNamespace ends the pod's PID 1 (and with it, by the kernel, every process left in the
// namespace) and removes the namespace's name. Missing parts are fine.
func (r *Host) removePIDNamespace(uid string) error {
	var errs []error
	if pid := r.pidInit(uid); pid > 0 {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("end the pod's PID 1 (%d): %w", pid, err))
		}
	}
	path := r.nsPath(pidNS, uid)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", path, err))
	}
	for _, p := range []string{path, r.pidInitFile(uid)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
