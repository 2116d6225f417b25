package cgroups

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// PodLimits are what a pod cgroup carries: the sums of its containers' requests and limits and a
// pids limit. A zero limit means none.
type PodLimits struct {
	CPUShares   uint64 // v1 cpu.shares; v2 gets the equivalent cpu.weight
	CPUQuota    int64  // µs per CPUPeriod; 0: unlimited
	CPUPeriod   uint64 // 0: CPUPeriod
	MemoryLimit int64  // bytes; 0: unlimited
	PidsLimit   int64  // 0: unlimited
}

// podControllers are the controllers a pod cgroup sets values in; on v1 the pod's cgroup is
// created in cpuacct's hierarchy too (where it is mounted apart from cpu), for its stats.
var podControllers = []string{"cpu", "memory", "pids"}

// SetupPod creates the pod's cgroup, /<parent>/pod<uid>, in the cpu, memory and pids hierarchies
// (v1) or in the unified tree (v2), and writes its limits. It is idempotent: a second call writes
// the same values. runc later creates the containers' cgroups beneath it, in every hierarchy.
func SetupPod(fs FS, parent, podUID string, l PodLimits) error {
	if err := validPodUID(podUID); err != nil {
		return err
	}
	if l.CPUPeriod == 0 {
		l.CPUPeriod = CPUPeriod
	}
	cgroup := PodPath(parent, podUID)
	if fs.Mode == V2 {
		return setupPodV2(fs, cgroup, l)
	}
	for _, ctrl := range append(podControllers, "cpuacct") {
		h, ok := fs.controller(ctrl)
		if !ok {
			if ctrl == "pids" && l.PidsLimit <= 0 || ctrl == "cpuacct" {
				continue
			}
			return fmt.Errorf("cgroup controller %s is not mounted: %w", ctrl, errdefs.ErrFailedPrecondition)
		}
		dir := h.dir(cgroup)
		if dir == "" {
			return fmt.Errorf("cgroup %s is outside the %s hierarchy mounted at %s: %w", cgroup, ctrl, h.Mountpoint, errdefs.ErrFailedPrecondition)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create pod cgroup: %w", err)
		}
		var files [][2]string
		switch ctrl {
		case "cpu":
			quota := int64(-1)
			if l.CPUQuota > 0 {
				quota = l.CPUQuota
			}
			files = [][2]string{
				{"cpu.shares", strconv.FormatUint(max(l.CPUShares, MinShares), 10)},
				{"cpu.cfs_period_us", strconv.FormatUint(l.CPUPeriod, 10)},
				{"cpu.cfs_quota_us", strconv.FormatInt(quota, 10)},
			}
		case "memory":
			files = [][2]string{{"memory.limit_in_bytes", limitOrUnlimited(l.MemoryLimit, "-1")}}
		case "pids":
			files = [][2]string{{"pids.max", limitOrUnlimited(l.PidsLimit, "max")}}
		}
		if err := writeFiles(dir, files); err != nil {
			return err
		}
	}
	return nil
}

func setupPodV2(fs FS, cgroup string, l PodLimits) error {
	dir, err := makeV2(fs, cgroup)
	if err != nil {
		return err
	}
	cpuMax := "max"
	if l.CPUQuota > 0 {
		cpuMax = strconv.FormatInt(l.CPUQuota, 10)
	}
	return writeFiles(dir, [][2]string{
		{"cpu.weight", strconv.FormatUint(SharesToWeight(max(l.CPUShares, MinShares)), 10)},
		{"cpu.max", cpuMax + " " + strconv.FormatUint(l.CPUPeriod, 10)},
		{"memory.max", limitOrUnlimited(l.MemoryLimit, "max")},
		{"pids.max", limitOrUnlimited(l.PidsLimit, "max")},
	})
}

