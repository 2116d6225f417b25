// Command podbench measures podd side by side with its peers on this machine, in one run: pod
// start latency of podd (podctl run), podman (podman kube play) and the containerd floor (this
// program creating and starting the same containers with the containerd client alone); podd's stop
// precision; density with 50 pods (podd's RSS, shims per pod, memory per pod); and the time a
// killed podd takes to answer again with all 50 pods Running.
//
// Everything runs privately under a temporary folder: its own containerd, its own podd and podman
// configured through CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF. The
// host's containerd, podd and podman state are not touched. It needs root. `make bench` runs it.
//
//	podbench [-podd bin/podd] [-podctl bin/podctl] [-runs 20] [-pods 50] [-out FILE]
//
// BENCH_OUT (or -out) names a file for the figures as a JSON object.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	containerd "github.com/containerd/containerd"

	"github.com/podd-dev/podd/internal/privcontainerd"
)

const benchImage = "localhost/podbench/busybox:1.35"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := floorMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "podbench floor:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "podbench:", err)
		os.Exit(1)
	}
}

type options struct {
	podd, podctl  string
	runs          int
	pods          int
	stopRuns      int
	restoreRuns   int
	out           string
	keep          bool
	only          string
	profileDir    string
	patternsImage string
	failovers     int
	etcdFailovers int
	patternsBin   string
	sgRequests    int
	sgPercentile  int
	costPods      []int
	idleSeconds   int
	startPods     int
	wqItems       int
	wqFloorItems  int
	wqRuns        int
}

type bench struct {
	opts    options
	dir     string
	self    string
	address string
	client  *containerd.Client
	ctrd    *proc
	podd    *poddInstance
	podman  *podman
	res     results
}

