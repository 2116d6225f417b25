// Package cgroups knows where podd's pods and containers live in the host's cgroup hierarchies,
// converts Kubernetes resources into cgroup values (convert.go), creates each pod's cgroup with
// the pod's sums (pod.go), reads stats and OOM kill counters (stats.go) and cleans up after pods.
// runc creates the containers' cgroups (podd hands it cgroupsPath values from ContainerPath, for
// runc's cgroupfs driver) beneath the pod's.
//
// It handles cgroup v1 (one hierarchy per controller, or per group of controllers), the systemd
// "hybrid" layout (v1 controllers plus an empty cgroup2 tree at /sys/fs/cgroup/unified) and cgroup
// v2. The mount points come from mountinfo rather than from fixed paths, so unit tests run over a
// fake tree in a temporary folder, and hosts that mount cpu and cpuacct together are handled too.
// It imports nothing of podd.
package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// DefaultParent is the cgroup under which podd keeps all its pods, so that podd's cgroups are
// never mistaken for anyone else's and can be listed in one read.
const DefaultParent = "podd"

// MountinfoPath is where the kernel describes the calling process's mounts.
const MountinfoPath = "/proc/self/mountinfo"

// Mode is how the host's cgroups are laid out.
type Mode int

const (
	// V1: every controller in a cgroup v1 hierarchy, no cgroup2 mount.
	V1 Mode = iota + 1
	// Hybrid: controllers in v1 hierarchies, and a cgroup2 tree that holds no controllers
	// (systemd's layout with cgroup2 at /sys/fs/cgroup/unified). Resource control is v1's.
	Hybrid
	// V2: the unified hierarchy holds the controllers.
	V2
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "v1"
	case Hybrid:
		return "hybrid"
	case V2:
		return "v2"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	// Mountpoint is where the hierarchy is mounted.
	Mountpoint string
	// Root is the cgroup that appears at Mountpoint: "/" unless the mount is a bind mount of a
	// sub-tree or was made inside a cgroup namespace.
	Root string
	// Controllers are the v1 controllers the hierarchy carries ("cpu", "cpuacct"), including
	// named hierarchies as "name=systemd". Empty for cgroup2.
	Controllers []string
	// Unified is set for a cgroup2 hierarchy.
	Unified bool
}

// FS is the host's set of cgroup hierarchies. Load fills it from mountinfo; tests fill it with
// hierarchies in a temporary folder.
type FS struct {
	Mode        Mode
	Hierarchies []Hierarchy

	// rmdir removes one cgroup directory. cgroupfs lets rmdir remove a directory full of control
	// files, which no ordinary file system does, so tests replace it.
	rmdir func(dir string) error
}

// v1Controllers are the resource controllers of cgroup v1. A mount's super options list its
// controllers among flags (rw, xattr, release_agent=...), so only these names count as
// controllers; anything else on a cgroup mount is a flag.
var v1Controllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true, "devices": true,
	"freezer": true, "net_cls": true, "net_prio": true, "blkio": true, "perf_event": true,
	"hugetlb": true, "pids": true, "rdma": true, "misc": true, "debug": true,
}

// DetectMode reads mountinfo (MountinfoPath on a live host) and tells how cgroups are laid out.
func DetectMode(mountinfoPath string) (Mode, error) {
	fs, err := Load(mountinfoPath)
	if err != nil {
		return 0, err
	}
	return fs.Mode, nil
}

// Load finds the cgroup hierarchies in mountinfo (MountinfoPath on a live host).
func Load(mountinfoPath string) (FS, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return FS{}, fmt.Errorf("read cgroup mounts: %w", err)
	}
	defer f.Close()

	var (
		fs     FS
		seen   = map[string]int{} // device → index in fs.Hierarchies
		hasV1  bool
		hasV2  bool
		lineNo int
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lineNo++
		m, ok, err := parseMountinfoLine(sc.Text())
		if err != nil {
			return FS{}, fmt.Errorf("%s line %d: %w", mountinfoPath, lineNo, err)
		}
		if !ok {
			continue
		}
		if m.h.Unified {
			hasV2 = true
		}
		for _, c := range m.h.Controllers {
			if v1Controllers[c] {
				hasV1 = true
			}
		}
		// The same hierarchy mounted twice (a bind mount, a container's view) shares one
		// device: keep one entry, the one that shows the whole tree if there is one.
		if i, dup := seen[m.device]; dup {
			if fs.Hierarchies[i].Root != "/" && m.h.Root == "/" {
				fs.Hierarchies[i] = m.h
			}
			continue
		}
		seen[m.device] = len(fs.Hierarchies)
		fs.Hierarchies = append(fs.Hierarchies, m.h)
	}
	if err := sc.Err(); err != nil {
		return FS{}, fmt.Errorf("read %s: %w", mountinfoPath, err)
	}

	switch {
	case hasV1 && hasV2:
		fs.Mode = Hybrid
	case hasV1:
		fs.Mode = V1
	case hasV2:
		// A v1 mount that only names a hierarchy (name=systemd beside a full cgroup2 tree) controls
		// nothing, so the host is v2 for podd.
		fs.Mode = V2
	default:
		return FS{}, fmt.Errorf("no cgroup controllers mounted (%s): %w", mountinfoPath, errdefs.ErrNotFound)
	}
	return fs, nil
}

type mount struct {
	device string
	h      Hierarchy
}

// parseMountinfoLine reads one line of mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// ok is false for mounts that are not cgroup hierarchies.
func parseMountinfoLine(line string) (mount, bool, error) {
	fields := strings.Fields(line)
	// The optional fields vary in number; the separator "-" marks where they end.
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if len(fields) < 6 || sep < 0 || len(fields) < sep+4 {
		return mount{}, false, fmt.Errorf("malformed mountinfo line %q", line)
	}
	fstype := fields[sep+1]
	if fstype != "cgroup" && fstype != "cgroup2" {
		return mount{}, false, nil
	}
	h := Hierarchy{
		Root:       unescapeMountinfo(fields[3]),
		Mountpoint: unescapeMountinfo(fields[4]),
		Unified:    fstype == "cgroup2",
	}
	if !h.Unified {
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if v1Controllers[opt] || strings.HasPrefix(opt, "name=") {
				h.Controllers = append(h.Controllers, opt)
			}
		}
		if len(h.Controllers) == 0 {
			return mount{}, false, nil
		}
	}
	return mount{device: fields[2], h: h}, true, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space) in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// PodPath is the cgroup of a pod: /<parent>/pod<uid>, the same shape as the kubelet's cgroupfs
// layout, so that tools that know one know the other.
func PodPath(parent, podUID string) string {
	return path.Join("/", parent, "pod"+podUID)
}

// ContainerPath is the cgroup of one container of a pod, the cgroupsPath podd gives runc.
func ContainerPath(parent, podUID, containerID string) string {
	return path.Join(PodPath(parent, podUID), containerID)
}

// dir is where the cgroup at cgroupPath lives in h, or "" when h's mount does not show it.
func (h Hierarchy) dir(cgroupPath string) string {
	root := path.Clean("/" + h.Root)
	p := path.Clean("/" + cgroupPath)
	if root != "/" {
		// Inside a cgroup namespace or a bind mount, the mount shows only the tree under Root.
		rel, ok := strings.CutPrefix(p, root+"/")
		if !ok {
			if p != root {
				return ""
			}
			rel = ""
		}
		p = "/" + rel
	}
	return filepath.Join(h.Mountpoint, filepath.FromSlash(p))
}

func (fs FS) rmdirFunc() func(string) error {
	if fs.rmdir != nil {
		return fs.rmdir
	}
	return unix.Rmdir
}
