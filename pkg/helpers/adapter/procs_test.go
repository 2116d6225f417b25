package adapter

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"
)

// Tests against real processes: the podd-patterns binary, redis-server, memcached and prometheus
// started by the test on loopback ports. Without them the tests are skipped, except under
// CI=true, where that fails.

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// process is a server the test started.
type process struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startProcess runs name in the background until the test ends, and waits until addr accepts
// connections.
func startProcess(t *testing.T, addr string, name string, args ...string) *process {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logFile.Name(), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(p.log)
			t.Logf("%s log:\n%s", name, truncate(string(out), 4000))
		}
	})
	waitFor(t, fmt.Sprintf("%s listening on %s", name, addr), func() bool {
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.log)
			t.Fatalf("%s %v exited: %s", name, args, out)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

// waitFor polls cond until it holds, for a minute at most (a busy machine is slow, never wrong).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	hosttest.WaitFor(t, what, time.Minute, cond)
}

func startRedis(t *testing.T) string {
	port := hosttest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, addr, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	return addr
}

func startMemcached(t *testing.T) string {
	port := hosttest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"-p", strconv.Itoa(port), "-U", "0", "-l", "127.0.0.1", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	startProcess(t, addr, "memcached", args...)
	return addr
}

// TestMain removes the binary hosttest.PatternsBinary built.
func TestMain(m *testing.M) { os.Exit(hosttest.Run(m)) }

// startAdapterProcess runs `podd-patterns adapter` with args and returns its listen address.
func startAdapterProcess(t *testing.T, args ...string) (string, *process) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(hosttest.FreePort(t))
	p := startProcess(t, addr, hosttest.PatternsBinary(t), append([]string{"adapter", "--listen", addr}, args...)...)
	return addr, p
}

type promResult struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// promQuery asks prometheus's HTTP API for an instant query; it returns the value by app_name.
func promQuery(t *testing.T, prom, query string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %+v", query, r)
	}
	out := map[string]string{}
	for _, s := range r.Data.Result {
		out[s.Metric["app_name"]+"/"+s.Metric["app_kind"]], _ = s.Value[1].(string)
	}
	return out
}

