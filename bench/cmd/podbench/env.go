package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/podd-dev/podd/internal/privcontainerd"
)

// proc is a daemon the bench started and stops.
type proc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop: SIGTERM, SIGKILL after timeout.
func (p *proc) stop(timeout time.Duration) {
	if !p.running() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

func startContainerd(dir string) (*proc, *containerd.Client, string, error) {
	address := filepath.Join(dir, "containerd.sock")
	for _, sub := range []string{"root", "state", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o711); err != nil {
			return nil, nil, "", err
		}
	}
	config := filepath.Join(dir, "config.toml")
	content := privcontainerd.Config(dir, address, "info")
	if err := os.WriteFile(config, []byte(content), 0o644); err != nil {
		return nil, nil, "", err
	}
	p, err := startProc(exec.Command("containerd", "--config", config), filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, nil, "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !p.running() {
			return nil, nil, "", fmt.Errorf("containerd exited: %v (log: %s)", p.err, p.log)
		}
		if _, err := os.Stat(address); err == nil {
			if c, err := containerd.New(address, containerd.WithTimeout(2*time.Second)); err == nil {
				if _, err := c.Version(context.Background()); err == nil {
					return p, c, address, nil
				}
				c.Close()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()
	return nil, nil, "", fmt.Errorf("containerd did not answer on %s", address)
}

// removeAll kills and deletes every task and container of every namespace of the client.
func removeAll(ctx context.Context, client *containerd.Client) error {
	nss, err := client.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := client.Containers(nctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range ctrs {
			if task, err := c.Task(nctx, nil); err == nil {
				task.Kill(nctx, syscall.SIGKILL, containerd.WithKillAll)
				if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil {
					errs = append(errs, fmt.Errorf("delete task %s: %w", c.ID(), err))
				}
			}
			if err := c.Delete(nctx, containerd.WithSnapshotCleanup); err != nil {
				errs = append(errs, fmt.Errorf("delete container %s: %w", c.ID(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Processes, from /proc.

type procInfo struct {
	pid, ppid int
	args      []string
}

func listProcs() []procInfo {
	var out []procInfo
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		out = append(out, procInfo{pid: pid, ppid: ppid, args: args})
	}
	return out
}

// shimsOf are the containerd-shim-runc-v2 processes serving the containerd at address.
func shimsOf(procs []procInfo, address string) []int {
	var pids []int
	for _, p := range procs {
		if len(p.args) == 0 || !strings.HasPrefix(filepath.Base(p.args[0]), "containerd-shim") {
			continue
		}
		for i, a := range p.args {
			if (a == "-address" || a == "--address") && i+1 < len(p.args) && p.args[i+1] == address {
				pids = append(pids, p.pid)
				break
			}
		}
	}
	return pids
}

// descendants of roots, roots included.
func descendants(procs []procInfo, roots []int) []int {
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var out []int
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

// statusKB reads a "Key: N kB" line of /proc/<pid>/status (VmRSS) or smaps_rollup (Pss).
func procKB(pid int, file, key string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line[len(key)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func memAvailableKB() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "MemAvailable:") {
			f := strings.Fields(line[len("MemAvailable:"):])
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	return 0
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// hardLimit is this process's hard limit of a resource: podman's containers get it as both limits.
func hardLimit(resource int) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(resource, &lim); err != nil {
		return 1024
	}
	return lim.Max
}

// localPort is a free TCP port of the loopback (and, being unused there, of the gateways).
func localPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
