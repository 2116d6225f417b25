package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// thisVM is the cgroup part of this project's VM's mountinfo: v1 controllers, each in its own
// hierarchy, and an empty cgroup2 tree at /sys/fs/cgroup/unified.
const thisVM = `22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// debianHybrid is a systemd host in hybrid mode with co-mounted controllers and optional fields.
const debianHybrid = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
29 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
30 29 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
31 29 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
34 29 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
35 29 0:32 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
36 29 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
`

const pureV1 = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,release_agent=/sbin/x,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
`

const pureV2 = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

// v2WithNamedV1 is a v2 host that also mounts a named v1 hierarchy for old container images.
const v2WithNamedV1 = pureV2 + `40 26 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
`

// inContainer is what a process in a container without a cgroup namespace may see: the host's
// hierarchy bind-mounted from its own cgroup, and a second mount of the whole hierarchy.
const inContainer = `900 800 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
901 800 0:29 / /host/memory rw - cgroup cgroup rw,memory
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetectMode(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		want      Mode
	}{
		{"this VM: v1 controllers and an empty unified tree", thisVM, Hybrid},
		{"systemd hybrid with co-mounted controllers", debianHybrid, Hybrid},
		{"v1 only", pureV1, V1},
		{"v2 only", pureV2, V2},
		{"v2 with a named v1 hierarchy", v2WithNamedV1, V2},
		{"v1 seen from a container", inContainer, V1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectMode(writeFile(t, "mountinfo", tt.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DetectMode = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDetectModeErrors(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		is        func(error) bool
	}{
		{"no cgroups", "22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw\n", errdefs.IsNotFound},
		{"empty", "", errdefs.IsNotFound},
		{"only a named hierarchy", "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n", errdefs.IsNotFound},
		{"no separator", "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime cgroup cgroup rw,cpu\n", func(err error) bool { return err != nil }},
		{"truncated", "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup\n", func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DetectMode(writeFile(t, "mountinfo", tt.mountinfo))
			if err == nil || !tt.is(err) {
				t.Errorf("DetectMode: err = %v", err)
			}
		})
	}
	if _, err := DetectMode(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("DetectMode of a missing file: no error")
	}
}

func TestDetectModeLiveHost(t *testing.T) {
	if _, err := os.Stat(MountinfoPath); err != nil {
		t.Skip("no mountinfo on this host")
	}
	mode, err := DetectMode(MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this host: %s", mode)
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		want      []Hierarchy
	}{
		{
			name:      "co-mounted controllers and flags among the options",
			mountinfo: debianHybrid,
			want: []Hierarchy{
				{Mountpoint: "/sys/fs/cgroup/unified", Root: "/", Unified: true},
				{Mountpoint: "/sys/fs/cgroup/systemd", Root: "/", Controllers: []string{"name=systemd"}},
				{Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/", Controllers: []string{"cpu", "cpuacct"}},
				{Mountpoint: "/sys/fs/cgroup/net_cls,net_prio", Root: "/", Controllers: []string{"net_cls", "net_prio"}},
				{Mountpoint: "/sys/fs/cgroup/memory", Root: "/", Controllers: []string{"memory"}},
			},
		},
		{
			name:      "release_agent is not a controller",
			mountinfo: "36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,release_agent=/sbin/x,devices\n",
			want:      []Hierarchy{{Mountpoint: "/sys/fs/cgroup/devices", Root: "/", Controllers: []string{"devices"}}},
		},
		{
			name:      "one hierarchy mounted twice: the whole-tree view wins",
			mountinfo: inContainer,
			want:      []Hierarchy{{Mountpoint: "/host/memory", Root: "/", Controllers: []string{"memory"}}},
		},
		{
			name:      "escaped mount point",
			mountinfo: `41 31 0:38 / /tmp/my\040cgroups\134x rw - cgroup2 cgroup2 rw` + "\n",
			want:      []Hierarchy{{Mountpoint: `/tmp/my cgroups\x`, Root: "/", Unified: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := Load(writeFile(t, "mountinfo", tt.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(fs.Hierarchies, tt.want, equalHierarchy) {
				t.Errorf("Hierarchies =\n%+v\nwant\n%+v", fs.Hierarchies, tt.want)
			}
		})
	}
}

func equalHierarchy(a, b Hierarchy) bool {
	return a.Mountpoint == b.Mountpoint && a.Root == b.Root && a.Unified == b.Unified &&
		slices.Equal(a.Controllers, b.Controllers)
}

func TestPaths(t *testing.T) {
	tests := []struct {
		parent, uid, ctr string
		pod, container   string
	}{
		{"podd", "1234-abcd", "c1", "/podd/pod1234-abcd", "/podd/pod1234-abcd/c1"},
		{DefaultParent, "u", "0123456789abcdef", "/podd/podu", "/podd/podu/0123456789abcdef"},
		{"/podd/", "u", "c", "/podd/podu", "/podd/podu/c"},
		{"system.slice/podd", "u", "c", "/system.slice/podd/podu", "/system.slice/podd/podu/c"},
		{"", "u", "c", "/podu", "/podu/c"},
	}
	for _, tt := range tests {
		if got := PodPath(tt.parent, tt.uid); got != tt.pod {
			t.Errorf("PodPath(%q, %q) = %q, want %q", tt.parent, tt.uid, got, tt.pod)
		}
		if got := ContainerPath(tt.parent, tt.uid, tt.ctr); got != tt.container {
			t.Errorf("ContainerPath(%q, %q, %q) = %q, want %q", tt.parent, tt.uid, tt.ctr, got, tt.container)
		}
	}
}

func TestHierarchyDir(t *testing.T) {
	tests := []struct {
		name   string
		h      Hierarchy
		cgroup string
		want   string
	}{
		{"whole tree", Hierarchy{Mountpoint: "/sys/fs/cgroup/memory", Root: "/"}, "/podd/podu", "/sys/fs/cgroup/memory/podd/podu"},
		{"sub-tree that holds it", Hierarchy{Mountpoint: "/m", Root: "/podd"}, "/podd/podu", "/m/podu"},
		{"sub-tree that is it", Hierarchy{Mountpoint: "/m", Root: "/podd/podu"}, "/podd/podu", "/m"},
		{"sub-tree elsewhere", Hierarchy{Mountpoint: "/m", Root: "/docker/abc"}, "/podd/podu", ""},
		{"prefix is not a parent", Hierarchy{Mountpoint: "/m", Root: "/pod"}, "/podd/podu", ""},
	}
	for _, tt := range tests {
		if got := tt.h.dir(tt.cgroup); got != tt.want {
			t.Errorf("%s: dir(%q) = %q, want %q", tt.name, tt.cgroup, got, tt.want)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{V1: "v1", Hybrid: "hybrid", V2: "v2", 0: "Mode(0)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
	if !strings.Contains(Mode(7).String(), "7") {
		t.Error("unknown mode does not show its number")
	}
}
