package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// The adapter helper (podd-patterns adapter) as a native sidecar: it reads redis-server and
// memcached (on the host, reached through the pod bridge's gateway: the test images are busybox
// only), the app container's readinessProbe follows the adapter's /readyz, and a prometheus on the
// host scrapes the adapter through the pod's IP. See specs/patterns/adapter.md.

// needHostServers fails under CI=true, and skips otherwise, when a server the test runs is missing.
func needHostServers(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			msg := b + " in PATH (apt-get install redis-server memcached prometheus; make test installs them)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// hostServer runs a server on the host until the test ends (or until stop), and waits until addr
// accepts connections.
func hostServer(t *testing.T, addr, name string, args ...string) (stop func()) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(exited) }()
	stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(stop)
	waitFor(t, name+" listening on "+addr, func() bool {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited: %s", name, out)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return stop
}

func containerReady(q *pod.Pod, name string) bool {
	for _, s := range q.Status.ContainerStatuses {
		if s.Name == name {
			return s.Ready
		}
	}
	return false
}

// promAppValues runs an instant query and returns the values by app_name.
func promAppValues(t *testing.T, prom, query string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %+v", query, err, r)
	}
	out := map[string]string{}
	for _, s := range r.Data.Result {
		out[s.Metric["app_name"]], _ = s.Value[1].(string)
	}
	return out
}

