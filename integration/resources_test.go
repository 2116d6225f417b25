package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// startPoddWithMetrics starts a podd of the test's own that serves /metrics on a free loopback
// port, and returns it with the metrics URL.
func startPoddWithMetrics(t *testing.T, flags ...string) (*Podd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startPoddWith(t, append([]string{"--metrics-address", addr}, flags...)...)
	return p, "http://" + addr + "/metrics"
}

// containerPid is the host PID of a running container's main process, from containerd.
func containerPid(t *testing.T, p *Podd, got *pod.Pod, container string) (id string, pid uint32) {
	t.Helper()
	for _, s := range got.Status.ContainerStatuses {
		if s.Name != container {
			continue
		}
		id = strings.TrimPrefix(s.ContainerID, "containerd://")
		c, err := containerdClient(t).LoadContainer(p.Context(), id)
		if err != nil {
			t.Fatalf("load container %s: %v", container, err)
		}
		task, err := c.Task(p.Context(), nil)
		if err != nil {
			t.Fatalf("task of %s: %v", container, err)
		}
		return id, task.Pid()
	}
	t.Fatalf("pod %s has no container %s", got.Metadata.Name, container)
	return "", 0
}

func execIn(t *testing.T, p *Podd, name, container string, cmd ...string) string {
	t.Helper()
	return strings.TrimSpace(mustPodctl(t, p, append([]string{"exec", name, "-c", container, "--"}, cmd...)...).Stdout)
}

// catIn reads a file in a container; a failure is reported with what the folder holds.
func catIn(t *testing.T, p *Podd, name, container, file string) string {
	t.Helper()
	res := p.Podctl(t, "exec", name, "-c", container, "--", "cat", file)
	if res.ExitCode != 0 {
		ls := p.Podctl(t, "exec", name, "-c", container, "--", "ls", "-la", filepath.Dir(file), "/sys/fs/cgroup")
		t.Errorf("%s: cat %s: %s\nthe folder:\n%s", container, file, res, ls.Stdout)
	}
	return strings.TrimSpace(res.Stdout)
}

// cgroupLine is the path of the process's cgroup in the v1 hierarchy of ctrl (or the v2 tree).
func cgroupLine(t *testing.T, pid uint32, ctrl string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == ctrl {
				return f[2]
			}
		}
		if f[0] == "0" && f[1] == "" && cgroupMode(t) == cgroups.V2 {
			return f[2]
		}
	}
	t.Fatalf("/proc/%d/cgroup has no %s line:\n%s", pid, ctrl, data)
	return ""
}

