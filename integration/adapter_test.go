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

	"github.com/podd-dev/podd/internal/ociimage"
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

// hostProgramImage is an image named ref holding the host's program (at dir in the image, which
// is where the official image has it) and the shared libraries and loader that ldd lists for it,
// with the program as its entrypoint: it stands in for an image of a registry, which the tests
// cannot reach.
func hostProgramImage(t *testing.T, ref, program, dir string, opts ...ociimage.Option) ociimage.Spec {
	t.Helper()
	bin, err := exec.LookPath(program)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	entry := dir + "/" + program
	files := []ociimage.Option{ociimage.WithFile(bin, entry, 0o755), ociimage.WithEntrypoint(entry)}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			files = append(files, ociimage.WithFile(f[2], f[2], 0))
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"): // the loader
			files = append(files, ociimage.WithFile(f[0], f[0], 0))
		}
	}
	return ociimage.Scratch(ref, append(files, opts...)...)
}

// TestAdapterExample runs specs/patterns/adapter.yaml as specs/patterns/adapter.md shows it
// (`podctl run` of the file as it is), on a podd of its own (the pod's name is fixed). Its images
// docker.io/library/redis:7 and memcached:1.6 are made from the host's redis-server and memcached
// and imported under those names (no registry can be reached; imagePullPolicy IfNotPresent). podd
// injects the adapter from the annotations as podd-adapter; both applications become Ready through
// their probes on the adapter's /readyz?app=NAME, and /metrics through the pod's IP has the same
// names for both kinds.
func TestAdapterExample(t *testing.T) {
	needHostServers(t, "redis-server", "memcached")
	t.Parallel()
	p := startPodd(t)
	mustPodctl(t, p, "image", "import", buildImage(t, hostProgramImage(t, "docker.io/library/redis:7", "redis-server", "/usr/local/bin")))
	// The official image runs memcached as a user of its own; memcached refuses root without -u.
	mustPodctl(t, p, "image", "import", buildImage(t, hostProgramImage(t, "docker.io/library/memcached:1.6", "memcached", "/usr/local/bin",
		ociimage.WithUser("65534:65534"))))
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "specs", "patterns", "adapter.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "podd.io/inject: adapter") {
		t.Fatal("the example does not ask for the adapter by podd.io/inject")
	}
	mustPodctl(t, p, "run", file)
	q := waitPod(t, p, "cache", "Ready (redis and memcached ready through the adapter's /readyz)", func(q *pod.Pod) bool {
		return podReady(q) && containerReady(q, "redis") && containerReady(q, "memcached") && q.Status.PodIP != ""
	})
	if len(q.Spec.InitContainers) != 1 || q.Spec.InitContainers[0].Name != "podd-adapter" || q.Spec.InitContainers[0].Image != patternsImage {
		t.Fatalf("init containers %+v, want the injected podd-adapter of %s", q.Spec.InitContainers, patternsImage)
	}
	metrics := "http://" + net.JoinHostPort(q.Status.PodIP, "9466") + "/metrics"
	var body string
	waitFor(t, "app_up and app_connected_clients for both kinds at "+metrics, func() bool {
		resp, err := http.Get(metrics)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		for _, want := range []string{
			`app_up{app_kind="redis",app_name="cache"} 1`,
			`app_up{app_kind="memcached",app_name="sessions"} 1`,
			`app_connected_clients{app_kind="redis",app_name="cache"}`,
			`app_connected_clients{app_kind="memcached",app_name="sessions"}`,
		} {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "app_up") || strings.HasPrefix(l, "app_connected_clients{") {
			lines = append(lines, l)
		}
	}
	t.Logf("curl %s | grep ^app_ (some):\n%s", metrics, strings.Join(lines, "\n"))
}
