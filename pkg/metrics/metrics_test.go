package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

type fakeSource struct {
	pods  []*pod.Pod
	snaps []supervisor.CgroupSnapshot
	err   error
	reads int
}

func (f *fakeSource) List(ctx context.Context, namespace string) ([]*pod.Pod, error) {
	return f.pods, nil
}

func (f *fakeSource) Snapshots(ctx context.Context) ([]supervisor.CgroupSnapshot, error) {
	f.reads++
	return f.snaps, f.err
}

func u64(v uint64) *uint64 { return &v }

func source() *fakeSource {
	started := time.Unix(1700000000, 0)
	web := &pod.Pod{Metadata: pod.ObjectMeta{Name: "web", Namespace: "default"}, Status: pod.PodStatus{
		Phase:             pod.PodRunning,
		ContainerStatuses: []pod.ContainerStatus{{Name: "app", RestartCount: 2, OOMKills: 1}},
	}}
	job := &pod.Pod{Metadata: pod.ObjectMeta{Name: "job", Namespace: "default"}, Status: pod.PodStatus{Phase: pod.PodSucceeded}}
	return &fakeSource{
		pods: []*pod.Pod{web, job},
		snaps: []supervisor.CgroupSnapshot{
			{Pod: web, Network: &pod.NetworkStats{Interfaces: []pod.InterfaceStats{{Name: "lo", RxBytes: u64(933), TxBytes: u64(933)}}}},
			{Pod: web, Container: "app", Stats: &pod.ContainerStats{
				Name: "app", StartTime: &started,
				CPU:     &pod.CPUStats{UsageCoreNanoSeconds: u64(2_500_000_000), LimitNanoCores: u64(500_000_000)},
				Memory:  &pod.MemoryStats{UsageBytes: u64(50 << 20), WorkingSetBytes: u64(40 << 20), RSSBytes: u64(1 << 20), LimitBytes: u64(64 << 20), OOMKills: u64(1)},
				Process: &pod.ProcessStats{ProcessCount: u64(3)},
			}},
		},
	}
}

func TestCollector(t *testing.T) {
	src := source()
	m := New(t.Context(), src, nil)
	want := `
# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in seconds.
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 2.5
# HELP container_memory_working_set_bytes Current working set in bytes (usage less inactive file cache).
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="default",pod="web"} 4.194304e+07
# HELP container_memory_usage_bytes Current memory usage in bytes, including all memory regardless of when it was accessed.
# TYPE container_memory_usage_bytes gauge
container_memory_usage_bytes{container="app",namespace="default",pod="web"} 5.24288e+07
# HELP container_spec_memory_limit_bytes Memory limit for the container in bytes; 0 without one.
# TYPE container_spec_memory_limit_bytes gauge
container_spec_memory_limit_bytes{container="app",namespace="default",pod="web"} 6.7108864e+07
# HELP container_spec_cpu_quota CPU quota of the container in µs per period; absent without a limit.
# TYPE container_spec_cpu_quota gauge
container_spec_cpu_quota{container="app",namespace="default",pod="web"} 50000
# HELP container_start_time_seconds Start time of the container since unix epoch in seconds.
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="app",namespace="default",pod="web"} 1.7e+09
# HELP container_processes Number of processes (tasks) running inside the container.
# TYPE container_processes gauge
container_processes{container="app",namespace="default",pod="web"} 3
# HELP container_network_receive_bytes_total Cumulative count of bytes received by the pod's interface.
# TYPE container_network_receive_bytes_total counter
container_network_receive_bytes_total{interface="lo",namespace="default",pod="web"} 933
# HELP podd_pods Number of pods by namespace and phase.
# TYPE podd_pods gauge
podd_pods{namespace="default",phase="Running"} 1
podd_pods{namespace="default",phase="Succeeded"} 1
# HELP podd_container_restarts_total Restarts of each container of each pod.
# TYPE podd_container_restarts_total counter
podd_container_restarts_total{container="app",namespace="default",pod="web"} 2
# HELP podd_container_oom_kills_total Processes of the container the OOM killer killed while its main process survived (status oomKills).
# TYPE podd_container_oom_kills_total counter
podd_container_oom_kills_total{container="app",namespace="default",pod="web"} 1
# HELP podd_metrics_scrape_errors 1 when the last scrape could not read every figure.
# TYPE podd_metrics_scrape_errors gauge
podd_metrics_scrape_errors 0
`
	names := []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_usage_bytes",
		"container_spec_memory_limit_bytes", "container_spec_cpu_quota", "container_start_time_seconds", "container_processes",
		"container_network_receive_bytes_total", "podd_pods", "podd_container_restarts_total", "podd_container_oom_kills_total", "podd_metrics_scrape_errors"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Read at scrape time, never in between.
	reads := src.reads
	time.Sleep(20 * time.Millisecond)
	if src.reads != reads {
		t.Errorf("the source was read between scrapes")
	}
	src.err = errors.New("cgroup gone")
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader("# HELP podd_metrics_scrape_errors 1 when the last scrape could not read every figure.\n# TYPE podd_metrics_scrape_errors gauge\npodd_metrics_scrape_errors 1\n"), "podd_metrics_scrape_errors"); err != nil {
		t.Error(err)
	}
}

func TestHandlerAndAPILatency(t *testing.T) {
	m := New(t.Context(), source(), nil)
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/pods", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	apiSrv := httptest.NewServer(m.InstrumentAPI(api))
	defer apiSrv.Close()
	resp, err := http.Get(apiSrv.URL + "/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`podd_api_request_duration_seconds_count{code="418",method="GET",route="GET /v1/pods"} 1`,
		`container_memory_working_set_bytes{container="app",namespace="default",pod="web"}`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
