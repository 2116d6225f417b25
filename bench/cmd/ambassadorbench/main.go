// Command ambassadorbench measures podd's ambassador side by side with nutcracker (twemproxy) on
// this machine, in one run: redis-benchmark (redis-tools) against one redis-server directly,
// through nutcracker and through the ambassador, both proxies in front of the same pool of three
// redis-servers with the same configuration, with the same pipelining. Runs alternate between the
// three targets so that a change in the machine's load touches them alike; the figures are the
// medians of the runs. It also reads each proxy's CPU time (utime+stime from /proc) around its
// runs: CPU per request depends less on the machine's other work than throughput does; and each
// proxy's resident set (VmRSS) idle before the runs and at its peak (VmHWM).
//
//	ambassadorbench [-ambassador bin/podd-patterns] [-runs 5] [-n 200000] [-c 50] [-P 16] [-out FILE]
//
// BENCH_OUT (or -out) names a JSON file: its object gains redis_direct_rps, nutcracker_rps,
// ambassador_rps, nutcracker_p99_added_ms and ambassador_p99_added_ms (each proxy's p99 minus the
// direct p99 of the same run, then the median), nutcracker_cpu_us_per_request and
// ambassador_cpu_us_per_request; the keys already there are kept.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	ambassador string
	runs       int
	requests   int
	clients    int
	pipeline   int
	keyspace   int
	tests      string
	out        string
}

func main() {
	var o options
	flag.StringVar(&o.ambassador, "ambassador", "bin/podd-patterns", "the podd-patterns binary")
	flag.IntVar(&o.runs, "runs", 5, "runs per target")
	flag.IntVar(&o.requests, "n", 200000, "requests per redis-benchmark test")
	flag.IntVar(&o.clients, "c", 50, "redis-benchmark clients")
	flag.IntVar(&o.pipeline, "P", 16, "requests pipelined per client")
	flag.IntVar(&o.keyspace, "r", 100000, "random keys (redis-benchmark -r), spread over the pool")
	flag.StringVar(&o.tests, "t", "set,get", "redis-benchmark tests")
	flag.StringVar(&o.out, "out", os.Getenv("BENCH_OUT"), "add the figures to this JSON file (default $BENCH_OUT)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ambassadorbench:", err)
		os.Exit(1)
	}
}

type proc struct {
	cmd  *exec.Cmd
	name string
}

func (p *proc) stop() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// rss returns the process's resident set now and at its peak, in KiB (VmRSS, VmHWM).
func (p *proc) rss() (now, peak int) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			now, _ = strconv.Atoi(f[1])
		case "VmHWM:":
			peak, _ = strconv.Atoi(f[1])
		}
	}
	return now, peak
}