func cgroupMode(t *testing.T) cgroups.Mode {
	t.Helper()
	m, err := cgroups.DetectMode(cgroups.MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hostCgroupFile reads a control file of a cgroup on the host (v1: in ctrl's hierarchy).
func hostCgroupFile(t *testing.T, ctrl, cgroup, file string) string {
	t.Helper()
	base := "/sys/fs/cgroup"
	if cgroupMode(t) != cgroups.V2 {
		base = filepath.Join(base, ctrl)
	}
	data, err := os.ReadFile(filepath.Join(base, cgroup, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestResourcesCgroups: the containers' cgroup files show their limits from the inside; both
// containers of the pod sit under one pod cgroup that carries the pod's sums and the default pids
// limit; QoS class, oom_score_adj, describe, top and the pod's network counters.
func TestResourcesCgroups(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: a
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    resources:
      limits: {cpu: 500m, memory: 64Mi}
  - name: b
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    resources:
      limits: {cpu: 250m, memory: 32Mi}
      requests: {cpu: 100m, memory: 16Mi}
`, name, busyboxImage, untilTerm))
	got := getPod(t, p, name)
	if got.Status.QOSClass != pod.QOSBurstable {
		t.Errorf("qosClass %q, want Burstable (b's requests are below its limits)", got.Status.QOSClass)
	}

	// From the inside: runc mounts the container's own cgroups at /sys/fs/cgroup.
	v2 := cgroupMode(t) == cgroups.V2
	if v2 {
		if got := execIn(t, p, name, "a", "cat", "/sys/fs/cgroup/cpu.max"); got != "50000 100000" {
			t.Errorf("a: cpu.max %q, want 50000 100000", got)
		}
		if got := execIn(t, p, name, "a", "cat", "/sys/fs/cgroup/memory.max"); got != "67108864" {
			t.Errorf("a: memory.max %q, want 67108864", got)
		}
	} else {
		for file, want := range map[string]string{
			"/sys/fs/cgroup/cpu/cpu.cfs_quota_us":         "50000",
			"/sys/fs/cgroup/cpu/cpu.cfs_period_us":        "100000",
			"/sys/fs/cgroup/cpu/cpu.shares":               "512",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864",
		} {
			if got := catIn(t, p, name, "a", file); got != want {
				t.Errorf("a: %s = %q, want %q", file, got, want)
			}
		}
		for file, want := range map[string]string{
			"/sys/fs/cgroup/cpu/cpu.cfs_quota_us":         "25000",
			"/sys/fs/cgroup/cpu/cpu.shares":               "102",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "33554432",
		} {
			if got := catIn(t, p, name, "b", file); got != want {
				t.Errorf("b: %s = %q, want %q", file, got, want)
			}
		}
	}

	// From the host: both containers under /<root>/pod<uid>.
	podCgroup := "/" + p.CgroupRoot + "/pod" + got.Metadata.UID
	idA, pidA := containerPid(t, p, got, "a")
	idB, pidB := containerPid(t, p, got, "b")
	for _, c := range []struct {
		id  string
		pid uint32
	}{{idA, pidA}, {idB, pidB}} {
		for _, ctrl := range []string{"memory", "cpu", "pids"} {
			if cg := cgroupLine(t, c.pid, ctrl); cg != podCgroup+"/"+c.id {
				t.Errorf("pid %d: %s cgroup %s, want %s/%s", c.pid, ctrl, cg, podCgroup, c.id)
			}
		}
	}
	t.Logf("containers a (pid %d) and b (pid %d) in %s", pidA, pidB, podCgroup)
	// The pod cgroup carries the sums (every container has limits) and podd's default pids limit.
	if v2 {
		if got := hostCgroupFile(t, "", podCgroup, "memory.max"); got != strconv.Itoa(96<<20) {
			t.Errorf("pod memory.max %q", got)
		}
		if got := hostCgroupFile(t, "", podCgroup, "cpu.max"); got != "75000 100000" {
			t.Errorf("pod cpu.max %q", got)
		}
	} else {
		if got := hostCgroupFile(t, "memory", podCgroup, "memory.limit_in_bytes"); got != strconv.Itoa(96<<20) {
			t.Errorf("pod memory.limit_in_bytes %q, want %d", got, 96<<20)
		}
		if got := hostCgroupFile(t, "cpu", podCgroup, "cpu.cfs_quota_us"); got != "75000" {
			t.Errorf("pod cpu.cfs_quota_us %q, want 75000", got)
		}
		if got := hostCgroupFile(t, "cpu", podCgroup, "cpu.shares"); got != "614" {
			t.Errorf("pod cpu.shares %q, want 614 (600m of requests)", got)
		}
	}
	if got := hostCgroupFile(t, "pids", podCgroup, "pids.max"); got != strconv.FormatInt(cgroups.DefaultPodPidsLimit, 10) {
		t.Errorf("pod pids.max %q, want the default %d", got, cgroups.DefaultPodPidsLimit)
	}
	// oom_score_adj by QoS: Burstable, 1000 - 1000*request/machine memory.
	for _, pid := range []uint32{pidA, pidB} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
		if err != nil {
			t.Fatal(err)
		}
		adj, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if adj < 2 || adj > 999 {
			t.Errorf("pid %d: oom_score_adj %d, want a Burstable value in [2, 999]", pid, adj)
		}
	}

	desc := mustPodctl(t, p, "describe", name).Stdout
	for _, want := range []string{"QoS Class:", "Burstable", "Limits:", "cpu:", "500m", "memory:", "64Mi", "Requests:", "100m"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}

	top := mustPodctl(t, p, "top", name).Stdout
	if !strings.Contains(top, strconv.Itoa(int(pidA))) || !strings.Contains(top, "sleep 1000") || !strings.Contains(top, "root") {
		t.Errorf("top lacks a's pid %d, its sleep or its user:\n%s", pidA, top)
	}
	t.Logf("podctl top:\n%s", top)

	// Loopback traffic in the pod shows in its network counters.
	execIn(t, p, name, "a", "sh", "-c", "httpd -p 127.0.0.1:8081 -h /etc && wget -qO- http://127.0.0.1:8081/hostname")
	st := podStats(t, p, name)
	var lo *pod.InterfaceStats
	if st.Network != nil {
		for i := range st.Network.Interfaces {
			if st.Network.Interfaces[i].Name == "lo" {
				lo = &st.Network.Interfaces[i]
			}
		}
	}
	if lo == nil || lo.RxBytes == nil || *lo.RxBytes == 0 || lo.TxBytes == nil || *lo.TxBytes == 0 {
		t.Errorf("no loopback traffic in the pod's network stats: %+v", st.Network)
	} else {
		t.Logf("pod network: lo rx %d tx %d bytes", *lo.RxBytes, *lo.TxBytes)
	}
	if len(st.Containers) != 2 || st.Containers[0].Memory == nil || st.Containers[0].Memory.LimitBytes == nil || *st.Containers[0].Memory.LimitBytes != 64<<20 {
		t.Errorf("stats of the containers: %+v", st.Containers)
	}
	// --watch prints the table again every interval, until interrupted.
	if res, done := podctlWithin(t, p, 3*time.Second, "stats", name, "--watch", "--interval", "500ms"); done || strings.Count(res.Stdout, "CONTAINER") < 2 {
		t.Errorf("podctl stats --watch (ended by itself: %v) printed:\n%s", done, res)
	}
	table := mustPodctl(t, p, "stats").Stdout
	t.Logf("podctl stats:\n%s", table)
	if !strings.Contains(table, name) || !strings.Contains(table, "(pod)") || !strings.Contains(table, "500m") {
		t.Errorf("podctl stats table:\n%s", table)
	}

	// Removal takes the pod cgroup with it.
	removePod(t, p, "default", name)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", podCgroup)); v2 == false && !os.IsNotExist(err) {
		t.Errorf("pod cgroup still there after rm: %v", err)
	}
}

func podStats(t *testing.T, p *Podd, name string) *pod.PodStats {
	t.Helper()
	res := mustPodctl(t, p, "stats", name, "-o", "json")
	var st pod.PodStats
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		t.Fatalf("decode podctl stats -o json: %v\n%s", err, res.Stdout)
	}
	return &st
}

func containerStats(t *testing.T, st *pod.PodStats, name string) *pod.ContainerStats {
	t.Helper()
	for i := range st.Containers {
		if st.Containers[i].Name == name {
			return &st.Containers[i]
		}
	}
	t.Fatalf("stats of pod %s have no container %s: %+v", st.PodRef.Name, name, st.Containers)
	return nil
}

// scrape reads one metric's value for a container (labels pod and container) from /metrics.
func scrape(t *testing.T, url, metric, podName, container string) (float64, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	f := families[metric]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["pod"] != podName || labels["container"] != container {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func mustScrape(t *testing.T, url, metric, podName, container string) float64 {
	t.Helper()
	v, ok := scrape(t, url, metric, podName, container)
	if !ok {
		t.Fatalf("/metrics has no %s{pod=%q,container=%q}", metric, podName, container)
	}
	return v
}

// within tells whether got is want ± tolerance (a fraction of want).
func within(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*want
}

// TestResourcesCPUAccuracy: a container spinning under a 500m limit uses 0.5 cores ± 20 %, in
// podctl stats and in /metrics, measured over the same 8 s window.
func TestResourcesCPUAccuracy(t *testing.T) {
	t.Parallel()
	p, metricsURL := startPoddWithMetrics(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: spin
    image: %[2]s
    command: ["sh", "-c", "while :; do :; done"]
    resources:
      limits: {cpu: 500m, memory: 64Mi}
`, name, busyboxImage))
	// A Guaranteed pod: oom_score_adj -997, or 0 where the host denies CAP_SYS_RESOURCE.
	got := getPod(t, p, name)
	if got.Status.QOSClass != pod.QOSGuaranteed {
		t.Errorf("qosClass %q, want Guaranteed", got.Status.QOSClass)
	}
	_, pid := containerPid(t, p, got, "spin")
	wantAdj := "-997"
	if !hasCapSysResource(t) {
		wantAdj = "0"
	}
	if adj, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid)); err != nil || strings.TrimSpace(string(adj)) != wantAdj {
		t.Errorf("oom_score_adj %q (%v), want %s", adj, err, wantAdj)
	}
	// podd's figures are held to the cgroup's own counter (cpuacct.usage, read on the host around
	// each of podd's reads), not to an expected share of a core: on a busy machine the container
	// gets less than its limit, and that is no error of podd's.
	time.Sleep(2 * time.Second) // past the start's first periods
	const window = 8 * time.Second
	c0 := cgroupCPUUsage(t, pid)
	st0 := containerStats(t, podStats(t, p, name), "spin")
	c1 := cgroupCPUUsage(t, pid)
	m0, t0 := mustScrape(t, metricsURL, "container_cpu_usage_seconds_total", name, "spin"), time.Now()
	c2 := cgroupCPUUsage(t, pid)
	time.Sleep(window)
	c3 := cgroupCPUUsage(t, pid)
	st1 := containerStats(t, podStats(t, p, name), "spin")
	c4 := cgroupCPUUsage(t, pid)
	m1, t1 := mustScrape(t, metricsURL, "container_cpu_usage_seconds_total", name, "spin"), time.Now()
	c5 := cgroupCPUUsage(t, pid)

	if st1.CPU == nil || st1.CPU.UsageNanoCores == nil || st1.CPU.UsageCoreNanoSeconds == nil || st0.CPU.UsageCoreNanoSeconds == nil {
		t.Fatalf("stats without cpu figures: %+v", st1.CPU)
	}
	// The counters: each of podd's readings lies between the cgroup's readings around it.
	between := func(what string, got, lo, hi uint64) {
		if got < lo || got > hi {
			t.Errorf("%s = %d ns, outside the cgroup's own counter around it [%d, %d]", what, got, lo, hi)
		}
	}
	between("stats usageCoreNanoSeconds (first)", *st0.CPU.UsageCoreNanoSeconds, c0, c1)
	between("stats usageCoreNanoSeconds (second)", *st1.CPU.UsageCoreNanoSeconds, c3, c4)
	// /metrics prints seconds as a float: allow its last digit.
	between("/metrics container_cpu_usage_seconds_total (first)", uint64(m0*1e9+0.5), c1-1000, c2+1000)
	between("/metrics container_cpu_usage_seconds_total (second)", uint64(m1*1e9+0.5), c4-1000, c5+1000)
	// The rate: usageNanoCores is the counter's rate over the window since podd's previous sample
	// (the first stats call), ± the rounding of a nanosecond count.
	statsCores := float64(*st1.CPU.UsageNanoCores) / 1e9
	fromCounter := float64(*st1.CPU.UsageCoreNanoSeconds-*st0.CPU.UsageCoreNanoSeconds) / st1.CPU.Time.Sub(st0.CPU.Time).Seconds() / 1e9
	cgroupCores := float64(c4-c0) / t1.Sub(t0).Seconds() / 1e9
	metricsCores := (m1 - m0) / t1.Sub(t0).Seconds()
	t.Logf("cpu under a 500m limit over %v: stats usageNanoCores %.3f cores, stats usageCoreNanoSeconds delta %.3f, /metrics rate %.3f, the cgroup's counter %.3f (load average %s)",
		window, statsCores, fromCounter, metricsCores, cgroupCores, loadAverage())
	if math.Abs(statsCores-fromCounter) > 0.001 {
		t.Errorf("usageNanoCores %.4f cores, but its counter rose at %.4f cores over the same window", statsCores, fromCounter)
	}
	// The limit holds whatever the load: the quota caps the container at 0.5 cores per period.
	for what, v := range map[string]float64{"stats usageNanoCores": statsCores, "the cgroup's counter": cgroupCores} {
		if v > 0.5*1.1 {
			t.Errorf("%s: %.3f cores, above the 500m limit", what, v)
		}
	}
	if st1.CPU.LimitNanoCores == nil || *st1.CPU.LimitNanoCores != 500_000_000 {
		t.Errorf("limitNanoCores %v, want 500000000", st1.CPU.LimitNanoCores)
	}
	// The pod's network counters (labelled pod and interface) and the memory gauges are there too.
	mustScrape(t, metricsURL, "container_network_receive_bytes_total", name, "")
	mustScrape(t, metricsURL, "container_network_transmit_bytes_total", name, "")
	if u := mustScrape(t, metricsURL, "container_memory_usage_bytes", name, "spin"); u <= 0 {
		t.Errorf("container_memory_usage_bytes %v", u)
	}
	if q := mustScrape(t, metricsURL, "container_spec_cpu_quota", name, "spin"); q != 50000 {
		t.Errorf("container_spec_cpu_quota %v, want 50000", q)
	}
	if s := mustScrape(t, metricsURL, "container_start_time_seconds", name, "spin"); s < float64(time.Now().Add(-5*time.Minute).Unix()) || s > float64(time.Now().Unix()) {
		t.Errorf("container_start_time_seconds %v", s)
	}
}

// TestResourcesMemoryWorkingSet: a container holding 40 MiB in a memory-backed emptyDir shows it
// in workingSetBytes ± 20 %, in stats and in /metrics.
func TestResourcesMemoryWorkingSet(t *testing.T) {
	t.Parallel()
	p, metricsURL := startPoddWithMetrics(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 0
  volumes:
  - name: vol
    emptyDir: {medium: Memory}
  containers:
  - name: hold
    image: %[2]s
    command: ["sh", "-c", "dd if=/dev/zero of=/vol/f bs=1M count=40 && touch /vol/done; sleep 1000"]
    volumeMounts:
    - {name: vol, mountPath: /vol}
    resources:
      limits: {memory: 128Mi}
`, name, busyboxImage))
	deadline := time.Now().Add(podWaitTimeout)
	for p.Podctl(t, "exec", name, "--", "test", "-e", "/vol/done").ExitCode != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the 40 MiB file was not written")
		}
		time.Sleep(200 * time.Millisecond)
	}
	const want = 40 << 20
	c := containerStats(t, podStats(t, p, name), "hold")
	if c.Memory == nil || c.Memory.WorkingSetBytes == nil || c.Memory.UsageBytes == nil {
		t.Fatalf("no memory figures: %+v", c.Memory)
	}
	ws := float64(*c.Memory.WorkingSetBytes)
	metricWS := mustScrape(t, metricsURL, "container_memory_working_set_bytes", name, "hold")
	t.Logf("40 MiB in a memory-backed emptyDir: stats workingSetBytes %d (%.1f MiB, %+.1f%%), usageBytes %d, rssBytes %d; /metrics container_memory_working_set_bytes %.0f (%.1f MiB)",
		*c.Memory.WorkingSetBytes, ws/(1<<20), 100*(ws-want)/want, *c.Memory.UsageBytes, derefOr(c.Memory.RSSBytes), metricWS, metricWS/(1<<20))
	if !within(ws, want, 0.2) {
		t.Errorf("workingSetBytes %d, want 40 MiB ± 20%%", *c.Memory.WorkingSetBytes)
	}
	if !within(metricWS, want, 0.2) {
		t.Errorf("container_memory_working_set_bytes %.0f, want 40 MiB ± 20%%", metricWS)
	}
	if l := mustScrape(t, metricsURL, "container_spec_memory_limit_bytes", name, "hold"); l != 128<<20 {
		t.Errorf("container_spec_memory_limit_bytes %v, want %d", l, 128<<20)
	}
}

func derefOr(v *uint64) uint64 {
	if v == nil {
		return 0
	}
	return *v
}

// TestResourcesOOM: a container whose main process exceeds its memory limit ends OOMKilled with
// exit code 137 and an OOMKilling event; one whose child is OOM-killed keeps running, with the
// kill counted in status.oomKills, an event, and the cgroup counter in /metrics. This podd sets a
// pids limit of its own.
func TestResourcesOOM(t *testing.T) {
	t.Parallel()
	p, metricsURL := startPoddWithMetrics(t, "--pod-pids-limit", "64")
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: pid1
    image: %[2]s
    command: ["sh", "-c", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=128M count=1"]
    resources:
      limits: {memory: 48Mi}
  - name: child
    image: %[2]s
    command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=128M count=1; echo survived; sleep 1000"]
    resources:
      limits: {memory: 48Mi}
`, name, busyboxImage))
	got := waitPod(t, p, name, "with pid1 terminated and child's OOM kill counted", func(got *pod.Pod) bool {
		var done, counted bool
		for _, s := range got.Status.ContainerStatuses {
			done = done || s.Name == "pid1" && s.State.Terminated != nil
			counted = counted || s.Name == "child" && s.OOMKills > 0
		}
		return done && counted
	})
	for _, s := range got.Status.ContainerStatuses {
		switch s.Name {
		case "pid1":
			term := s.State.Terminated
			if term.Reason != pod.ReasonOOMKilled || term.ExitCode != 137 {
				t.Errorf("pid1 terminated with %s (%d), want OOMKilled (137)", term.Reason, term.ExitCode)
			}
			t.Logf("pid1: terminated, reason %s, exit code %d", term.Reason, term.ExitCode)
		case "child":
			if s.State.Running == nil || s.RestartCount != 0 {
				t.Errorf("child: state %+v restarts %d, want still running", s.State, s.RestartCount)
			}
			t.Logf("child: running, oomKills %d", s.OOMKills)
		}
	}
	if log := podLogs(t, p, name, "child"); !strings.Contains(log, "survived") {
		t.Errorf("child's log %q lacks survived", log)
	}
	events := mustPodctl(t, p, "events", name).Stdout
	for _, want := range []string{"killed the main process of container pid1 (exit code 137)", "of container child; its main process survives"} {
		if !strings.Contains(events, want) || !strings.Contains(events, supervisor.EventOOMKilling) {
			t.Errorf("events lack %s %q:\n%s", supervisor.EventOOMKilling, want, events)
		}
	}
	if n := mustScrape(t, metricsURL, "container_oom_events_total", name, "child"); n < 1 {
		t.Errorf("container_oom_events_total of child %v, want ≥ 1", n)
	}
	if n := mustScrape(t, metricsURL, "podd_container_oom_kills_total", name, "child"); n < 1 {
		t.Errorf("podd_container_oom_kills_total of child %v, want ≥ 1", n)
	}
	if got := hostCgroupFile(t, "pids", "/"+p.CgroupRoot+"/pod"+got.Metadata.UID, "pids.max"); got != "64" {
		t.Errorf("pod pids.max %q, want 64 (--pod-pids-limit)", got)
	}
}

// hasCapSysResource tells whether this process (root, like podd) may lower oom_score_adj.
func hasCapSysResource(t *testing.T) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, _ := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			return caps&(1<<24) != 0
		}
	}
	return false
}

