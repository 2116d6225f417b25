package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
)

const poddNamespace = "podbench-podd"

type poddInstance struct {
	b      *bench
	dir    string
	socket string
	args   []string
	proc   *proc
	client *api.Client
}

// buildImages writes the bench image as an OCI archive (podd, the floor) and a docker archive
// (podman load), and imports it into the floor's namespace.
func (b *bench) buildImages(ctx context.Context) error {
	dir := filepath.Join(b.dir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []ociimage.Format{ociimage.FormatOCI, ociimage.FormatDocker} {
		spec, err := ociimage.Busybox(benchImage, ociimage.WithFormat(f))
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(dir, "busybox."+string(f)+".tar"))
		if err != nil {
			return err
		}
		if err := ociimage.Build(out, spec); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	f, err := os.Open(filepath.Join(dir, "busybox.oci.tar"))
	if err != nil {
		return err
	}
	defer f.Close()
	fctx := namespaces.WithNamespace(ctx, floorNamespace)
	imgs, err := b.client.Import(fctx, f, containerd.WithAllPlatforms(false))
	if err != nil {
		return fmt.Errorf("import into the floor's namespace: %w", err)
	}
	for _, img := range imgs {
		if err := containerd.NewImage(b.client, img).Unpack(fctx, "overlayfs"); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) startPodd(ctx context.Context) (*poddInstance, error) {
	return b.newPodd(ctx, "podd", poddNamespace, "podbench")
}

// newPodd starts a podd of the bench's containerd in the folder name, with its own containerd
// namespace and cgroup parent, and imports the bench image; extra are more flags.
func (b *bench) newPodd(ctx context.Context, name, namespace, cgroupRoot string, extra ...string) (*poddInstance, error) {
	dir := filepath.Join(b.dir, name)
	p := &poddInstance{b: b, dir: dir, socket: filepath.Join(dir, "podd.sock")}
	p.args = []string{
		"--containerd-address", b.address,
		"--namespace", namespace,
		"--root", filepath.Join(dir, "root"),
		"--state", filepath.Join(dir, "state"),
		"--socket", p.socket,
		// The election part restarts the apps it kills: a short restart backoff, as the
		// integration tests use (the other parts restart nothing).
		"--restart-backoff-base", "200ms",
		"--restart-backoff-max", "1s",
	}
	// Its own cgroup parent, once podd has the flag.
	help, _ := exec.Command(b.opts.podd, "--help").CombinedOutput()
	if bytes.Contains(help, []byte("--cgroup-root")) {
		p.args = append(p.args, "--cgroup-root", cgroupRoot)
	}
	// Profiles (-profile) and the goroutine count (-only cost) only: the address is fixed, and a
	// partial run elsewhere on the machine (another -only part) would find it taken.
	if name == "podd" && (b.opts.only == "" || b.opts.only == "cost" || b.opts.profileDir != "") {
		p.args = append(p.args, "--pprof-address", pprofAddress)
	}
	// No warm sandboxes unless a part asks (warm.go): the start part's figure is the cold start,
	// and a pool would outlive a podd the bench kills.
	if !slices.Contains(extra, "--warm-sandboxes") && bytes.Contains(help, []byte("--warm-sandboxes")) {
		p.args = append(p.args, "--warm-sandboxes", "0")
	}
	p.args = append(p.args, extra...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p.client = api.NewClient(p.socket)
	if _, err := p.start(ctx); err != nil {
		return nil, err
	}
	if out, err := p.podctl(ctx, "image", "import", filepath.Join(b.dir, "images", "busybox.oci.tar")); err != nil {
		return nil, fmt.Errorf("podctl image import: %w: %s", err, out)
	}
	return p, nil
}

// cgroupRoot is podd's --cgroup-root.
func (p *poddInstance) cgroupRoot() string {
	for i, a := range p.args {
		if a == "--cgroup-root" && i+1 < len(p.args) {
			return p.args[i+1]
		}
	}
	return cgroups.DefaultParent
}

// start starts podd and waits until its API answers; it returns the time that took.
func (p *poddInstance) start(ctx context.Context) (time.Duration, error) {
	begin := time.Now()
	pr, err := startProc(exec.Command(p.b.opts.podd, p.args...), filepath.Join(p.dir, "podd.log"))
	if err != nil {
		return 0, err
	}
	p.proc = pr
	for {
		if !pr.running() {
			return 0, fmt.Errorf("podd exited: %v (log: %s)", pr.err, pr.log)
		}
		vctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := p.client.Version(vctx)
		cancel()
		if err == nil {
			return time.Since(begin), nil
		}
		if time.Since(begin) > time.Minute {
			return 0, fmt.Errorf("podd did not answer within a minute: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *poddInstance) podctl(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, p.b.opts.podctl, append([]string{"--socket", p.socket}, args...)...).CombinedOutput()
}

// runTimed times `podctl run FILE`, which returns once every container has started, and checks
// that they all run.
func (p *poddInstance) runTimed(ctx context.Context, path, name string) (time.Duration, error) {
	start := time.Now()
	out, err := p.podctl(ctx, "run", path)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("podctl run %s: %w: %s", name, err, out)
	}
	got, err := p.client.GetPod(ctx, "default", name)
	if err != nil {
		return 0, err
	}
	if !allRunning(got) {
		return 0, fmt.Errorf("podctl run %s returned before all containers ran: %+v", name, got.Status.ContainerStatuses)
	}
	return d, nil
}

func allRunning(p *pod.Pod) bool {
	if len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil {
			return false
		}
	}
	return true
}

func (p *poddInstance) stopTimed(ctx context.Context, name string, grace int) (time.Duration, error) {
	start := time.Now()
	out, err := p.podctl(ctx, "stop", name, "--grace", fmt.Sprint(grace))
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("podctl stop %s: %w: %s", name, err, out)
	}
	return d, nil
}

func (p *poddInstance) remove(ctx context.Context, name string) error {
	if out, err := p.podctl(ctx, "rm", "--force", name); err != nil {
		return fmt.Errorf("podctl rm %s: %w: %s", name, err, out)
	}
	return nil
}

// measureDensity runs the pods at once (one manifest), then reads podd's RSS, the shims of the
// bench's containerd, and the memory the pods cost.
func (b *bench) measureDensity(ctx context.Context) error {
	p := b.podd
	n := b.opts.pods
	// A fresh podd: its RSS then reflects the pods it runs, not the history of the start runs.
	p.proc.stop(10 * time.Second)
	if _, err := p.start(ctx); err != nil {
		return err
	}
	time.Sleep(time.Second)
	b.res.PoddRSSIdle = float64(procKB(p.proc.cmd.Process.Pid, "status", "VmRSS")) / 1024
	shimsBefore := len(shimsOf(listProcs(), b.address))
	availBefore := memAvailableKB()

	var docs []string
	for i := range n {
		docs = append(docs, manifest(fmt.Sprintf("density-%d", i+1), sleepForever))
	}
	path, err := b.writeManifest("density", strings.Join(docs, "---\n"))
	if err != nil {
		return err
	}
	start := time.Now()
	if out, err := p.podctl(ctx, "run", path); err != nil {
		return fmt.Errorf("podctl run %d pods: %w: %s", n, err, out)
	}
	fmt.Fprintf(os.Stderr, "podbench: %d pods started in %v\n", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // let the loggers and shims settle
	if err := p.checkAllRunning(ctx, "density", n); err != nil {
		return err
	}
	procs := listProcs()
	shims := shimsOf(procs, b.address)
	pss := pssUnder(procs, shims)
	b.res.DensityPods = n
	pid := p.proc.cmd.Process.Pid
	b.res.PoddRSS = float64(procKB(pid, "status", "VmRSS")) / 1024
	b.res.PoddRSSAnon = float64(procKB(pid, "status", "RssAnon")) / 1024
	b.res.PoddRSSFile = float64(procKB(pid, "status", "RssFile")) / 1024
	b.res.PoddThreads = int(procKB(pid, "status", "Threads"))
	b.res.ShimsPerPod = float64(len(shims)-shimsBefore) / float64(n)
	b.res.MemPerPod = float64(pss) / 1024 / float64(n)
	b.res.MemAvailPerPod = float64(availBefore-memAvailableKB()) / 1024 / float64(n)
	if b.opts.profileDir != "" {
		if err := saveProfiles(ctx, b.opts.profileDir); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "podbench: %d pods: podd RSS %.1f MiB, %d shims (%d before), PSS %.1f MiB per pod\n",
		n, b.res.PoddRSS, len(shims), shimsBefore, b.res.MemPerPod)
	return nil
}

// checkAllRunning: n pods named prefix-* are Running with every container running.
func (p *poddInstance) checkAllRunning(ctx context.Context, prefix string, n int) error {
	pods, err := p.client.ListPods(ctx, "default")
	if err != nil {
		return err
	}
	running := 0
	for _, x := range pods {
		if strings.HasPrefix(x.Metadata.Name, prefix+"-") && x.Status.Phase == pod.PodRunning && allRunning(x) {
			running++
		}
	}
	if running != n {
		return fmt.Errorf("%d of %d pods running", running, n)
	}
	return nil
}

// measureRestore kills podd with SIGKILL while the pods run and times its restart: from the start
// of the new process until its API lists every pod Running with all containers running.
func (b *bench) measureRestore(ctx context.Context) error {
	p := b.podd
	n := b.opts.pods
	var runs []time.Duration
	for i := range b.opts.restoreRuns {
		p.proc.kill()
		begin := time.Now()
		pr, err := startProc(exec.Command(b.opts.podd, p.args...), filepath.Join(p.dir, "podd.log"))
		if err != nil {
			return err
		}
		p.proc = pr
		for {
			if !pr.running() {
				return fmt.Errorf("podd exited: %v (log: %s)", pr.err, pr.log)
			}
			if time.Since(begin) > 2*time.Minute {
				return fmt.Errorf("not all %d pods Running 2 minutes after the restart", n)
			}
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := p.checkAllRunning(lctx, "density", n)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(begin)
		runs = append(runs, d)
		b.res.RestoreRuns = append(b.res.RestoreRuns, float64(d)/float64(time.Millisecond))
		fmt.Fprintf(os.Stderr, "podbench: restore %d/%d: %v\n", i+1, b.opts.restoreRuns, d.Round(time.Millisecond))
		time.Sleep(time.Second)
	}
	b.res.Restore = percentile(runs, 50)
	return nil
}

const pprofAddress = "127.0.0.1:16060"

// saveProfiles fetches podd's heap, allocs and goroutine profiles (go tool pprof FILE).
func saveProfiles(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"heap", "allocs", "goroutine", "heap?debug=1"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddress+"/debug/pprof/"+name, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		file := name + ".pb.gz"
		if name == "heap?debug=1" {
			file = "heap.txt"
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "podbench: podd's profiles are in %s\n", dir)
	return nil
}