// Prometheus scrapes an adapter in front of redis, one in front of memcached and one in front of
// an application that hangs: app_up and every name of the scheme answer for both kinds alike;
// the hung one is app_up 0 with timeouts counted; statsd lines sent to an adapter reach Prometheus.
func TestPrometheusScrapesBothKinds(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, prometheus", "redis-server", "memcached", "prometheus", "go")
	statsdPort := freeUDPPort(t)
	redisAdapter, _ := startAdapterProcess(t, "--source", "cache=redis://"+startRedis(t),
		"--source", fmt.Sprintf("statsd://127.0.0.1:%d", statsdPort))
	mcAdapter, _ := startAdapterProcess(t, "--source", "sessions=memcached://"+startMemcached(t))
	hungAdapter, _ := startAdapterProcess(t, "--source", "stuck=redis://"+hungListener(t), "--scrape-timeout", "500ms")

	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
- job_name: adapters
  static_configs:
  - targets: [%q, %q, %q]
`, redisAdapter, mcAdapter, hungAdapter)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := "127.0.0.1:" + strconv.Itoa(hosttest.FreePort(t))
	startProcess(t, prom, "prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+prom)
	waitFor(t, "prometheus ready", func() bool {
		resp, err := http.Get("http://" + prom + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", statsdPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string]string{"cache/redis": "1", "sessions/memcached": "1", "stuck/redis": "0"}
	var got map[string]string
	waitFor(t, "app_up of the three adapters in prometheus", func() bool {
		c.Write([]byte("checkout.requests:1|c|#route:pay\n"))
		got = promQuery(t, prom, "app_up")
		return len(got) == 3
	})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("app_up{%s} = %q, want %s (all: %v)", k, got[k], v, got)
		}
	}
	// The same names answer for both kinds: every metric of the scheme.
	for _, st := range scheme {
		var vals map[string]string
		waitFor(t, st.name+" for both kinds", func() bool {
			vals = promQuery(t, prom, st.name)
			return vals["cache/redis"] != "" && vals["sessions/memcached"] != ""
		})
		if _, ok := vals["stuck/redis"]; ok {
			t.Errorf("%s has a value for the hung application: %v", st.name, vals)
		}
	}
	if v := promQuery(t, prom, "app_connected_clients"); v["cache/redis"] == "0" || v["sessions/memcached"] == "0" {
		t.Errorf("app_connected_clients: %v, want at least the adapter's own connection", v)
	}
	waitFor(t, "timeouts of the hung application", func() bool {
		v := promQuery(t, prom, `app_scrape_errors_total{reason="timeout"}`)["stuck/redis"]
		n, _ := strconv.ParseFloat(v, 64)
		return n >= 1
	})
	waitFor(t, "the statsd counter in prometheus", func() bool {
		c.Write([]byte("checkout.requests:1|c|#route:pay\n"))
		v, _ := strconv.ParseFloat(promQuery(t, prom, `app_checkout_requests_total{route="pay"}`)["statsd/statsd"], 64)
		return v >= 1
	})
	code, body := httpGet(t, "http://"+hungAdapter+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "stuck (redis): no answer within the scrape timeout of 500ms") {
		t.Errorf("hung /readyz: %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+redisAdapter+"/readyz?app=cache"); code != 200 {
		t.Errorf("redis /readyz: %d %q", code, body)
	}
}

// The adapter logs a clear line when its application stops answering, and exits 0 on SIGTERM.
func TestAdapterProcessLogsAndSIGTERM(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, prometheus", "redis-server", "go")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := ln.Addr().String()
	ln.Close() // nothing listens: refused
	addr, p := startAdapterProcess(t, "--source", "redis://"+app, "--probe-interval", "200ms")
	if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	waitFor(t, "the failure's log line", func() bool {
		out, _ := os.ReadFile(p.log)
		return strings.Contains(string(out), `"msg":"application scrape failed: app_up 0"`) &&
			strings.Contains(string(out), `"source":"redis://`+app+`"`)
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Fatal("the adapter did not exit on SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	out, _ := os.ReadFile(p.log)
	if !strings.Contains(string(out), `"msg":"stopped"`) {
		t.Errorf("no stopped line:\n%s", out)
	}
}

// Bad flags are refused with the flag's name before anything listens.
func TestAdapterProcessBadFlags(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, prometheus", "go")
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rules, []byte("metrics:\n- name: app_up\n  path: $.x\n"), 0o644)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, "--source: at least one is needed"},
		{[]string{"--source", "mysql://x"}, `--source "mysql://x": scheme "mysql"`},
		{[]string{"--source", "http://127.0.0.1:1/"}, "an http source needs --rules"},
		{[]string{"--source", "http://127.0.0.1:1/", "--rules", rules}, "metrics[0]: name: app_up is the adapter's own"},
		{[]string{"--source", "redis://127.0.0.1", "--statsd-max-series", "0"}, "--statsd-max-series: 0 must be between 1 and 1000000"},
		{[]string{"--source", "redis://127.0.0.1", "--scrape-timeout", "0s"}, "--scrape-timeout"},
	} {
		out, err := exec.Command(hosttest.PatternsBinary(t), append([]string{"adapter", "--listen", "127.0.0.1:0"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.err) {
			t.Errorf("%v: %v, output %q; want an error with %q", tc.args, err, out, tc.err)
		}
	}
}

// vmRSS reads a process's resident set (and its anonymous part) in KiB.
func vmRSS(t *testing.T, pid int) (rss, anon int) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			rss, _ = strconv.Atoi(fields[1])
		case "RssAnon:":
			anon, _ = strconv.Atoi(fields[1])
		}
	}
	return rss, anon
}

// 1000 scrapes (8 at a time) of an adapter in front of redis and memcached all answer app_up 1;
// the adapter's resident set idle and after the load is logged (go test -v -run TestAdapterLoad).
func TestAdapterLoad(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, prometheus", "redis-server", "memcached", "go")
	addr, p := startAdapterProcess(t, "--source", "redis://"+startRedis(t), "--source", "memcached://"+startMemcached(t))
	waitFor(t, "ready", func() bool { code, _ := httpGet(t, "http://"+addr+"/readyz"); return code == 200 })
	time.Sleep(5 * time.Second) // settle: idle is after start-up (and helper.TrimAfter, 3 s)
	rss, anon := vmRSS(t, p.cmd.Process.Pid)
	t.Logf("idle: VmRSS %d KiB (RssAnon %d KiB)", rss, anon)
	const scrapes, workers = 1000, 8
	errs := make(chan string, scrapes)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			client := &http.Client{Timeout: time.Minute}
			for i := w; i < scrapes; i += workers {
				resp, err := client.Get("http://" + addr + "/metrics")
				if err != nil {
					errs <- err.Error()
					continue
				}
				var b strings.Builder
				bufio.NewReader(resp.Body).WriteTo(&b)
				resp.Body.Close()
				if !strings.Contains(b.String(), `app_up{app_kind="redis",app_name="redis"} 1`) ||
					!strings.Contains(b.String(), `app_up{app_kind="memcached",app_name="memcached"} 1`) {
					errs <- "scrape without app_up 1 for both"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 3 {
			t.Error(e)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d scrapes failed", n, scrapes)
	}
	rss, anon = vmRSS(t, p.cmd.Process.Pid)
	t.Logf("after %d scrapes: VmRSS %d KiB (RssAnon %d KiB)", scrapes, rss, anon)

}

// A redis that requires a password: the password from --redis-password-file (a Secret volume's
// file) makes app_up 1; without it redis answers NOAUTH and app_up is 0 with an error.
func TestRedisPassword(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, prometheus", "redis-server", "go")
	port := hosttest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, addr, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--requirepass", "s3cret")
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	with, _ := startAdapterProcess(t, "--source", "redis://"+addr, "--redis-password-file", file)
	without, p := startAdapterProcess(t, "--source", "redis://"+addr)
	if _, body := httpGet(t, "http://"+with+"/metrics"); metricValue(t, body, `app_up{app_kind="redis",app_name="redis"}`) != 1 {
		t.Errorf("with the password file:\n%s", body)
	}
	_, body := httpGet(t, "http://"+without+"/metrics")
	if metricValue(t, body, `app_up{app_kind="redis",app_name="redis"}`) != 0 ||
		metricValue(t, body, `app_scrape_errors_total{app_kind="redis",app_name="redis",reason="error"}`) < 1 {
		t.Errorf("without the password:\n%s", body)
	}
	waitFor(t, "the NOAUTH log line", func() bool {
		out, _ := os.ReadFile(p.log)
		return strings.Contains(string(out), "NOAUTH")
	})
	if out, _ := os.ReadFile(p.log); strings.Contains(string(out), "s3cret") {
		t.Errorf("the password is in the log:\n%s", out)
	}
}
