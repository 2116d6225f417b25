package ctl

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

func u64(v uint64) *uint64 { return &v }

func webStats() *pod.PodStats {
	now := time.Now()
	return &pod.PodStats{
		PodRef:  pod.PodReference{Name: "web", Namespace: "default", UID: "u1"},
		CPU:     &pod.CPUStats{Time: now, UsageNanoCores: u64(503_000_000), UsageCoreNanoSeconds: u64(9e9)},
		Memory:  &pod.MemoryStats{Time: now, WorkingSetBytes: u64(42 << 20), LimitBytes: u64(64 << 20)},
		Process: &pod.ProcessStats{ProcessCount: u64(3), ProcessLimit: u64(4096)},
		Network: &pod.NetworkStats{Time: now, RxBytes: u64(1536), TxBytes: u64(100)},
		Containers: []pod.ContainerStats{{
			Name:    "app",
			CPU:     &pod.CPUStats{Time: now, UsageNanoCores: u64(499_600_000), UsageCoreNanoSeconds: u64(9e9), LimitNanoCores: u64(500_000_000)},
			Memory:  &pod.MemoryStats{Time: now, WorkingSetBytes: u64(42 << 20), UsageBytes: u64(43 << 20), RSSBytes: u64(512), LimitBytes: u64(64 << 20), OOMKills: u64(1)},
			Process: &pod.ProcessStats{ProcessCount: u64(3)},
		}},
	}
}

func TestStatsTable(t *testing.T) {
	e := newEnv(t, webPod())
	e.pods.SetStats("default", "web", webStats())
	if err := Stats(t.Context(), e.client, StatsOptions{Namespace: "default", Output: FormatTable}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"POD   CONTAINER   CPU(cores)   CPU LIMIT   MEMORY(working set)   MEMORY LIMIT   PIDS     NET RX   NET TX\n" +
		"web   (pod)       503m         -           42.0Mi                64.0Mi         3/4096   1.5Ki    100\n" +
		"web   app         500m         500m        42.0Mi                64.0Mi         3        -        -\n"
	if got := e.out.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestStatsJSONOnePod(t *testing.T) {
	e := newEnv(t, webPod())
	e.pods.SetStats("default", "web", webStats())
	if err := Stats(t.Context(), e.client, StatsOptions{Namespace: "default", Name: "web", Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	// The kubelet's stats summary field names.
	var got struct {
		Containers []struct {
			Name string `json:"name"`
			CPU  struct {
				UsageNanoCores       uint64 `json:"usageNanoCores"`
				UsageCoreNanoSeconds uint64 `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			Memory struct {
				UsageBytes      uint64 `json:"usageBytes"`
				WorkingSetBytes uint64 `json:"workingSetBytes"`
				RSSBytes        uint64 `json:"rssBytes"`
			} `json:"memory"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(e.out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, e.out)
	}
	c := got.Containers[0]
	if c.Name != "app" || c.CPU.UsageNanoCores != 499_600_000 || c.CPU.UsageCoreNanoSeconds != 9e9 || c.Memory.WorkingSetBytes != 42<<20 || c.Memory.RSSBytes != 512 || c.Memory.UsageBytes != 43<<20 {
		t.Errorf("json: %+v\n%s", got, e.out)
	}
}

func TestStatsErrors(t *testing.T) {
	e := newEnv(t, webPod())
	if err := Stats(t.Context(), e.client, StatsOptions{Namespace: "default", Name: "nope"}, e.streams("")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing pod: %v", err)
	}
	var usage *UsageError
	if err := Stats(t.Context(), e.client, StatsOptions{Name: "web", AllNamespaces: true}, e.streams("")); !errorsAs(err, &usage) {
		t.Errorf("POD with -A: %v", err)
	}
}

func TestTop(t *testing.T) {
	e := newEnv(t, webPod())
	e.pods.SetTop("default", "web", []pod.ContainerProcesses{{Name: "app", Processes: []pod.ProcessInfo{
		{PID: 4242, User: "root", CPUSeconds: 3725.5, Command: "sh -c sleep 1000"},
		{PID: 4250, User: "podd", CPUSeconds: 90061, Command: "sleep 1000"},
	}}})
	if err := Top(t.Context(), e.client, TopOptions{Namespace: "default", Name: "web", Output: FormatTable}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER   PID    USER   TIME         COMMAND\n" +
		"app         4242   root   01:02:05     sh -c sleep 1000\n" +
		"app         4250   podd   1-01:01:01   sleep 1000\n"
	if got := e.out.String(); got != want {
		t.Errorf("top:\n%s\nwant:\n%s", got, want)
	}
}