// cgroupCPUUsage reads the cpu time (ns) of the cgroup a process is in, from the host: the
// kernel's own counter, which podd's figures must agree with.
func cgroupCPUUsage(t *testing.T, pid uint32) uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case slices.Contains(strings.Split(parts[1], ","), "cpuacct"): // v1
			file = filepath.Join("/sys/fs/cgroup", parts[1], parts[2], "cpuacct.usage")
		case parts[0] == "0" && parts[1] == "" && !cgroupV1(): // v2
			return cgroupV2Usage(t, filepath.Join("/sys/fs/cgroup", parts[2], "cpu.stat"))
		default:
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("no cpu accounting cgroup for pid %d in %q", pid, data)
	return 0
}

func cgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cpu,cpuacct")
	return err == nil
}

func cgroupV2Usage(t *testing.T, path string) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseUint(rest, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n * 1000
		}
	}
	t.Fatalf("no usage_usec in %s", path)
	return 0
}

// loadAverage is /proc/loadavg's first three figures, for the logs of tests that measure.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// TestPodLevelResources: spec.resources (Kubernetes' pod-level resources) bounds the pod's cgroup
// and decides its QoS class, and a container without a limit of its own reads the pod's through
// the downward API. Before, the manifest was refused at spec.resources.
func TestPodLevelResources(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  resources:
    limits: {cpu: 500m, memory: 64Mi}
  containers:
  - name: a
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: MEM
      valueFrom: {resourceFieldRef: {resource: limits.memory}}
`, name, busyboxImage, untilTerm))
	got := getPod(t, p, name)
	if got.Status.QOSClass != pod.QOSGuaranteed {
		t.Errorf("qosClass %q, want Guaranteed (pod-level limits, requests defaulted to them)", got.Status.QOSClass)
	}
	podCgroup := "/" + p.CgroupRoot + "/pod" + got.Metadata.UID
	if cgroupMode(t) == cgroups.V2 {
		if got := hostCgroupFile(t, "", podCgroup, "memory.max"); got != strconv.Itoa(64<<20) {
			t.Errorf("pod memory.max %q, want %d", got, 64<<20)
		}
	} else {
		if got := hostCgroupFile(t, "memory", podCgroup, "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
			t.Errorf("pod memory.limit_in_bytes %q, want %d", got, 64<<20)
		}
		if got := hostCgroupFile(t, "cpu", podCgroup, "cpu.cfs_quota_us"); got != "50000" {
			t.Errorf("pod cpu.cfs_quota_us %q, want 50000", got)
		}
	}
	if got := execIn(t, p, name, "a", "sh", "-c", "echo $MEM"); got != strconv.Itoa(64<<20) {
		t.Errorf("MEM = %q, want the pod's limit %d", got, 64<<20)
	}
}
