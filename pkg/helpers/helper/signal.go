package helper

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The application's processes, for the helpers that signal them (content-sync after a sync, the
// elector at a loss of the lead): in a pod with shareProcessNamespace: true a sidecar sees them.

// ParseSignal reads --signal: a name (HUP, SIGHUP, usr1) or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("--signal: %q is not a signal (HUP, USR1, TERM… or a number)", s)
}

// FindProcesses returns the PIDs (but self) under procDir whose name is name: the kernel's comm
// (the executable's or script's file name, cut to 15 bytes) or the base name of argv[0].
func FindProcesses(procDir, name string) ([]int, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	comm := name
	if len(comm) > 15 {
		comm = comm[:15]
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if c, err := os.ReadFile(filepath.Join(procDir, e.Name(), "comm")); err == nil && strings.TrimSuffix(string(c), "\n") == comm {
			pids = append(pids, pid)
			continue
		}
		if cl, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline")); err == nil && len(cl) > 0 {
			argv0, _, _ := bytes.Cut(cl, []byte{0})
			if filepath.Base(string(argv0)) == name {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// SignalProcesses sends sig to every process named name; none found is an error (the main
// container is not running, or the pod does not share its process namespace).
func SignalProcesses(name string, sig syscall.Signal) ([]int, error) {
	pids, err := FindProcesses("/proc", name)
	if err != nil {
		return nil, err
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("--signal-process: no process named %q (does the pod have shareProcessNamespace: true?)", name)
	}
	var errs []string
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			errs = append(errs, fmt.Sprintf("pid %d: %v", pid, err))
		}
	}
	if len(errs) > 0 {
		return pids, fmt.Errorf("signal %v: %s", sig, strings.Join(errs, "; "))
	}
	return pids, nil
}