func run() error {
	var o options
	flag.StringVar(&o.podd, "podd", "bin/podd", "podd binary")
	flag.StringVar(&o.podctl, "podctl", "bin/podctl", "podctl binary")
	flag.IntVar(&o.runs, "runs", 20, "pod starts measured per contender")
	flag.IntVar(&o.pods, "pods", 50, "pods for the density and restore figures")
	flag.IntVar(&o.stopRuns, "stop-runs", 5, "stops measured")
	flag.IntVar(&o.restoreRuns, "restore-runs", 3, "kill -9 and restarts measured")
	flag.StringVar(&o.out, "out", os.Getenv("BENCH_OUT"), "write the figures as JSON to this file (default $BENCH_OUT)")
	flag.StringVar(&o.patternsImage, "patterns-image", "bin/podd-patterns.tar", "the patterns' helper image archive (make patterns-image), measured for helper_image_mib")
	flag.IntVar(&o.failovers, "failovers", 50, "forced leader failovers in the election part, alternating kill -9 and SIGSTOP of the leader's app (at least 40: 20 of each)")
	flag.IntVar(&o.etcdFailovers, "etcd-failovers", 20, "forced leader failovers of each fault in the etcd election part (kill -9 of the app, SIGSTOP of the app, kill -9 of the node)")
	flag.StringVar(&o.patternsBin, "patterns-bin", "bin/podd-patterns-static", "the patterns' helper binary (make patterns-image): the scatter part measures its scatter-gather root, the etcd election part runs its fenced store on the host")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (logs) after the run")
	flag.StringVar(&o.only, "only", "", "comma-free selector for a partial run: start, warm, stop, election, election-etcd, density (density includes restore), cost, workqueue, scatter (needs no containerd)")
	flag.IntVar(&o.sgRequests, "sg-requests", 2000, "client requests measured per configuration in the scatter part")
	flag.IntVar(&o.sgPercentile, "sg-hedge-percentile", 95, "the root's --hedge-percentile in the scatter part's hedged run")
	costPods := flag.String("cost-pods", "10,50,200", "the pod counts of the cost curve (-only cost), comma-separated, increasing")
	flag.IntVar(&o.idleSeconds, "idle-seconds", 60, "how long podd's idle CPU is measured with the curve's largest count (0: not)")
	flag.IntVar(&o.startPods, "start-pods", 100, "pods created at once from one file by podd, podman and the floor (-only cost)")
	flag.IntVar(&o.wqItems, "wq-items", 200, "items of each long-lived queue in the work-queue part (-only workqueue)")
	flag.IntVar(&o.wqFloorItems, "wq-floor-items", 30, "items of the floor and of the fresh-container queue in the work-queue part, a container each")
	flag.IntVar(&o.wqRuns, "wq-runs", 3, "runs of the work-queue part (its figures are their medians)")
	flag.StringVar(&o.profileDir, "profile", "", "with 50 pods running, save podd's heap, allocs and goroutine profiles into this folder (podd --pprof-address)")
	flag.Parse()
	for _, f := range strings.Split(*costPods, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || len(o.costPods) > 0 && n <= o.costPods[len(o.costPods)-1] {
			return fmt.Errorf("-cost-pods %q: want increasing positive counts, comma-separated", *costPods)
		}
		o.costPods = append(o.costPods, n)
	}
	if o.etcdFailovers < 1 {
		return fmt.Errorf("-etcd-failovers %d: want at least 1", o.etcdFailovers)
	}
	if o.failovers < 2 {
		return fmt.Errorf("-failovers %d: want at least 2 (one kill -9 and one SIGSTOP)", o.failovers)
	}
	if o.only == "scatter" {
		// The scatter part runs on the host's loopback: no containerd, podd or podman to start.
		b := &bench{opts: o}
		var err error
		if b.dir, err = os.MkdirTemp("/tmp", "podbench-"); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		b.res.LoadBefore, b.res.CPUs = loadAvg(), runtime.NumCPU()
		fmt.Fprintf(os.Stderr, "podbench: %d CPUs, load average %s; folder %s\n", b.res.CPUs, b.res.LoadBefore, b.dir)
		if err := b.measureScatter(ctx); err != nil {
			return fmt.Errorf("scatter/gather: %w", err)
		}
		if !o.keep {
			defer os.RemoveAll(b.dir)
		}
		return b.report()
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd, runc and podman run containers)")
	}
	var missing []string
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "podman", "conmon"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	for _, bin := range []string{o.podd, o.podctl} {
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, bin+" (make build)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %v (make bench installs them: hack/install-deps.sh, hack/install-bench-deps.sh)", missing)
	}
	var err error
	if o.podd, err = filepath.Abs(o.podd); err != nil {
		return err
	}
	if o.podctl, err = filepath.Abs(o.podctl); err != nil {
		return err
	}

	b := &bench{opts: o}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	// A short folder: unix socket paths must stay under 108 bytes.
	if b.dir, err = os.MkdirTemp("/tmp", "podbench-"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	defer func() {
		if err := b.tearDown(); err != nil {
			fmt.Fprintln(os.Stderr, "podbench: tear down:", err)
		}
	}()
	if err := b.setUp(ctx); err != nil {
		return err
	}
	if archive, unpacked, err := imageSize(o.patternsImage); err != nil {
		return fmt.Errorf("helper image: %w (make patterns-image)", err)
	} else {
		b.res.HelperImageArchiveMiB, b.res.HelperImageMiB = mib(archive), mib(unpacked)
	}
	if archive, unpacked, err := imageSize(strings.TrimSuffix(o.patternsImage, ".tar") + "-etcd.tar"); err != nil {
		return fmt.Errorf("helper image's etcd variant: %w (make patterns-image)", err)
	} else {
		b.res.HelperEtcdImageArchiveMiB, b.res.HelperEtcdImageMiB = mib(archive), mib(unpacked)
	}
	b.res.LoadBefore = loadAvg()
	b.res.CPUs = runtime.NumCPU()
	fmt.Fprintf(os.Stderr, "podbench: %d CPUs, load average %s; folder %s\n", b.res.CPUs, b.res.LoadBefore, b.dir)

	if o.only == "" || o.only == "start" {
		if err := b.measureStart(ctx); err != nil {
			return fmt.Errorf("pod start: %w", err)
		}
	}
	// The warm start is judged against the floor's cold start: -only start runs it too.
	if o.only == "" || o.only == "start" || o.only == "warm" {
		if err := b.measureWarm(ctx); err != nil {
			return fmt.Errorf("warm pod start: %w", err)
		}
	}
	if o.only == "" || o.only == "stop" {
		if err := b.measureStop(ctx); err != nil {
			return fmt.Errorf("stop precision: %w", err)
		}
	}
	if o.only == "" || o.only == "election" {
		if err := b.measureElection(ctx); err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
	}
	if o.only == "" || o.only == "election-etcd" {
		if err := b.measureElectionEtcd(ctx); err != nil {
			return fmt.Errorf("leader election on etcd: %w", err)
		}
	}
	if o.only == "" || o.only == "workqueue" {
		if err := b.measureWorkQueue(ctx); err != nil {
			return fmt.Errorf("work queue: %w", err)
		}
	}
	if o.only == "" {
		if err := b.measureScatter(ctx); err != nil {
			return fmt.Errorf("scatter/gather: %w", err)
		}
	}
	if o.only == "" || o.only == "density" {
		if err := b.measureDensity(ctx); err != nil {
			return fmt.Errorf("density: %w", err)
		}
		if err := b.measureRestore(ctx); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if o.only == "" || o.only == "cost" {
		if err := b.measureCost(ctx); err != nil {
			return fmt.Errorf("cost curve: %w", err)
		}
	}
	return b.report()
}

// report judges, prints and writes the figures.
func (b *bench) report() error {
	o := b.opts
	b.res.LoadAfter = loadAvg()
	b.res.Partial = o.only
	b.res.finish()
	b.res.print(os.Stdout)
	if o.out != "" {
		data, err := json.MarshalIndent(b.res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "podbench: figures written to %s\n", o.out)
	}
	return nil
}

func (b *bench) setUp(ctx context.Context) error {
	var err error
	if b.ctrd, b.client, b.address, err = startContainerd(filepath.Join(b.dir, "containerd")); err != nil {
		return err
	}
	if err := b.buildImages(ctx); err != nil {
		return err
	}
	if b.podd, err = b.startPodd(ctx); err != nil {
		return err
	}
	if b.podman, err = newPodman(ctx, b); err != nil {
		return err
	}
	return nil
}

func (b *bench) tearDown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	if b.podman != nil {
		if err := b.podman.reset(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if b.podd != nil {
		b.podd.proc.stop(10 * time.Second)
	}
	if b.client != nil {
		if err := removeAll(ctx, b.client); err != nil {
			errs = append(errs, err)
		}
		b.client.Close()
		// A shim left now has no task: one that lost containerd 1.6's race of two grouped
		// `shim start` at once and kept running on an unlinked socket. Say so, and end it.
		pids := shimsOf(listProcs(), b.address)
		for i := 0; i < 50 && len(pids) > 0; i++ { // the others exit after their last task
			time.Sleep(100 * time.Millisecond)
			pids = shimsOf(listProcs(), b.address)
		}
		if len(pids) > 0 {
			fmt.Fprintf(os.Stderr, "podbench: %d shim(s) outlived their tasks: killed\n", len(pids))
			for _, pid := range pids {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				fmt.Fprintf(os.Stderr, "  pid %d: %s\n", pid, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '}))
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if b.ctrd != nil {
		b.ctrd.stop(10 * time.Second)
	}
	if err := privcontainerd.UnmountAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	if b.opts.keep {
		fmt.Fprintf(os.Stderr, "podbench: kept %s\n", b.dir)
	} else if err := os.RemoveAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// command runs a program with the bench's environment (podman's private configuration).
func (b *bench) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = os.Environ()
	if b.podman != nil {
		cmd.Env = append(cmd.Env, b.podman.env...)
	}
	return cmd
}

// manifest is the bench's pod: two busybox containers sleeping, sharing an emptyDir, on loopback
// only (podd.io/network: none for podd; podman runs it with --network none).
func manifest(name string, command string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  annotations:
    podd.io/network: none
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: a
    image: %[2]s
    command: [%[3]s]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: b
    image: %[2]s
    command: [%[3]s]
    volumeMounts: [{name: shared, mountPath: /shared}]
  volumes:
  - name: shared
    emptyDir: {}
`, name, benchImage, command)
}

const sleepForever = `"sleep", "1000000"`

func (b *bench) writeManifest(name, content string) (string, error) {
	path := filepath.Join(b.dir, "manifests", name+".yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(content), 0o644)
}

// measureStart starts the pod runs times with each contender, interleaved so that the machine's
// load (other work on it) falls on all three alike. One unmeasured warm-up start each comes first.
func (b *bench) measureStart(ctx context.Context) error {
	var podd, podman, floor, floorSeccomp []time.Duration
	for i := -1; i < b.opts.runs; i++ {
		name := fmt.Sprintf("start-%d", i+1)
		path, err := b.writeManifest(name, manifest(name, sleepForever))
		if err != nil {
			return err
		}
		d, err := b.podd.runTimed(ctx, path, name)
		if err != nil {
			return err
		}
		if err := b.podd.remove(ctx, name); err != nil {
			return err
		}
		if i >= 0 {
			podd = append(podd, d)
		}
		if d, err = b.podman.playTimed(ctx, path, name); err != nil {
			return err
		}
		if err := b.podman.remove(ctx, name); err != nil {
			return err
		}
		if i >= 0 {
			podman = append(podman, d)
		}
		if d, err = b.floorRun(ctx, name); err != nil {
			return err
		}
		if err := b.floorRemove(ctx, name); err != nil {
			return err
		}
		if i >= 0 {
			floor = append(floor, d)
		}
		if d, err = b.floorRun(ctx, name, "-seccomp"); err != nil {
			return err
		}
		if err := b.floorRemove(ctx, name); err != nil {
			return err
		}
		if i < 0 {
			continue // the warm-up
		}
		floorSeccomp = append(floorSeccomp, d)
		fmt.Fprintf(os.Stderr, "podbench: start %2d/%d  podd %6.1f ms  podman %6.1f ms  floor %6.1f ms  floor with seccomp %6.1f ms\n",
			i+1, b.opts.runs, ms(podd, -1), ms(podman, -1), ms(floor, -1), ms(floorSeccomp, -1))
	}
	b.res.FloorSeccompStartP50 = ptr(percentile(floorSeccomp, 50))
	b.res.PoddStartP50, b.res.PoddStartP90 = percentile(podd, 50), percentile(podd, 90)
	b.res.PodmanStartP50, b.res.PodmanStartP90 = percentile(podman, 50), percentile(podman, 90)
	b.res.FloorStartP50, b.res.FloorStartP90 = percentile(floor, 50), percentile(floor, 90)
	b.res.StartRuns = b.opts.runs
	return nil
}

// measureStop: a pod whose containers ignore SIGTERM (sleep as PID 1 has no handler for it),
// stopped with a grace of 2 s; the error is |time of podctl stop − 2 s|.
func (b *bench) measureStop(ctx context.Context) error {
	const grace = 2 * time.Second
	var podd, podman []time.Duration
	for i := range b.opts.stopRuns {
		name := fmt.Sprintf("stop-%d", i+1)
		path, err := b.writeManifest(name, manifest(name, sleepForever))
		if err != nil {
			return err
		}
		if _, err := b.podd.runTimed(ctx, path, name); err != nil {
			return err
		}
		d, err := b.podd.stopTimed(ctx, name, 2)
		if err != nil {
			return err
		}
		if err := b.podd.remove(ctx, name); err != nil {
			return err
		}
		podd = append(podd, (d - grace).Abs())
		if _, err := b.podman.playTimed(ctx, path, name); err != nil {
			return err
		}
		if d, err = b.podman.stopTimed(ctx, name, 2); err != nil {
			return err
		}
		if err := b.podman.remove(ctx, name); err != nil {
			return err
		}
		podman = append(podman, (d - grace).Abs())
		fmt.Fprintf(os.Stderr, "podbench: stop %d/%d  podd |t-2s| %6.1f ms  podman |t-2s| %6.1f ms\n",
			i+1, b.opts.stopRuns, ms(podd, -1), ms(podman, -1))
	}
	b.res.StopError = percentile(podd, 50)
	b.res.PodmanStopError = percentile(podman, 50)
	b.res.StopRuns = b.opts.stopRuns
	return nil
}

func ms(ds []time.Duration, i int) float64 {
	if len(ds) == 0 {
		return 0
	}
	if i < 0 {
		i = len(ds) + i
	}
	return float64(ds[i]) / float64(time.Millisecond)
}

// percentile by nearest rank, in milliseconds.
func percentile(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100 // ceil(p/100 × n)
	if rank < 1 {
		rank = 1
	}
	return float64(s[rank-1]) / float64(time.Millisecond)
}

// results are the figures; the JSON keys are the issue's.
type results struct {
	PoddStartP50   float64 `json:"pod_start_p50_ms"`
	PoddStartP90   float64 `json:"pod_start_p90_ms"`
	PodmanStartP50 float64 `json:"podman_pod_start_p50_ms"`
	PodmanStartP90 float64 `json:"podman_pod_start_p90_ms"`
	FloorStartP50  float64 `json:"floor_pod_start_p50_ms"`
	FloorStartP90  float64 `json:"floor_pod_start_p90_ms"`
	// The floor with podd's default seccomp profile (RuntimeDefault): shown, not judged.
	FloorSeccompStartP50 *float64 `json:"floor_seccomp_pod_start_p50_ms"`
	StopError            float64  `json:"stop_grace_error_ms"`
	PodmanStopError      float64  `json:"podman_stop_grace_error_ms"`
	PoddRSS              float64  `json:"podd_rss_mib_50_pods"`
	// The patterns' helper image: unpacked (its layer's files, what a host stores) and as the
	// gzip-compressed archive podd imports.
	HelperImageMiB            float64   `json:"helper_image_mib"`
	HelperImageArchiveMiB     float64   `json:"helper_image_archive_mib"`
	HelperEtcdImageMiB        float64   `json:"helper_etcd_image_mib"`
	HelperEtcdImageArchiveMiB float64   `json:"helper_etcd_image_archive_mib"`
	PoddRSSIdle               float64   `json:"podd_rss_mib_0_pods"`
	PoddRSSAnon               float64   `json:"podd_rss_anon_mib_50_pods"`
	PoddRSSFile               float64   `json:"podd_rss_file_mib_50_pods"`
	PoddThreads               int       `json:"podd_threads_50_pods"`
	ShimsPerPod               float64   `json:"shims_per_pod"`
	MemPerPod                 float64   `json:"mem_per_pod_mib"`
	MemAvailPerPod            float64   `json:"mem_available_drop_per_pod_mib"`
	Restore                   float64   `json:"restore_50_pods_ms"`
	RestoreRuns               []float64 `json:"restore_runs_ms,omitempty"`
	DensityPods               int       `json:"density_pods"`
	StartRuns                 int       `json:"start_runs"`
	StopRuns                  int       `json:"stop_runs"`
	// The election parts (election.go, election_etcd.go); null when they did not run.
	LeaderFailoverLocal       *float64 `json:"leader_failover_local_ms"`
	LeaderFailoverSigstop     *float64 `json:"leader_failover_local_sigstop_ms"`
	LeaderFailoverLocalMax    *float64 `json:"leader_failover_local_max_ms"`
	LeaderFailoverSigstopMax  *float64 `json:"leader_failover_local_sigstop_max_ms"`
	LeaderFailovers           *int     `json:"leader_failovers"`
	LeaderFailoverKills       int      `json:"leader_failovers_kill9,omitempty"`
	LeaderFailoverStops       int      `json:"leader_failovers_sigstop,omitempty"`
	LeaderStaleWritesAccepted *int     `json:"leader_stale_writes_accepted"`
	LeaderStaleWriteAttempts  *int     `json:"leader_stale_write_attempts"`
	LeaderWritesAccepted      int      `json:"leader_writes_accepted,omitempty"`
	LeaderDualLeaderSamples   *int     `json:"leader_dual_leader_samples"`
	LeaderElectorSamples      int      `json:"leader_elector_samples,omitempty"`
	LeaderElectorPollMs       float64  `json:"leader_elector_poll_ms,omitempty"`
	LeaderElectorRTTp50       float64  `json:"leader_elector_rtt_p50_ms,omitempty"`
	LeaderElectorRTTp99       float64  `json:"leader_elector_rtt_p99_ms,omitempty"`
	LeaderElectionSeconds     float64  `json:"leader_election_part_s,omitempty"`
	// leader_failover_etcd_ms is the kill -9 of the leader's whole node (its elector dies with
	// its lease held: the lease's expiry decides); the app's kill -9 and SIGSTOP have their own.
	LeaderFailoverEtcd            *float64 `json:"leader_failover_etcd_ms"`
	LeaderFailoverEtcdMax         *float64 `json:"leader_failover_etcd_max_ms"`
	LeaderFailoverEtcdKill        *float64 `json:"leader_failover_etcd_kill9_ms"`
	LeaderFailoverEtcdStop        *float64 `json:"leader_failover_etcd_sigstop_ms"`
	LeaderEtcdTTL                 *float64 `json:"leader_etcd_ttl_ms"`
	LeaderEtcdFailovers           int      `json:"leader_etcd_failovers,omitempty"`
	LeaderEtcdPerFault            int      `json:"leader_etcd_failovers_per_fault,omitempty"`
	LeaderEtcdStaleWritesAccepted *int     `json:"leader_etcd_stale_writes_accepted"`
	LeaderEtcdStaleWriteAttempts  int      `json:"leader_etcd_stale_write_attempts,omitempty"`
	LeaderEtcdWritesAccepted      int      `json:"leader_etcd_writes_accepted,omitempty"`
	LeaderEtcdDualLeaderSamples   *int     `json:"leader_etcd_dual_leader_samples"`
	LeaderEtcdElectorSamples      int      `json:"leader_etcd_elector_samples,omitempty"`
	LeaderEtcdSeconds             float64  `json:"leader_etcd_part_s,omitempty"`
	// The cost curve and the start of many pods at once (cost.go); null when they did not run.
	// warm_pod_start_p50_ms and pod_start_bridge_p50_ms: the start part's pod on the bridge
	// network, with a warm sandbox and without (warm.go); null when that part did not run.
	Cost             []costRow `json:"cost_curve,omitempty"`
	PoddRSS200       *float64  `json:"podd_rss_mib_200_pods"`
	Restore200       *float64  `json:"restore_200_pods_ms"`
	IdleCPUPct       *float64  `json:"idle_cpu_pct_200_pods"`
	IdleCPUPods      int       `json:"idle_cpu_pods,omitempty"`
	StartManyPods    int       `json:"start_many_pods,omitempty"`
	Start100         *float64  `json:"start_100_pods_ms"`
	PodmanStart100   *float64  `json:"podman_start_100_pods_ms"`
	FloorStart100    *float64  `json:"floor_start_100_pods_ms"`
	PoddMemPerPod100 *float64  `json:"podd_mem_per_pod_100_pods_mib"`
	PodmanMemPerPod  *float64  `json:"podman_mem_per_pod_mib"`
	WarmPodStart     *float64  `json:"warm_pod_start_p50_ms"`
	BridgePodStart   *float64  `json:"pod_start_bridge_p50_ms"`
	WarmRuns         int       `json:"warm_runs,omitempty"`
	CPUs             int       `json:"cpus"`
	LoadBefore       string    `json:"load_average_before"`
	LoadAfter        string    `json:"load_average_after"`
	Targets          []target  `json:"targets"`
	Pass             bool      `json:"pass"`
	// Partial is -only's part when the run was partial.
	Partial string `json:"partial,omitempty"`
	// The scatter/gather part (scatter.go).
	sgResults
	// The work-queue part (workqueue.go).
	wqResults
}

type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Pass  bool    `json:"pass"`
	Rule  string  `json:"rule"`
}

func (r *results) finish() {
	add := func(name, rule string, v, limit float64, measured bool) {
		if !measured {
			return
		}
		r.Targets = append(r.Targets, target{Name: name, Value: v, Limit: limit, Pass: v <= limit, Rule: rule})
	}
	started := r.StartRuns > 0
	// pod_start_p50_ms is the cold start: a pod's containers created and started from nothing.
	// podman's figure is measured and shown, but no longer judged (its 0.35 × target was
	// withdrawn).
	add("pod_start_vs_floor", "cold start p50 ≤ 1.10 × the floor's", r.PoddStartP50, 1.10*r.FloorStartP50, started)
	if r.WarmPodStart != nil {
		// Against the floor's cold start of the same run: -only start measures both.
		add("warm_pod_start_vs_floor", "warm start p50 ≤ 0.6 × the floor's cold start", *r.WarmPodStart, 0.6*r.FloorStartP50, started)
	}
	add("stop_grace_error", "stop error ≤ 100 ms", r.StopError, 100, r.StopRuns > 0)
	add("shims_per_pod", "1 shim per pod", r.ShimsPerPod, 1, r.DensityPods > 0)
	add("podd_rss_50_pods", "podd RSS ≤ 30 MiB with 50 pods", r.PoddRSS, 30, r.DensityPods > 0)
	add("restore_50_pods", "restore ≤ 1 s", r.Restore, 1000, r.DensityPods > 0)
	add("helper_image", "helper image ≤ 15 MB unpacked", r.HelperImageMiB, 15e6/(1<<20), r.HelperImageMiB > 0)
	// The chaos figures add up over both parts (leader_failovers, leader_stale_writes_accepted,
	// leader_dual_leader_samples); each part's own are kept beside them.
	if r.LeaderFailoverEtcd != nil {
		if r.LeaderFailovers == nil {
			r.LeaderFailovers, r.LeaderStaleWritesAccepted, r.LeaderDualLeaderSamples, r.LeaderStaleWriteAttempts = ptr(0), ptr(0), ptr(0), ptr(0)
		}
		*r.LeaderFailovers += r.LeaderEtcdFailovers
		*r.LeaderStaleWritesAccepted += *r.LeaderEtcdStaleWritesAccepted
		*r.LeaderDualLeaderSamples += *r.LeaderEtcdDualLeaderSamples
		*r.LeaderStaleWriteAttempts += r.LeaderEtcdStaleWriteAttempts
		add("leader_failover_etcd", "node kill failover p50 ≤ 1.5 × ttl", *r.LeaderFailoverEtcd, 1.5**r.LeaderEtcdTTL, true)
	}
	if r.LeaderFailoverLocal != nil {
		add("leader_failover_local", "kill -9 failover p50 ≤ 150 ms", *r.LeaderFailoverLocal, 150, true)
	}
	if r.LeaderFailovers != nil {
		add("leader_stale_writes_accepted", "stale writes accepted = 0", float64(*r.LeaderStaleWritesAccepted), 0, true)
		add("leader_dual_leader_samples", "dual-leader samples = 0", float64(*r.LeaderDualLeaderSamples), 0, true)
	}
	if r.SGP50Hedged != nil {
		add("sg_p99_hedged", "hedged p99 ≤ 1.5 × hedged p50", *r.SGP99Hedged, 1.5**r.SGP50Hedged, true)
		add("sg_extra_requests", "hedging's extra requests ≤ 5 %", *r.SGExtraPct, 5, true)
		add("sg_fanout_overhead", "root's fan-out overhead at 10 leaves ≤ 2 ms", *r.SGFanoutOverhead, 2, true)
	}
	if r.PoddRSS200 != nil {
		add("podd_rss_200_pods", "podd RSS ≤ 40 MiB with 200 pods", *r.PoddRSS200, 40, true)
		add("restore_200_pods", "restore of 200 pods ≤ 400 ms", *r.Restore200, 400, true)
	}
	if r.IdleCPUPct != nil && r.IdleCPUPods == 200 {
		add("idle_cpu_200_pods", "idle CPU with 200 pods < 1 % of a core", *r.IdleCPUPct, 1, true)
	}
	if r.Start100 != nil {
		add("start_100_pods_vs_podman", "100 pods at once ≤ 0.5 × podman's time", *r.Start100, 0.5**r.PodmanStart100, true)
		add("mem_per_pod_vs_podman", "memory per pod ≤ 0.5 × podman's", *r.PoddMemPerPod100, 0.5**r.PodmanMemPerPod, true)
	}
	if r.WQLongLivedOverhead != nil {
		add("wq_longlived_overhead", "long-lived overhead ≤ 5 ms per item", *r.WQLongLivedOverhead, 5, true)
	}
	if r.WQFreshOverhead != nil {
		add("wq_fresh_overhead", "fresh-container overhead ≤ 1.25 × the floor per item", *r.WQFreshOverhead, 1.25**r.WQFloor, true)
	}
	// A full run has every target (the fresh-container one too: while podd has no such mode, a
	// full run does not pass); a partial one (-only) is judged on the targets it measured.
	r.Pass = len(r.Targets) == 21 || r.Partial != "" && len(r.Targets) > 0
	for _, t := range r.Targets {
		r.Pass = r.Pass && t.Pass
	}
}

func (r *results) print(out io.Writer) {
	var buf bytes.Buffer
	defer func() {
		// tabwriter pads the last columns of short rows with blanks.
		for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
			fmt.Fprintln(out, strings.TrimRight(line, " "))
		}
	}()
	w := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "figure\tpodd\tpodman\tfloor\ttarget\tresult\n")
	verdict := map[bool]string{true: "PASS", false: "FAIL"}
	find := func(name string) (target, bool) {
		for _, t := range r.Targets {
			if t.Name == name {
				return t, true
			}
		}
		return target{}, false
	}
	row := func(figure, podd, podman, floor string, names ...string) {
		if len(names) == 0 {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t\t\n", figure, podd, podman, floor)
			return
		}
		for i, n := range names {
			t, ok := find(n)
			if !ok {
				continue
			}
			if i > 0 {
				figure, podd, podman, floor = "", "", "", ""
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s (%s)\t%s\n", figure, podd, podman, floor, t.Rule, f1(t.Limit), verdict[t.Pass])
		}
	}
	if r.StartRuns > 0 {
		row(fmt.Sprintf("pod start p50, ms (%d runs)", r.StartRuns), f1(r.PoddStartP50), f1(r.PodmanStartP50), f1(r.FloorStartP50), "pod_start_vs_floor")
		row("pod start p90, ms", f1(r.PoddStartP90), f1(r.PodmanStartP90), f1(r.FloorStartP90))
		if r.FloorSeccompStartP50 != nil {
			row("  the floor with podd's seccomp profile (RuntimeDefault), p50, ms", "", "", f1(*r.FloorSeccompStartP50))
		}
	}
	if r.WarmPodStart != nil {
		figure := fmt.Sprintf("bridge pod start p50 with a warm sandbox, ms (%d runs)", r.WarmRuns)
		if r.StartRuns > 0 {
			row(figure, f1(*r.WarmPodStart), "", "", "warm_pod_start_vs_floor")
		} else {
			row(figure, f1(*r.WarmPodStart), "", "")
		}
		row("  the same pod without (pool off), ms", f1(*r.BridgePodStart), "", "")
	}
	if r.StopRuns > 0 {
		row(fmt.Sprintf("stop |t − 2 s|, ms (median of %d)", r.StopRuns), f1(r.StopError), f1(r.PodmanStopError), "", "stop_grace_error")
	}
	if r.LeaderFailoverLocal != nil {
		row(fmt.Sprintf("leader failover (local), kill -9 of the app, ms (median of %d; max %s)", r.LeaderFailoverKills, f1(*r.LeaderFailoverLocalMax)), f1(*r.LeaderFailoverLocal), "", "", "leader_failover_local")
		row(fmt.Sprintf("leader failover (local), SIGSTOP > ttl, ms (median of %d; max %s)", r.LeaderFailoverStops, f1(*r.LeaderFailoverSigstopMax)), f1(*r.LeaderFailoverSigstop), "", "")
	}
	if r.LeaderFailoverEtcd != nil {
		ttl := *r.LeaderEtcdTTL
		row(fmt.Sprintf("leader failover (etcd, ttl %s ms), kill -9 of the node, ms (median of %d; max %s)", f1(ttl), r.LeaderEtcdPerFault, f1(*r.LeaderFailoverEtcdMax)), f1(*r.LeaderFailoverEtcd), "", "", "leader_failover_etcd")
		row(fmt.Sprintf("leader failover (etcd), kill -9 of the app, ms (median of %d)", r.LeaderEtcdPerFault), f1(*r.LeaderFailoverEtcdKill), "", "")
		row(fmt.Sprintf("leader failover (etcd), SIGSTOP > ttl, ms (median of %d)", r.LeaderEtcdPerFault), f1(*r.LeaderFailoverEtcdStop), "", "")
	}
	if r.LeaderFailovers != nil {
		row("  client-go leaderelection defaults (reference: lease 15 s), ms", "", "", "15000–17000")
		row(fmt.Sprintf("stale writes accepted (%d failovers, both parts; attempts refused %d, accepted writes %d)", *r.LeaderFailovers, *r.LeaderStaleWriteAttempts, r.LeaderWritesAccepted+r.LeaderEtcdWritesAccepted), fmt.Sprint(*r.LeaderStaleWritesAccepted), "", "", "leader_stale_writes_accepted")
		row(fmt.Sprintf("dual-leader samples (%d elector answers, poll %s ms, rtt p50/p99 %.1f/%.1f ms)", r.LeaderElectorSamples+r.LeaderEtcdElectorSamples, f1(float64(electionPoll)/float64(time.Millisecond)), r.LeaderElectorRTTp50, r.LeaderElectorRTTp99), fmt.Sprint(*r.LeaderDualLeaderSamples), "", "", "leader_dual_leader_samples")
	}
	if r.SGP50Hedged != nil {
		row(fmt.Sprintf("scatter/gather p50 / p99, ms, unhedged (%d requests, 10 shards, 1 leaf slow 5 %%)", r.SGRequests), f1(*r.SGP50Unhedged)+" / "+f1(*r.SGP99Unhedged), "", "")
		row(fmt.Sprintf("scatter/gather p50 / p99, ms, hedged (learned p%d delay, %s ms at the end; 5 %% budget, %.0f refused)", r.SGPercentile, f1(r.SGHedgeDelay), r.SGHedgesDenied),
			f1(*r.SGP50Hedged)+" / "+f1(*r.SGP99Hedged), "", "", "sg_p99_hedged")
		row("scatter/gather extra requests, % (hedged)", fmt.Sprintf("%.2f", *r.SGExtraPct), "", "", "sg_extra_requests")
		row(fmt.Sprintf("scatter/gather fan-out overhead p50, ms (root %s − direct %s)", f1(r.SGRootFastP50), f1(r.SGDirectP50)), fmt.Sprintf("%.2f", *r.SGFanoutOverhead), "", "", "sg_fanout_overhead")
		row("  reference: p50 / p99 with no slow leaf, unhedged (the machine's own tail), ms", f1(r.SGRootFastP50)+" / "+f1(r.SGRootFastP99), "", "")
	}
	if r.WQLongLivedOverhead != nil {
		row(fmt.Sprintf("work queue: floor, a container per item with the containerd client, ms per item (median of %d runs of %d items)", r.WQRuns, r.WQFloorItems), "", "", f1(*r.WQFloor))
		row(fmt.Sprintf("work queue: the user's own work, the same sh line as a process, ms per item (%d items)", r.WQItems), fmt.Sprintf("%.2f", r.WQUserWork), "", "")
		row(fmt.Sprintf("work queue: long-lived, ms per item (parallelism 1, %d items; median of %d runs)", r.WQItems, r.WQRuns), fmt.Sprintf("%.2f", r.WQLongLivedItem), "", "")
		row("  its overhead beyond the user's work, ms per item", fmt.Sprintf("%.2f", *r.WQLongLivedOverhead), "", "", "wq_longlived_overhead")
		if r.WQFreshOverhead != nil {
			row(fmt.Sprintf("work queue: fresh container per item, ms per item (%d items)", r.WQFloorItems), f1(r.WQFreshItem), "", f1(*r.WQFloor))
			row(fmt.Sprintf("  its overhead beyond the user's work, ms per item (%.2f × the floor)", *r.WQFreshOverhead / *r.WQFloor), f1(*r.WQFreshOverhead), "", "", "wq_fresh_overhead")
		} else {
			row("work queue: fresh container per item: not measured: "+r.WQFreshAbsent, "null", "", "")
		}
		row("work queue: items/s with parallelism 1 / 2 / 4 (long-lived)", fmt.Sprintf("%.0f / %.0f / %.0f", *r.WQItemsPerSP1, *r.WQItemsPerSP2, *r.WQItemsPerSP4), "", "")
	}
	if r.DensityPods > 0 {
		row(fmt.Sprintf("shims per pod (%d pods)", r.DensityPods), fmt.Sprintf("%.2f", r.ShimsPerPod), "", "", "shims_per_pod")
		row(fmt.Sprintf("podd RSS, MiB (%d pods)", r.DensityPods), f1(r.PoddRSS), "", "", "podd_rss_50_pods")
		row("  of which anonymous / file-backed, MiB", f1(r.PoddRSSAnon)+" / "+f1(r.PoddRSSFile), "", "")
		row("podd RSS, MiB (no pods)", f1(r.PoddRSSIdle), "", "")
		row("memory per pod, MiB (PSS: shim, loggers, containers)", f1(r.MemPerPod), "", "")
		row("MemAvailable drop per pod, MiB", f1(r.MemAvailPerPod), "", "")
		row(fmt.Sprintf("restore %d pods after kill -9, ms (median)", r.DensityPods), f1(r.Restore), "", "", "restore_50_pods")
	}
	for i, c := range r.Cost {
		rss, restore := []string{}, []string{}
		if c.Pods == 200 {
			rss, restore = []string{"podd_rss_200_pods"}, []string{"restore_200_pods"}
		}
		row(fmt.Sprintf("cost: %d pods, created at once in %.0f ms: podd RSS MiB / goroutines / threads", c.Pods, c.CreateMs),
			fmt.Sprintf("%.1f / %d / %d", c.RSSMiB, c.Goroutines, c.Threads), "", "", rss...)
		row("  memory per pod, MiB (PSS); restore after kill -9, ms", fmt.Sprintf("%.2f; %.0f", c.MemPerPod, c.RestoreMs), "", "", restore...)
		if i > 0 {
			p := r.Cost[i-1]
			d := float64(c.Pods - p.Pods)
			row(fmt.Sprintf("  growth per added pod from %d: RSS KiB / goroutines / restore ms", p.Pods),
				fmt.Sprintf("%.0f / %.2f / %.2f", (c.RSSMiB-p.RSSMiB)*1024/d, float64(c.Goroutines-p.Goroutines)/d, (c.RestoreMs-p.RestoreMs)/d), "", "")
		}
	}
	if r.IdleCPUPct != nil {
		row(fmt.Sprintf("podd idle CPU with %d pods, %% of a core", r.IdleCPUPods), fmt.Sprintf("%.2f", *r.IdleCPUPct), "", "", "idle_cpu_200_pods")
	}
	if r.Start100 != nil {
		row(fmt.Sprintf("%d pods created at once, ms until all run", r.StartManyPods), f1(*r.Start100), f1(*r.PodmanStart100), f1(*r.FloorStart100), "start_100_pods_vs_podman")
		row(fmt.Sprintf("memory per pod with %d pods, MiB (PSS)", r.StartManyPods), fmt.Sprintf("%.2f", *r.PoddMemPerPod100), fmt.Sprintf("%.2f", *r.PodmanMemPerPod), "", "mem_per_pod_vs_podman")
	}
	if r.HelperImageMiB > 0 {
		row("helper image, MiB unpacked (archive)", f1(r.HelperImageMiB)+" ("+f1(r.HelperImageArchiveMiB)+")", "", "", "helper_image")
		row("  its etcd variant (the elector on etcd), MiB unpacked (archive)", f1(r.HelperEtcdImageMiB)+" ("+f1(r.HelperEtcdImageArchiveMiB)+")", "", "")
	}
	w.Flush()
	if r.LeaderFailovers != nil {
		fmt.Fprintf(&buf, "leader election: failover = from the fault (before the first kill(2)) to the first answer of another elector reporting isLeader\n"+
			"  with a higher token (each elector's GET / polled every %s ms on its pod address: resolution poll + round trip); the\n"+
			"  SIGSTOP figure is bounded by the app's readinessProbe (period 1 s + timeout 1 s), the pause lasts > ttl %v.\n"+
			"  Dual-leader sample: two electors' answers reporting isLeader with overlapping [request, response] windows.\n"+
			"  etcd: three podds as three nodes and a 3-member etcd on this machine; a node kill is SIGKILL of its podd, its\n"+
			"  containers and its etcd member (podbench -only election-etcd runs that part alone).\n", f1(float64(electionPoll)/float64(time.Millisecond)), electionTTL)
	}
	fmt.Fprintf(&buf, "load average before %s, after %s; %d CPUs; %s: %s\n", r.LoadBefore, r.LoadAfter, r.CPUs, map[bool]string{true: "all targets measured (partial run: -only " + r.Partial + ")", false: "all targets"}[r.Partial != ""], verdict[r.Pass])
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
