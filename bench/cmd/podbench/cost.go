package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The cost curve: how podd's figures grow with the pods it runs. For each count of -cost-pods
// (10, 50, 200), a fresh podd runs that many pods (the start part's two-container pod) created at
// once from one file; then podd's RSS, goroutines and threads, the pods' memory (PSS of the shims
// and everything under them, per pod) and the restore after kill -9 (from the new process's start
// until every pod lists Running); with the largest count also podd's idle CPU over -idle-seconds.
// Then the start throughput: -start-pods pods (100) created at once from one file by podd, by
// podman kube play (the same file) and by the floor (that many floor processes at once), each the
// time until every pod runs; podman's memory per pod is measured as podd's (PSS of its conmons
// and everything under them: infra and containers).

// costRow is one count's figures.
type costRow struct {
	Pods       int     `json:"pods"`
	RSSMiB     float64 `json:"podd_rss_mib"`
	Goroutines int     `json:"podd_goroutines"`
	Threads    int     `json:"podd_threads"`
	MemPerPod  float64 `json:"mem_per_pod_mib"`
	CreateMs   float64 `json:"create_ms"`
	RestoreMs  float64 `json:"restore_ms"`
}

// podsFile writes n of the start part's pods, named prefix-1 … prefix-n, into one file.
func (b *bench) podsFile(prefix string, n int) (string, error) {
	docs := make([]string, n)
	for i := range n {
		docs[i] = manifest(fmt.Sprintf("%s-%d", prefix, i+1), sleepForever)
	}
	return b.writeManifest(fmt.Sprintf("%s-%d", prefix, n), strings.Join(docs, "---\n"))
}

// goroutines reads the count from podd's pprof endpoint (the bench's podd serves it).
func goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddress+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile: %q: %w", line, err)
	}
	return n, nil
}

// cpuTicks is a process's user and system time, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's ")" : utime and stime are the 14th and 15th of the line.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + k, errors.Join(err1, err2)
}

// clockTicks is the kernel's USER_HZ, 100 on Linux.
const clockTicks = 100

// pssUnder is the PSS, in KiB, of the processes roots and everything under them.
func pssUnder(procs []procInfo, roots []int) int64 {
	var pss int64
	for _, pid := range descendants(procs, roots) {
		pss += procKB(pid, "smaps_rollup", "Pss")
	}
	return pss
}

// shimsPSS is the PSS, in KiB, of the bench containerd's shims and everything under them.
func (b *bench) shimsPSS() int64 {
	procs := listProcs()
	return pssUnder(procs, shimsOf(procs, b.address))
}

