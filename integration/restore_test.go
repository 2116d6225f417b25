package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// TestRestoreTime measures how long a podd killed with SIGKILL takes, from the exec of the new
// podd, to answer and report every pod Running with the same containers: the live-restore time.
// It runs only when PODD_RESTORE_PODS gives the number of pods (100 for the figure in the
// README), since that many pods are too heavy for the regular run on a small host; with CI=true
// and no PODD_RESTORE_PODS it runs with 10 pods, so that it is never silently skipped there.
// PODD_RESTORE_ROUNDS sets the number of measurements (default 5). It logs the measurements and
// their median and asserts no time: timings belong to benchmarks. With PODD_RESTORE_PROFILE=DIR,
// podd serves its profiles (--pprof-address) and the last round saves a CPU profile and an
// execution trace of podd's first second into DIR (go tool pprof / go tool trace).
//
//	PODD_RESTORE_PODS=100 go test -count=1 -run TestRestoreTime -v ./integration/
func TestRestoreTime(t *testing.T) {
	n := envInt(t, "PODD_RESTORE_PODS", 0)
	if n == 0 {
		if os.Getenv("CI") != "true" {
			t.Skip("set PODD_RESTORE_PODS=100 to measure the restore time of 100 pods")
		}
		n = 10
	}
	rounds := envInt(t, "PODD_RESTORE_ROUNDS", 5)
	profileDir := os.Getenv("PODD_RESTORE_PROFILE")
	const pprofAddress = "127.0.0.1:16061"
	var p *Podd
	if profileDir != "" {
		p = startPoddWith(t, "--pprof-address", pprofAddress)
	} else {
		p = startPodd(t)
	}
	var docs []string
	for i := range n {
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: restore-%03d
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", %q]
`, i, busyboxImage, untilTerm))
	}
	// Created in batches: each `podctl run` waits for its pods to start.
	for i := 0; i < n; i += 20 {
		mustRun(t, p, strings.Join(docs[i:min(i+20, n)], "---\n"))
	}
	client := api.NewClient(p.Socket)
	ids := func(pods []*pod.Pod) map[string]string {
		out := map[string]string{}
		for _, got := range pods {
			if len(got.Status.ContainerStatuses) == 1 && got.Status.Phase == pod.PodRunning && got.Status.ContainerStatuses[0].State.Running != nil {
				out[got.Metadata.Name] = got.Status.ContainerStatuses[0].ContainerID
			}
		}
		return out
	}
	pods, err := client.ListPods(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := ids(pods)
	if len(want) != n {
		t.Fatalf("%d of %d pods run before the measurement", len(want), n)
	}

	var took []time.Duration
	for round := range rounds {
		p.Kill9(t)
		start, err := p.startNoWait()
		if err != nil {
			t.Fatal(err)
		}
		var profiled chan error
		if profileDir != "" && round == rounds-1 {
			profiled = make(chan error, 2)
			for _, kind := range []string{"profile", "trace"} {
				go func() { profiled <- fetchProfile(pprofAddress, kind, filepath.Join(profileDir, "restore."+kind)) }()
			}
		}
		var got map[string]string
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			pods, err := client.ListPods(ctx, "")
			cancel()
			if err == nil {
				if got = ids(pods); len(got) == n {
					break
				}
			}
			if time.Since(start) > podWaitTimeout {
				t.Fatalf("round %d: %d of %d pods Running after %v (last error %v)", round, len(got), n, podWaitTimeout, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(start)
		took = append(took, d)
		if profiled != nil {
			for range 2 {
				if err := <-profiled; err != nil {
					t.Errorf("profile: %v", err)
				}
			}
			t.Logf("profiles of this round in %s", profileDir)
		}
		for name, id := range want {
			if got[name] != id {
				t.Errorf("round %d: pod %s runs container %s, was %s: not adopted", round, name, got[name], id)
			}
		}
		t.Logf("round %d: %d pods Running, same containers, %v after the exec of podd; podd says: %s", round, n, d.Round(time.Millisecond), lastReconciled(p))
		// Let the workers settle (probes, logs) before the next kill.
		time.Sleep(time.Second)
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("restore time of %d pods, median of %d: %v (all: %v)", n, rounds, sorted[len(sorted)/2].Round(time.Millisecond), took)
}

// startNoWait starts podd and returns the time of its exec at once, without waiting for it to
// serve; Kill9 or the test's cleanup ends it.
func (p *Podd) startNoWait() (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := p.command("info")
	cmd.Env = append(os.Environ(), p.Env...)
	start := time.Now()
	d, err := startDaemon(cmd, p.LogPath)
	if err != nil {
		return start, err
	}
	p.d = d
	return start, nil
}

// fetchProfile saves podd's CPU profile or execution trace of one second, asked for as soon as the
// pprof server listens.
func fetchProfile(addr, kind, path string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + kind + "?seconds=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lastReconciled is podd's last "reconciled pods" log line.
func lastReconciled(p *Podd) string {
	data, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `msg="reconciled pods"`) {
			_, rest, _ := strings.Cut(lines[i], `msg="reconciled pods" `)
			return rest
		}
	}
	return "(no reconciled line)"
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number above 0", name, v)
	}
	return n
}
