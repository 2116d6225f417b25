package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/cgroups"
)

// TestLogsLoggerChargedToPod (security audit, finding 9): the logger of a container that floods
// its stdout runs in the pod's cgroup (<pod>/podd-logs, in every hierarchy of the pod's), so
// that the cpu it burns is the pod's: the pod's cpu usage includes it. The pod's removal then
// removes that cgroup too.
func TestLogsLoggerChargedToPod(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	runManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: flood
    image: %s
    command: ["yes", "a line of the flood that the logger has to timestamp and write, again and again"]
`, name, busyboxImage))
	uid := getPod(t, p, name).Metadata.UID
	loggers := podLoggers(t, filepath.Join(p.Root, "logs", "default_"+name+"_"+uid)+"/")
	if len(loggers) != 1 {
		t.Fatalf("logger processes of the pod: %v, want 1", loggers)
	}
	pid := loggers[0]
	fs, err := cgroups.Load(cgroups.MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	podCgroup, leaf := cgroups.PodPath(p.CgroupRoot, uid), cgroups.LogsPath(p.CgroupRoot, uid)

	// Where the logger runs, hierarchy by hierarchy.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cpu", "cpuacct", "memory", "pids"}
	if fs.Mode == cgroups.V2 {
		want = []string{""}
	}
	in := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			in[ctrl] = parts[2]
		}
	}
	for _, ctrl := range want {
		if in[ctrl] != leaf {
			t.Errorf("logger %d is in %q in the %q hierarchy, want %s (/proc/%d/cgroup:\n%s)", pid, in[ctrl], ctrl, leaf, pid, data)
		}
	}

	// What it burns is the pod's: once it has used a second of cpu, nearly all of it (all but
	// what it used before it joined, when it started) is in the leaf's usage, and the pod's
	// usage holds the leaf's and the container's.
	var loggerCPU time.Duration
	deadline := time.Now().Add(2 * logsWait)
	for loggerCPU = processCPU(t, pid); loggerCPU < time.Second; loggerCPU = processCPU(t, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the logger used only %v of cpu in %v of flood", loggerCPU, 2*logsWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctr := getPod(t, p, name).Status.ContainerStatuses[0].ContainerID
	ctrStats, err := cgroups.ReadStats(fs, cgroups.ContainerPath(p.CgroupRoot, uid, strings.TrimPrefix(ctr, "containerd://")))
	if err != nil {
		t.Fatal(err)
	}
	leafStats, err := cgroups.ReadStats(fs, leaf)
	if err != nil {
		t.Fatal(err)
	}
	podStats, err := cgroups.ReadStats(fs, podCgroup)
	if err != nil {
		t.Fatal(err)
	}
	leafCPU, ctrCPU, podCPU := time.Duration(leafStats.CPUUsageNanos), time.Duration(ctrStats.CPUUsageNanos), time.Duration(podStats.CPUUsageNanos)
	t.Logf("cpu: logger process %v, logs cgroup %v, container %v, pod %v", loggerCPU, leafCPU, ctrCPU, podCPU)
	if leafCPU < loggerCPU-200*time.Millisecond {
		t.Errorf("the logs cgroup used %v of cpu, the logger %v: the logger's cpu is not the pod's", leafCPU, loggerCPU)
	}
	if podCPU < leafCPU+ctrCPU {
		t.Errorf("the pod's cpu usage %v is less than its container's %v and its logger's %v", podCPU, ctrCPU, leafCPU)
	}

	mustPodctl(t, p, "rm", "--force", name)
	if ok, err := cgroups.PodExists(fs, p.CgroupRoot, uid); ok || err != nil {
		t.Errorf("after podctl rm: the pod's cgroup exists %v (%v)", ok, err)
	}
}

// podLoggers lists the PIDs of the loggers (podd-logger processes) that write into podLogDir.
func podLoggers(t *testing.T, podLogDir string) []int {
	t.Helper()
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) != 3 || args[1] != "logger" || filepath.Base(args[0]) != "podd-logger" {
			continue
		}
		var cfg struct{ Path string }
		if json.Unmarshal([]byte(args[2]), &cfg) == nil && strings.HasPrefix(cfg.Path, podLogDir) {
			out = append(out, pid)
		}
	}
	return out
}

// processCPU is the user and system cpu time the process has used (/proc/<pid>/stat, in the
// kernel's USER_HZ ticks of 10 ms).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("the logger %d: %v", pid, err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