// makeV2 creates cgroup in the cgroup2 tree, each ancestor enabling podd's controllers for its
// children on the way (a controller works in a cgroup only when every ancestor enables it), and
// returns its folder.
func makeV2(fs FS, cgroup string) (string, error) {
	h, ok := fs.unified()
	if !ok {
		return "", fmt.Errorf("no cgroup2 hierarchy: %w", errdefs.ErrFailedPrecondition)
	}
	dir := h.dir(cgroup)
	if dir == "" {
		return "", fmt.Errorf("cgroup %s is outside the cgroup2 tree mounted at %s: %w", cgroup, h.Mountpoint, errdefs.ErrFailedPrecondition)
	}
	root := h.dir("/")
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return "", fmt.Errorf("cgroup %s: %w", cgroup, err)
	}
	cur := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if err := enableControllers(cur, podControllers); err != nil {
			return "", err
		}
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, iofs.ErrExist) {
			return "", fmt.Errorf("create cgroup %s: %w", cgroup, err)
		}
	}
	return dir, nil
}

// enableControllers writes +ctrl to dir's cgroup.subtree_control for those of want that dir has
// (cgroup.controllers) and has not enabled yet.
func enableControllers(dir string, want []string) error {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	enabled, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	have := strings.Fields(string(enabled))
	var add []string
	for _, c := range want {
		if contains(strings.Fields(string(avail)), c) && !contains(have, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0o644); err != nil {
		return fmt.Errorf("enable cgroup controllers %v in %s: %w", add, dir, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func limitOrUnlimited(v int64, unlimited string) string {
	if v <= 0 {
		return unlimited
	}
	return strconv.FormatInt(v, 10)
}

func writeFiles(dir string, files [][2]string) error {
	for _, f := range files {
		p := filepath.Join(dir, f[0])
		if err := os.WriteFile(p, []byte(f[1]), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// controller is the v1 hierarchy that carries ctrl.
func (fs FS) controller(ctrl string) (Hierarchy, bool) {
	for _, h := range fs.Hierarchies {
		if !h.Unified && contains(h.Controllers, ctrl) {
			return h, true
		}
	}
	return Hierarchy{}, false
}

func (fs FS) unified() (Hierarchy, bool) {
	for _, h := range fs.Hierarchies {
		if h.Unified {
			return h, true
		}
	}
	return Hierarchy{}, false
}

// dirFor is where cgroup lives for controller ctrl: its v1 hierarchy, or the unified tree on v2.
func (fs FS) dirFor(ctrl, cgroup string) (string, error) {
	var (
		h  Hierarchy
		ok bool
	)
	if fs.Mode == V2 {
		h, ok = fs.unified()
	} else {
		h, ok = fs.controller(ctrl)
	}
	if !ok {
		return "", fmt.Errorf("cgroup controller %s is not mounted: %w", ctrl, errdefs.ErrNotFound)
	}
	dir := h.dir(cgroup)
	if dir == "" {
		return "", fmt.Errorf("cgroup %s is not visible in %s: %w", path.Clean(cgroup), h.Mountpoint, errdefs.ErrNotFound)
	}
	return dir, nil
}

// SetupParent creates the parent of the pods' cgroups (--cgroup-root) and sets its pids limit,
// which bounds the processes of all pods together (0 or less: none). Each pod's own pids limit
// bounds one pod; this one keeps many pods from taking the host's every pid between them.
func SetupParent(fs FS, parent string, pidsLimit int64) error {
	cgroup := "/" + strings.Trim(parent, "/")
	if fs.Mode == V2 {
		dir, err := makeV2(fs, cgroup)
		if err != nil {
			return err
		}
		return writeFiles(dir, [][2]string{{"pids.max", limitOrUnlimited(pidsLimit, "max")}})
	}
	h, ok := fs.controller("pids")
	if !ok {
		if pidsLimit <= 0 {
			return nil
		}
		return fmt.Errorf("cgroup controller pids is not mounted: %w", errdefs.ErrFailedPrecondition)
	}
	dir := h.dir(cgroup)
	if dir == "" {
		return fmt.Errorf("cgroup %s is outside the pids hierarchy mounted at %s: %w", cgroup, h.Mountpoint, errdefs.ErrFailedPrecondition)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", cgroup, err)
	}
	return writeFiles(dir, [][2]string{{"pids.max", limitOrUnlimited(pidsLimit, "max")}})
}

// DefaultPidsLimit is the pids limit of all pods together when none is given: half of the
// kernel's pid_max, so that the host keeps the other half whatever the pods do.
func DefaultPidsLimit(pidMax int64) int64 {
	return max(pidMax/2, 1)
}

// PidMax reads the kernel's pid_max.
func PidMax() (int64, error) {
	data, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// LogsLeaf is the cgroup, beside the containers' cgroups of a pod, that the loggers of the pod's
// containers join (see SetupLogs). Container cgroups are named by 64-hex container IDs, so the
// name cannot collide with one.
const LogsLeaf = "podd-logs"

// LogsPath is the cgroup of a pod's container loggers: /<parent>/pod<uid>/podd-logs.
func LogsPath(parent, podUID string) string {
	return path.Join(PodPath(parent, podUID), LogsLeaf)
}

// SetupLogs creates the pod's logs cgroup in every hierarchy where SetupPod made the pod's cgroup
// (cpu, cpuacct, memory and pids on v1; the unified tree on v2) and returns their cgroup.procs
// files, for each logger to write its PID into. The loggers then count in the pod's cpu, memory
// and pids accounting and under its limits; the leaf has no limits of its own. The pod's cgroup
// must exist: a missing one is an error, never created here without its limits. Idempotent.
func SetupLogs(fs FS, parent, podUID string) ([]string, error) {
	if err := validPodUID(podUID); err != nil {
		return nil, err
	}
	pod, leaf := PodPath(parent, podUID), LogsPath(parent, podUID)
	if fs.Mode == V2 {
		h, ok := fs.unified()
		if !ok {
			return nil, fmt.Errorf("no cgroup2 hierarchy: %w", errdefs.ErrFailedPrecondition)
		}
		if dir := h.dir(pod); dir == "" || !isDir(dir) {
			return nil, fmt.Errorf("pod cgroup %s does not exist: %w", pod, errdefs.ErrFailedPrecondition)
		}
		dir, err := makeV2(fs, leaf)
		if err != nil {
			return nil, err
		}
		return []string{filepath.Join(dir, "cgroup.procs")}, nil
	}
	var procs []string
	for _, ctrl := range append(podControllers, "cpuacct") {
		h, ok := fs.controller(ctrl)
		if !ok {
			continue // SetupPod made no pod cgroup there either
		}
		dir, podDir := h.dir(leaf), h.dir(pod)
		if dir == "" || slices.Contains(procs, filepath.Join(dir, "cgroup.procs")) {
			continue // cpu and cpuacct mounted together
		}
		if !isDir(podDir) {
			return nil, fmt.Errorf("pod cgroup %s does not exist in the %s hierarchy: %w", pod, ctrl, errdefs.ErrFailedPrecondition)
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, iofs.ErrExist) {
			return nil, fmt.Errorf("create cgroup %s: %w", leaf, err)
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	return procs, nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// PodInitCgroup is the leaf cgroup under a pod's where podd puts the pod's own processes (the
// PID 1 of a shared PID namespace): a leaf, since cgroup v2 allows no process in a cgroup whose
// controllers are enabled for its children.
func PodInitCgroup(parent, podUID string) string {
	return path.Join(PodPath(parent, podUID), "pidinit")
}

// AddPodProcess moves pid into the pod's PodInitCgroup, in every hierarchy where the pod's
// cgroup is (SetupPod made it), so that the pod's limits and accounting count it.
func AddPodProcess(fs FS, parent, podUID string, pid int) error {
	if err := validPodUID(podUID); err != nil {
		return err
	}
	cgroup := PodInitCgroup(parent, podUID)
	var dirs []string
	if fs.Mode == V2 {
		dir, err := makeV2(fs, cgroup)
		if err != nil {
			return err
		}
		dirs = append(dirs, dir)
	} else {
		for _, ctrl := range append(podControllers, "cpuacct") {
			h, ok := fs.controller(ctrl)
			if !ok || h.dir(cgroup) == "" {
				continue
			}
			dir := h.dir(cgroup)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create cgroup %s: %w", dir, err)
			}
			dirs = append(dirs, dir)
		}
	}
	for _, dir := range dirs {
		if err := writeFiles(dir, [][2]string{{"cgroup.procs", strconv.Itoa(pid)}}); err != nil {
			return err
		}
	}
	return nil
}