func TestAdapterSidecar(t *testing.T) {
	needHostServers(t, "redis-server", "memcached", "prometheus")
	t.Parallel()
	p := sharedPodd(t)
	gw := gatewayOf(p)
	redisAddr := net.JoinHostPort(gw, strconv.Itoa(freePort(t)))
	mcAddr := net.JoinHostPort(gw, strconv.Itoa(freePort(t)))
	name := uniqueName(t)
	p.RunManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: adapter
    image: %[2]s
    restartPolicy: Always
    args: [adapter, --source, "cache=redis://%[3]s", --source, "sessions=memcached://%[4]s", --probe-interval, 1s]
    ports: [{name: metrics, containerPort: 9466}]
    livenessProbe:
      httpGet: {path: /healthz, port: metrics}
  containers:
  - name: app
    image: %[5]s
    command: [sleep, "3600"]
    readinessProbe:
      httpGet: {path: "/readyz?app=cache", port: 9466}
      periodSeconds: 1
      failureThreshold: 1
`, name, patternsImage, redisAddr, mcAddr, busyboxImage))
	podIP := waitPod(t, p, name, "running with an IP", func(q *pod.Pod) bool {
		return q.Status.Phase == pod.PodRunning && q.Status.PodIP != ""
	}).Status.PodIP
	adapter := net.JoinHostPort(podIP, "9466")
	readyz := func(query string) (int, string) {
		resp, err := http.Get("http://" + adapter + "/readyz" + query)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Nothing answers on the gateway yet: the adapter serves, the app is not ready.
	waitFor(t, "the adapter's /readyz through the pod's IP", func() bool { code, _ := readyz(""); return code == 503 })
	if q := getPod(t, p, name); containerReady(q, "app") || podReady(q) {
		t.Fatalf("app ready while redis is not there: %+v", q.Status)
	}

	// The bridge exists now that the pod runs: redis and memcached listen on its gateway address.
	stopRedis := hostServer(t, redisAddr, "redis-server", "--bind", gw, "--port", strings.Split(redisAddr, ":")[1],
		"--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	mcArgs := []string{"-l", gw, "-p", strings.Split(mcAddr, ":")[1], "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		mcArgs = append(mcArgs, "-u", "nobody")
	}
	hostServer(t, mcAddr, "memcached", mcArgs...)
	waitPod(t, p, name, "Ready (app ready through the adapter's /readyz)", func(q *pod.Pod) bool {
		return containerReady(q, "app") && podReady(q)
	})

	// Prometheus on the host scrapes the adapter through the pod's IP.
	dir := t.TempDir()
	conf := fmt.Sprintf("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n- job_name: pod\n  static_configs:\n  - targets: [%q]\n", adapter)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := "127.0.0.1:" + strconv.Itoa(freePort(t))
	hostServer(t, prom, "prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+prom)
	waitFor(t, "prometheus ready", func() bool {
		resp, err := http.Get("http://" + prom + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	waitFor(t, "app_up 1 for redis and memcached in prometheus", func() bool {
		up := promAppValues(t, prom, "app_up")
		return up["cache"] == "1" && up["sessions"] == "1"
	})
	waitFor(t, "app_connected_clients for both kinds", func() bool {
		v := promAppValues(t, prom, "app_connected_clients")
		return v["cache"] != "" && v["sessions"] != ""
	})

	// The helper's resident set in the pod, after some scrapes (go test -v shows it); the
	// helper drops its start-up pages 3 s after its start (helper.TrimAfter).
	time.Sleep(4 * time.Second)
	for _, line := range strings.Split(mustPodctl(t, p, "top", name).Stdout, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "adapter" {
			status, _ := os.ReadFile("/proc/" + f[1] + "/status")
			for _, l := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "RssAnon:") || strings.HasPrefix(l, "RssFile:") {
					t.Logf("adapter %s", strings.Join(strings.Fields(l), " "))
				}
			}
		}
	}

	// redis goes away: the app is not ready any more, memcached's readiness is untouched.
	stopRedis()
	waitPod(t, p, name, "not Ready after redis stopped", func(q *pod.Pod) bool {
		return !containerReady(q, "app") && !podReady(q)
	})
	if code, body := readyz("?app=sessions"); code != 200 {
		t.Errorf("/readyz?app=sessions: %d %q", code, body)
	}
	waitFor(t, "app_up 0 for redis in prometheus", func() bool {
		return promAppValues(t, prom, "app_up")["cache"] == "0"
	})
}

// The same through the annotations (podd.io/inject: adapter): podd injects the adapter as the
// native sidecar podd-adapter, the app's readinessProbe on /readyz follows redis, and /metrics
// answers through the pod's IP.
func TestAdapterInjected(t *testing.T) {
	needHostServers(t, "redis-server")
	t.Parallel()
	p := sharedPodd(t)
	gw := gatewayOf(p)
	redisAddr := net.JoinHostPort(gw, strconv.Itoa(freePort(t)))
	name := uniqueName(t)
	p.RunManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  annotations:
    podd.io/inject: adapter
    adapter.podd.io/source: "cache=redis://%[2]s"
    adapter.podd.io/probe-interval: 1s
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[3]s
    command: [sleep, "3600"]
    readinessProbe:
      httpGet: {path: /readyz, port: 9466}
      periodSeconds: 1
      failureThreshold: 1
`, name, redisAddr, busyboxImage))
	q := waitPod(t, p, name, "running with an IP", func(q *pod.Pod) bool {
		return q.Status.Phase == pod.PodRunning && q.Status.PodIP != ""
	})
	if len(q.Spec.InitContainers) != 1 || q.Spec.InitContainers[0].Name != "podd-adapter" {
		t.Fatalf("init containers %+v, want the injected podd-adapter", q.Spec.InitContainers)
	}
	if containerReady(q, "app") {
		t.Fatalf("app ready while redis is not there")
	}
	stopRedis := hostServer(t, redisAddr, "redis-server", "--bind", gw, "--port", strings.Split(redisAddr, ":")[1],
		"--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	waitPod(t, p, name, "Ready once redis answers", func(q *pod.Pod) bool { return containerReady(q, "app") && podReady(q) })
	resp, err := http.Get("http://" + net.JoinHostPort(q.Status.PodIP, "9466") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `app_up{app_kind="redis",app_name="cache"} 1`) {
		t.Errorf("/metrics through the pod's IP:\n%s", body)
	}
	stopRedis()
	waitPod(t, p, name, "not Ready after redis stopped", func(q *pod.Pod) bool { return !containerReady(q, "app") && !podReady(q) })
}