// cpu is the process's user+system time.
func (p *proc) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(dir, addr, name string, args ...string) (*proc, error) {
	log, err := os.Create(filepath.Join(dir, filepath.Base(name)+"-"+strings.ReplaceAll(addr, ":", "_")+".log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, name: name}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not listen on %s (log in %s)", name, addr, log.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// result is one redis-benchmark run: per test, requests per second and p99 in ms.
type result struct {
	rps map[string]float64
	p99 map[string]float64
}

func benchmark(o options, port int) (result, error) {
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", o.tests, "-n", strconv.Itoa(o.requests),
		"-c", strconv.Itoa(o.clients), "-P", strconv.Itoa(o.pipeline), "-r", strconv.Itoa(o.keyspace), "--csv"}
	cmd := exec.Command("redis-benchmark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark %v: %v: %s", args, err, stderr.String())
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 2 {
		return result{}, fmt.Errorf("redis-benchmark output: %q", out)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	ri, ok1 := col["rps"]
	pi, ok2 := col["p99_latency_ms"]
	if !ok1 || !ok2 {
		return result{}, fmt.Errorf("redis-benchmark output lacks rps or p99_latency_ms: %q", recs[0])
	}
	r := result{rps: map[string]float64{}, p99: map[string]float64{}}
	for _, rec := range recs[1:] {
		r.rps[rec[0]], _ = strconv.ParseFloat(rec[ri], 64)
		r.p99[rec[0]], _ = strconv.ParseFloat(rec[pi], 64)
	}
	return r, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t / float64(len(m))
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(o options) error {
	var missing []string
	for _, b := range []string{"redis-server", "redis-benchmark", "nutcracker"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if _, err := os.Stat(o.ambassador); err != nil {
		missing = append(missing, o.ambassador+" (go build -o bin/ ./cmd/podd-patterns)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %v (make bench installs redis-server, redis-tools and nutcracker)", missing)
	}
	dir, err := os.MkdirTemp("", "ambassadorbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	var servers []string
	for i := 0; i < 3; i++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err := start(dir, addr, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		servers = append(servers, addr)
	}
	directPort, _ := strconv.Atoi(servers[0][strings.LastIndexByte(servers[0], ':')+1:])
	conf := func(listen string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "bench:\n  listen: %s\n  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n  servers:\n", listen)
		for _, s := range servers {
			fmt.Fprintf(&b, "   - %s:1\n", s)
		}
		return b.String()
	}
	ncPort, _ := freePort()
	ncStats, _ := freePort()
	ncConf := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(ncConf, []byte(conf("127.0.0.1:"+strconv.Itoa(ncPort))), 0o644); err != nil {
		return err
	}
	nc, err := start(dir, "127.0.0.1:"+strconv.Itoa(ncPort), "nutcracker", "-c", ncConf, "-s", strconv.Itoa(ncStats),
		"-a", "127.0.0.1", "-o", filepath.Join(dir, "nutcracker.log"), "-p", filepath.Join(dir, "nutcracker.pid"))
	if err != nil {
		return err
	}
	procs = append(procs, nc)
	ambPort, _ := freePort()
	ambConf := filepath.Join(dir, "ambassador.yml")
	if err := os.WriteFile(ambConf, []byte(conf("127.0.0.1:"+strconv.Itoa(ambPort))), 0o644); err != nil {
		return err
	}
	amb, err := start(dir, "127.0.0.1:"+strconv.Itoa(ambPort), o.ambassador, "ambassador", "--config", ambConf, "--metrics-address", "")
	if err != nil {
		return err
	}
	procs = append(procs, amb)

	time.Sleep(time.Second) // settled before the idle RSS
	idle := map[*proc]int{}
	for _, p := range []*proc{nc, amb} {
		idle[p], _ = p.rss()
	}
	loadBefore := loadAvg()
	fmt.Fprintf(os.Stderr, "ambassadorbench: %d CPUs, load average %s; redis-benchmark -t %s -n %d -c %d -P %d -r %d, %d runs\n",
		runtime.NumCPU(), loadBefore, o.tests, o.requests, o.clients, o.pipeline, o.keyspace, o.runs)
	type target struct {
		name string
		port int
		proc *proc
		res  []result
		cpu  time.Duration
		reqs int
	}
	targets := []*target{{name: "redis direct", port: directPort}, {name: "nutcracker", port: ncPort, proc: nc}, {name: "ambassador", port: ambPort, proc: amb}}
	ntests := len(strings.Split(o.tests, ","))
	for r := 0; r < o.runs; r++ {
		// Alternate the order: direct, nc, amb; then amb, nc, direct; …
		order := slices.Clone(targets)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			var before time.Duration
			if t.proc != nil {
				before = t.proc.cpu()
			}
			res, err := benchmark(o, t.port)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if t.proc != nil {
				t.cpu += t.proc.cpu() - before
			}
			t.reqs += o.requests * ntests
			t.res = append(t.res, res)
			fmt.Fprintf(os.Stderr, "ambassadorbench: run %d %-12s %8.0f rps, p99 %.3f ms\n", r+1, t.name, mean(res.rps), mean(res.p99))
		}
	}
	// Per target: median over runs of the tests' mean rps and p99; added p99 per run against the
	// same run's direct p99.
	figures := map[string]float64{}
	rps := map[string]float64{}
	p99 := map[string]float64{}
	added := map[string]float64{}
	for _, t := range targets {
		var rs, ps, as []float64
		for i, res := range t.res {
			rs = append(rs, mean(res.rps))
			ps = append(ps, mean(res.p99))
			as = append(as, mean(res.p99)-mean(targets[0].res[i].p99))
		}
		rps[t.name], p99[t.name], added[t.name] = median(rs), median(ps), median(as)
	}
	figures["redis_direct_rps"] = rps["redis direct"]
	figures["nutcracker_rps"] = rps["nutcracker"]
	figures["ambassador_rps"] = rps["ambassador"]
	figures["nutcracker_p99_added_ms"] = added["nutcracker"]
	figures["ambassador_p99_added_ms"] = added["ambassador"]
	for _, t := range targets[1:] {
		key := strings.ReplaceAll(t.name, " ", "_") + "_cpu_us_per_request"
		figures[key] = float64(t.cpu.Microseconds()) / float64(t.reqs)
	}
	loadAfter := loadAvg()

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "ambassador (redis-benchmark -t %s -P %d -c %d, 3 redis-servers, median of %d runs; load %s → %s)\n", o.tests, o.pipeline, o.clients, o.runs, loadBefore, loadAfter)
	fmt.Fprintln(w, "target\trps\tp99 ms\tp99 added ms\tproxy CPU µs/request\tRSS idle / peak KiB")
	for _, t := range targets {
		cpu, mem := "-", "-"
		if t.proc != nil {
			cpu = fmt.Sprintf("%.2f", float64(t.cpu.Microseconds())/float64(t.reqs))
			_, peak := t.proc.rss()
			mem = fmt.Sprintf("%d / %d", idle[t.proc], peak)
		}
		fmt.Fprintf(w, "%s\t%.0f\t%.3f\t%.3f\t%s\t%s\n", t.name, rps[t.name], p99[t.name], added[t.name], cpu, mem)
	}
	fmt.Fprintf(w, "ambassador / nutcracker throughput\t%.2f×\n", rps["ambassador"]/rps["nutcracker"])
	w.Flush()
	if o.out == "" {
		return nil
	}
	doc := map[string]any{}
	if data, err := os.ReadFile(o.out); err == nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: not a JSON object: %w", o.out, err)
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for k, v := range figures {
		doc[k] = v
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ambassadorbench: figures added to %s\n", o.out)
	return nil
}