// podsRunning waits until n pods named prefix-* run with every container running.
func (p *poddInstance) podsRunning(ctx context.Context, prefix string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := p.checkAllRunning(ctx, prefix, n)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deleteFile deletes what a manifest file made and waits until no pod is left.
func (p *poddInstance) deleteFile(ctx context.Context, path string) error {
	if out, err := p.podctl(ctx, "delete", "-f", path); err != nil {
		return fmt.Errorf("podctl delete -f %s: %w: %s", path, err, out)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list, err := p.client.ListPods(ctx, "default")
		if err == nil && len(list) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods left 5 minutes after podctl delete: %d", len(list))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteAll removes the pods named prefix-1 … prefix-n, sixteen at a time and without a grace
// period (their sleep, a PID 1, ignores SIGTERM: one after the other with the pods' 2 s grace,
// 200 pods took 8 minutes), and waits until podd lists none.
func (p *poddInstance) deleteAll(ctx context.Context, prefix string, n int) error {
	zero := int64(0)
	sem := make(chan struct{}, 16)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			name := fmt.Sprintf("%s-%d", prefix, i+1)
			if err := p.client.RemovePod(ctx, "default", name, &zero); err != nil {
				errs[i] = fmt.Errorf("remove pod %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list, err := p.client.ListPods(ctx, "default")
		if err == nil && len(list) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods left 5 minutes after their removal: %d", len(list))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// measureCost runs the cost curve and the start throughput.
func (b *bench) measureCost(ctx context.Context) error {
	p := b.podd
	counts := b.opts.costPods
	for i, n := range counts {
		// A fresh podd: its figures reflect the pods it runs, not the earlier parts.
		p.proc.stop(10 * time.Second)
		if _, err := p.start(ctx); err != nil {
			return err
		}
		path, err := b.podsFile("cost", n)
		if err != nil {
			return err
		}
		begin := time.Now()
		if out, err := p.podctl(ctx, "run", "-d", path); err != nil {
			return fmt.Errorf("podctl run -d %d pods: %w: %s", n, err, out)
		}
		if err := p.podsRunning(ctx, "cost", n, 10*time.Minute); err != nil {
			return err
		}
		row := costRow{Pods: n, CreateMs: float64(time.Since(begin)) / float64(time.Millisecond)}
		time.Sleep(3 * time.Second) // the loggers and shims settle
		pid := p.proc.cmd.Process.Pid
		row.RSSMiB = float64(procKB(pid, "status", "VmRSS")) / 1024
		row.Threads = int(procKB(pid, "status", "Threads"))
		if row.Goroutines, err = goroutines(ctx); err != nil {
			return err
		}
		row.MemPerPod = float64(b.shimsPSS()) / 1024 / float64(n)
		if i == len(counts)-1 && b.opts.idleSeconds > 0 {
			t0, err := cpuTicks(pid)
			if err != nil {
				return err
			}
			w0 := time.Now()
			time.Sleep(time.Duration(b.opts.idleSeconds) * time.Second)
			t1, err := cpuTicks(pid)
			if err != nil {
				return err
			}
			pct := float64(t1-t0) / clockTicks / time.Since(w0).Seconds() * 100
			b.res.IdleCPUPct, b.res.IdleCPUPods = &pct, n
		}
		// Restore: kill -9, then from the new process's start until every pod lists Running.
		p.proc.kill()
		rbegin := time.Now()
		if _, err := p.start(ctx); err != nil {
			return err
		}
		if err := p.podsRunning(ctx, "cost", n, 5*time.Minute); err != nil {
			return fmt.Errorf("restore of %d pods: %w", n, err)
		}
		row.RestoreMs = float64(time.Since(rbegin)) / float64(time.Millisecond)
		fmt.Fprintf(os.Stderr, "podbench: cost %d pods: created in %.0f ms, podd RSS %.1f MiB, %d goroutines, %d threads, PSS %.2f MiB per pod, restore %.0f ms\n",
			n, row.CreateMs, row.RSSMiB, row.Goroutines, row.Threads, row.MemPerPod, row.RestoreMs)
		b.res.Cost = append(b.res.Cost, row)
		if n == 200 {
			b.res.PoddRSS200, b.res.Restore200 = ptr(row.RSSMiB), ptr(row.RestoreMs)
		}
		if err := p.deleteAll(ctx, "cost", n); err != nil {
			return err
		}
	}
	return b.measureStartMany(ctx)
}

// measureStartMany creates -start-pods pods at once with podd, podman and the floor.
func (b *bench) measureStartMany(ctx context.Context) error {
	n := b.opts.startPods
	if n <= 0 {
		return nil
	}
	path, err := b.podsFile("many", n)
	if err != nil {
		return err
	}
	// podd: podctl run -d of the file, then until all run.
	begin := time.Now()
	if out, err := b.podd.podctl(ctx, "run", "-d", path); err != nil {
		return fmt.Errorf("podctl run -d %d pods: %w: %s", n, err, out)
	}
	if err := b.podd.podsRunning(ctx, "many", n, 10*time.Minute); err != nil {
		return err
	}
	b.res.Start100 = ptr(float64(time.Since(begin)) / float64(time.Millisecond))
	time.Sleep(3 * time.Second)
	b.res.PoddMemPerPod100 = ptr(float64(b.shimsPSS()) / 1024 / float64(n))
	if err := b.podd.deleteAll(ctx, "many", n); err != nil {
		return err
	}
	// podman kube play of the same file: it returns once every pod's containers have started.
	begin = time.Now()
	if out, err := b.podman.run(ctx, "kube", "play", "--network", "none", path); err != nil {
		return fmt.Errorf("podman kube play %d pods: %w: %s", n, err, out)
	}
	b.res.PodmanStart100 = ptr(float64(time.Since(begin)) / float64(time.Millisecond))
	time.Sleep(3 * time.Second)
	var conmons []int
	procs := listProcs()
	for _, pr := range procs {
		cmdline := strings.Join(pr.args, " ")
		if filepath.Base(pr.args[0]) == "conmon" && strings.Contains(cmdline, filepath.Join(b.dir, "podman")) {
			conmons = append(conmons, pr.pid)
		}
	}
	b.res.PodmanMemPerPod = ptr(float64(pssUnder(procs, conmons)) / 1024 / float64(n))
	// -t 0: the containers' sleep, a PID 1, ignores SIGTERM (podman system reset waits 10 s for
	// each, ~30 min for 100 pods).
	if out, err := b.podman.run(ctx, "pod", "rm", "-a", "-f", "-t", "0"); err != nil {
		return fmt.Errorf("podman pod rm -a: %w: %s", err, out)
	}
	// The floor: n floor processes at once.
	begin = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = b.floorRun(ctx, fmt.Sprintf("many-%d", i+1)) })
	}
	wg.Wait()
	b.res.FloorStart100 = ptr(float64(time.Since(begin)) / float64(time.Millisecond))
	for i := range n {
		errs = append(errs, b.floorRemove(ctx, fmt.Sprintf("many-%d", i+1)))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.res.StartManyPods = n
	fmt.Fprintf(os.Stderr, "podbench: %d pods at once: podd %.0f ms, podman %.0f ms, floor %.0f ms; per pod podd %.2f MiB, podman %.2f MiB\n",
		n, *b.res.Start100, *b.res.PodmanStart100, *b.res.FloorStart100, *b.res.PoddMemPerPod100, *b.res.PodmanMemPerPod)
	return nil
}
