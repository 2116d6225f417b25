package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"gopkg.in/yaml.v3"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/internal/privcontainerd"
	"github.com/podd-dev/podd/pkg/patterns"
)

// Snapshotter is the snapshotter podd and the tests use (containerd's default on Linux).
const snapshotter = "overlayfs"

// sharedNamespace is the containerd namespace of the shared podd.
const sharedNamespace = "podd-test"

// podctlTimeout bounds one podctl command, so that a hung podd fails a test instead of the run.
const podctlTimeout = 2 * time.Minute

// Result is what one podctl command did.
type Result struct {
	Stdout, Stderr string
	ExitCode       int // -1 when podctl did not exit by itself
}

func (r Result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
}

// Podd is one podd daemon of the tests, on the harness's containerd, with its own root, state,
// socket, containerd namespace and log file.
type Podd struct {
	Namespace string // containerd namespace
	Root      string // --root
	State     string // --state
	Socket    string // --socket
	LogPath   string // podd's stdout and stderr, appended across restarts
	// CgroupRoot is --cgroup-root: podd-test-<pid>-<n>, removed with the podd.
	CgroupRoot string
	Bridge     string // --bridge: a bridge (and CNI network) of this podd's own
	PodCIDR    string // --pod-cidr: a subnet that no other podd on this machine uses
	// Flags are extra podd flags; later ones win over the harness's defaults.
	Flags []string
	// PodSecurityDefaults starts podd with its own Pod Security defaults (baseline everywhere).
	// Without it the harness names the namespace "default" privileged, where the tests that
	// need hostNetwork, hostPath or hostPort run.
	PodSecurityDefaults bool
	// Manifests is podd's static pod folder (--manifests), empty at first.
	Manifests string
	// Env is added to podd's environment; Wrapper, when set, is the command podd runs under
	// (podd's path and arguments follow it), e.g. systemd-socket-activate.
	Env     []string
	Wrapper []string

	dir    string // holds all of the above
	shared bool

	mu sync.Mutex
	d  *daemon // nil when not running
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error

	sharedOnce sync.Once
	shared     *Podd
	sharedErr  error

	poddsMu   sync.Mutex
	allPodds  []*Podd
	poddCount atomic.Int32

	// sharedUsers are the tests that registered to see the shared podd's log when they fail.
	sharedUsers sync.Map // *testing.T → struct{}
)

// requireHarness fails a test that runs without TestMain's set up (it cannot happen through
// go test, but a helper called from an init or a benchmark with another TestMain would).
func requireHarness(t testing.TB) {
	t.Helper()
	if h == nil {
		t.Fatal("integration harness is not set up (TestMain did not run)")
	}
}

// poddBinaries builds podd and podctl once per test binary, on first use, and returns their paths.
// A build failure fails every test that needs them, with the compiler's output.
func poddBinaries(t testing.TB) (podd, podctl string) {
	t.Helper()
	requireHarness(t)
	binOnce.Do(func() {
		binDir = filepath.Join(h.dir, "bin")
		binErr = goBuild(nil, binDir+"/", "./cmd/podd", "./cmd/podctl", "./cmd/podd-logger")
		if binErr == nil {
			binErr = buildPatternsImage(binDir)
		}
	})
	if binErr != nil {
		t.Fatalf("build podd and podctl: %v", binErr)
	}
	return filepath.Join(binDir, "podd"), filepath.Join(binDir, "podctl")
}

// buildPatternsImage builds the patterns' helpers statically and packs them, as make does, into
// podd-patterns.tar beside podd, where podd finds the archive of patternsImage by default (and
// with the etcd backend, -tags etcd, into podd-patterns-etcd.tar for the image's etcd variant):
// every test podd imports them itself the first time one of its pods asks for one.
func buildPatternsImage(dir string) error {
	for _, v := range []struct{ variant, tags string }{{"", "-tags="}, {"etcd", "-tags=etcd"}} {
		suffix := ""
		if v.variant != "" {
			suffix = "-" + v.variant
		}
		static := filepath.Join(dir, "podd-patterns-static"+suffix)
		if err := goBuild([]string{"CGO_ENABLED=0"}, static, v.tags, "./cmd/podd-patterns"); err != nil {
			return err
		}
		spec := ociimage.Scratch(patterns.VariantImage(patternsImage, v.variant), ociimage.WithFile(static, "/podd-patterns", 0o755), ociimage.WithEntrypoint("/podd-patterns"))
		if err := writeArchive(filepath.Join(dir, "podd-patterns"+suffix+".tar"), spec); err != nil {
			return err
		}
	}
	return nil
}

// goBuild runs go build in the module's root directory.
func goBuild(env []string, output string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", output}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not in a Go module")
	}
	return filepath.Dir(gomod), nil
}

var (
	staticBinsMu sync.Mutex
	staticBins   = map[string]string{}
)

// goBuildStatic builds a package of this module (e.g. "./pkg/patterns/cmd/leader") as a static
// binary, once per test binary, for a test image (ociimage.WithFile); it returns the binary's path.
func goBuildStatic(t testing.TB, pkg string) string {
	t.Helper()
	requireHarness(t)
	staticBinsMu.Lock()
	defer staticBinsMu.Unlock()
	if path, ok := staticBins[pkg]; ok {
		return path
	}
	path := filepath.Join(h.dir, "static", strings.NewReplacer("/", "_", ".", "_").Replace(pkg))
	if err := goBuild([]string{"CGO_ENABLED=0"}, path, pkg); err != nil {
		t.Fatal(err)
	}
	staticBins[pkg] = path
	return path
}

// sharedPodd returns the podd that tests share, starting it on first use (namespace podd-test,
// with the test images preloaded). When the test fails, the part of podd's log written during it
// is added to the test's log. Tests that restart or kill podd must use startPodd instead.
func sharedPodd(t testing.TB) *Podd {
	t.Helper()
	requireHarness(t)
	poddBinaries(t)
	sharedOnce.Do(func() {
		shared = newPodd(sharedNamespace)
		shared.shared = true
		if sharedErr = shared.prepare(); sharedErr == nil {
			sharedErr = shared.start()
		}
	})
	if sharedErr != nil {
		t.Fatalf("start the shared podd: %v", sharedErr)
	}
	if _, seen := sharedUsers.LoadOrStore(t, struct{}{}); !seen {
		from := fileSize(shared.LogPath)
		t.Cleanup(func() {
			if !shared.Running() {
				t.Errorf("the shared podd exited during this test; it is restarted for the next")
			}
			if t.Failed() {
				shared.dumpLog(t, from)
			}
			sharedUsers.Delete(t)
		})
	}
	if !shared.Running() {
		// A podd that crashed in an earlier test fails that test, not every later one.
		if err := shared.start(); err != nil {
			t.Fatalf("restart the shared podd: %v", err)
		}
	}
	return shared
}

// startPodd starts a podd of the test's own, in a containerd namespace of its own (two podds in
// one namespace would reconcile away each other's containers), with the test images preloaded.
// Cleanup stops it, removes its containers and unmounts and removes its directories; its log is
// added to the test's log when the test fails.
func startPodd(t testing.TB) *Podd {
	return startPoddWith(t)
}

// startPoddWith is startPodd with extra podd flags (e.g. --restart-backoff-base 1s).
func startPoddWith(t testing.TB, flags ...string) *Podd {
	t.Helper()
	return startPoddConfigured(t, func(p *Podd) { p.Flags = flags })
}

// startPoddConfigured is startPodd with the Podd's settings (Flags, Env, Wrapper) changed by
// configure before podd starts.
func startPoddConfigured(t testing.TB, configure func(*Podd)) *Podd {
	t.Helper()
	requireHarness(t)
	poddBinaries(t)
	p := newPodd("podd-test-" + uniqueName(t))
	configure(p)
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLog(t, 0)
		}
		if err := p.remove(); err != nil {
			t.Errorf("clean up after podd %s: %v", p.Namespace, err)
		}
	})
	if err := p.prepare(); err != nil {
		t.Fatal(err)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func newPodd(namespace string) *Podd {
	// A short directory name: the socket path must stay under 108 bytes.
	n := poddCount.Add(1)
	dir := filepath.Join(h.dir, fmt.Sprintf("podd-%d", n))
	p := &Podd{
		CgroupRoot: newCgroupRoot(n),
		Namespace:  namespace,
		Root:       filepath.Join(dir, "root"),
		State:      filepath.Join(dir, "state"),
		Socket:     filepath.Join(dir, "podd.sock"),
		LogPath:    filepath.Join(dir, "podd.log"),
		Manifests:  filepath.Join(dir, "pods.d"),
		dir:        dir,
	}
	p.Bridge, p.PodCIDR = newPodNetwork()
	poddsMu.Lock()
	allPodds = append(allPodds, p)
	poddsMu.Unlock()
	return p
}

// prepare creates the podd's directories and imports the preloaded test images into its namespace.
func (p *Podd) prepare() error {
	if err := os.MkdirAll(p.Manifests, 0o755); err != nil {
		return err
	}
	ctx := namespaces.WithNamespace(context.Background(), p.Namespace)
	for _, img := range testImages {
		if !img.preload {
			continue
		}
		if _, err := importAndUnpack(ctx, h.client, img.archive); err != nil {
			return fmt.Errorf("preload %s into namespace %s: %w", img.ref, p.Namespace, err)
		}
	}
	return nil
}

// start starts podd and waits until it answers GET /v1/version on its socket.
func (p *Podd) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d != nil {
		select {
		case <-p.d.exited:
		default:
			return errors.New("podd is already running")
		}
	}
	cmd := p.command("debug")
	cmd.Env = append(os.Environ(), p.Env...)
	from := fileSize(p.LogPath)
	d, err := startDaemon(cmd, p.LogPath)
	if err != nil {
		return err
	}
	p.d = d
	return p.waitServing(from)
}

// command is podd's command line for this instance: its own containerd namespace, root, state,
// socket, cgroup root, static folder, bridge and subnet, so that it never touches the host's
// defaults (the bridge podd0, 10.123.0.0/16, /etc/podd/pods.d) or another test's podd.
func (p *Podd) command(logLevel string) *exec.Cmd {
	poddBin := filepath.Join(binDir, "podd")
	cmd := exec.Command(poddBin,
		"--containerd-address", h.address,
		"--namespace", p.Namespace,
		"--root", p.Root,
		"--state", p.State,
		"--socket", p.Socket,
		"--cgroup-root", p.CgroupRoot,
		"--manifests", p.Manifests,
		"--log-level", logLevel,
		// Tests restart containers often: a short backoff unless a test sets its own.
		"--restart-backoff-base", "500ms",
		"--restart-backoff-max", "2s",
		"--bridge", p.Bridge,
		"--pod-cidr", p.PodCIDR,
	)
	if !p.PodSecurityDefaults {
		cmd.Args = append(cmd.Args, "--pod-security-namespace", "default=privileged")
	}
	cmd.Args = append(cmd.Args, p.Flags...)
	if !slices.Contains(p.Flags, "--warm-sandboxes") {
		// No pool of warm sandboxes unless a test asks for one (or PODD_TEST_WARM_SANDBOXES
		// sets one for all): a warm sandbox is a sandbox of no pod, which a test that counts
		// the host's namespaces, addresses and veths would have to tell from a leak.
		cmd.Args = append(cmd.Args, "--warm-sandboxes", strconv.Itoa(defaultWarmSandboxes()))
	}
	if !slices.Contains(p.Flags, "--dns-upstream") {
		// Names the cluster DNS does not know go nowhere off this machine: to a loopback port
		// where nothing listens, so that a test never resolves an outside name.
		cmd.Args = append(cmd.Args, "--dns-upstream", "127.0.0.1:9")
	}
	if len(p.Wrapper) > 0 {
		cmd = exec.Command(p.Wrapper[0], append(p.Wrapper[1:], cmd.Args...)...)
	}
	return cmd
}

// waitServing waits until the podd just started answers; it is killed when it does not.
func (p *Podd) waitServing(from int64) error {
	d := p.d
	ctx, cancel := context.WithTimeout(context.Background(), poddStartTimeout)
	defer cancel()
	if err := waitForPodd(ctx, d, p.Socket); err != nil {
		d.kill()
		var log bytes.Buffer
		copyFileFrom(&log, p.LogPath, from)
		return fmt.Errorf("podd (namespace %s): %w\npodd's log:\n%s", p.Namespace, err, log.String())
	}
	return nil
}

func waitForPodd(ctx context.Context, d *daemon, socket string) error {
	client := unixHTTPClient(socket)
	defer client.CloseIdleConnections()
	var lastErr error
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("exited before it served: %v", d.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("did not answer GET /v1/version on %s: %w (last error: %v)", socket, ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://podd/v1/version", nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("GET /v1/version: %s", resp.Status)
		}
		cancel()
		lastErr = err
	}
}

func unixHTTPClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// Running reports whether the podd process runs.
func (p *Podd) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d == nil {
		return false
	}
	select {
	case <-p.d.exited:
		return false
	default:
		return true
	}
}

// Start starts a podd that Stop or Kill9 stopped.
func (p *Podd) Start(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// Stop stops podd with SIGTERM and waits for it; it fails the test when podd needs a SIGKILL.
// Pods keep running: podd's workloads outlive it.
func (p *Podd) Stop(t testing.TB) {
	t.Helper()
	p.refuseShared(t, "Stop")
	if err := p.stop(); err != nil {
		t.Error(err)
	}
}

// Restart stops podd with SIGTERM, waits for it, and starts it again.
func (p *Podd) Restart(t testing.TB) {
	t.Helper()
	p.refuseShared(t, "Restart")
	if err := p.stop(); err != nil {
		t.Error(err)
	}
	p.Start(t)
}

// Kill9 kills podd with SIGKILL, as a crash would, and waits for it to be gone; Start brings it back.
func (p *Podd) Kill9(t testing.TB) {
	t.Helper()
	p.refuseShared(t, "Kill9")
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d != nil {
		p.d.kill()
	}
}

func (p *Podd) refuseShared(t testing.TB, what string) {
	t.Helper()
	if p.shared {
		t.Fatalf("%s on the shared podd would disturb other tests: use startPodd(t)", what)
	}
}

func (p *Podd) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d == nil {
		return nil
	}
	if err := p.d.stop(daemonStopTimeout); err != nil {
		return fmt.Errorf("podd %s: %w", p.Namespace, err)
	}
	return nil
}

// remove stops podd and removes everything it and its pods left: containers, mounts, files.
func (p *Podd) remove() error {
	var errs []error
	if err := p.stop(); err != nil {
		errs = append(errs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	if err := removeAllContainers(namespaces.WithNamespace(ctx, p.Namespace), h.client); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroupRoot(p.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	if err := cleanPodNetwork(p); err != nil {
		errs = append(errs, err)
	}
	if err := privcontainerd.UnmountAll(p.dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(p.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stopAllPodds stops every podd still running, for the harness's tear down.
func stopAllPodds() {
	poddsMu.Lock()
	podds := append([]*Podd(nil), allPodds...)
	poddsMu.Unlock()
	for _, p := range podds {
		if err := p.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
		}
	}
}

// dumpLog adds podd's log, from offset from on, to the test's log.
func (p *Podd) dumpLog(t testing.TB, from int64) {
	t.Helper()
	var b bytes.Buffer
	copyFileFrom(&b, p.LogPath, from)
	t.Logf("podd log (%s, namespace %s):\n%s", p.LogPath, p.Namespace, b.String())
}

// Podctl runs podctl against this podd.
func (p *Podd) Podctl(t testing.TB, args ...string) Result {
	t.Helper()
	return p.PodctlInput(t, nil, args...)
}

// PodctlInput runs podctl against this podd with stdin.
func (p *Podd) PodctlInput(t testing.TB, stdin io.Reader, args ...string) Result {
	t.Helper()
	_, podctlBin := poddBinaries(t)
	// Not t.Context(): cleanups run podctl too, after that context is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), podctlTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, podctlBin, append([]string{"--socket", p.Socket}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	default:
		t.Fatalf("podctl %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("podctl %s did not finish within %v\n%s", strings.Join(args, " "), podctlTimeout, res)
	}
	return res
}

// RunManifest writes yaml to a file and runs `podctl run` with it; it fails the test unless
// podctl succeeds. Cleanup removes the manifest's pods with `podctl rm`.
func (p *Podd) RunManifest(t testing.TB, manifest string) Result {
	t.Helper()
	path := writeManifest(t, manifest)
	for _, ref := range manifestPods(t, manifest) {
		t.Cleanup(func() {
			args := []string{"rm"}
			if ref.namespace != "" && ref.namespace != "default" {
				args = append(args, "--namespace", ref.namespace)
			}
			if res := p.Podctl(t, append(args, ref.name)...); res.ExitCode != 0 {
				t.Logf("clean up: podctl %s: %s", strings.Join(args, " "), res)
			}
		})
	}
	res := p.Podctl(t, "run", path)
	if res.ExitCode != 0 {
		t.Fatalf("podctl run %s:\n%s\nmanifest:\n%s", path, res, manifest)
	}
	return res
}

type podRef struct{ namespace, name string }

// manifestPods lists the pods that a manifest's documents name.
func manifestPods(t testing.TB, manifest string) []podRef {
	t.Helper()
	var refs []podRef
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return refs
		}
		if err != nil {
			return refs // an invalid manifest is what some tests send; podctl will say so
		}
		if doc.Kind == "Pod" && doc.Metadata.Name != "" {
			refs = append(refs, podRef{doc.Metadata.Namespace, doc.Metadata.Name})
		}
	}
}

// runManifest runs a manifest on the shared podd (see Podd.RunManifest).
func runManifest(t testing.TB, manifest string) Result {
	t.Helper()
	return sharedPodd(t).RunManifest(t, manifest)
}

// writeManifest writes a manifest to a file of the test's and returns its path.
func writeManifest(t testing.TB, manifest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// containerdClient returns the client of the harness's containerd, shared by all tests (do not
// close it). Use nsContext or Podd.Context to pick a namespace.
func containerdClient(t testing.TB) *containerd.Client {
	t.Helper()
	requireHarness(t)
	return h.client
}

// nsContext is a context in a containerd namespace. It is not cancelled with the test, so
// cleanups can use it.
func nsContext(ns string) context.Context {
	return namespaces.WithNamespace(context.Background(), ns)
}

// Context is a context in podd's containerd namespace, for inspecting what podd created.
func (p *Podd) Context() context.Context { return nsContext(p.Namespace) }

// Containers lists the containers in podd's namespace.
func (p *Podd) Containers(t testing.TB) []containers.Container {
	t.Helper()
	ctrs, err := containerdClient(t).ContainerService().List(p.Context())
	if err != nil {
		t.Fatalf("list containers in namespace %s: %v", p.Namespace, err)
	}
	return ctrs
}

// Snapshots lists the snapshots in podd's namespace, the image layers' included.
func (p *Podd) Snapshots(t testing.TB) []snapshots.Info {
	t.Helper()
	var infos []snapshots.Info
	err := containerdClient(t).SnapshotService(snapshotter).Walk(p.Context(), func(_ context.Context, info snapshots.Info) error {
		infos = append(infos, info)
		return nil
	})
	if err != nil {
		t.Fatalf("list snapshots in namespace %s: %v", p.Namespace, err)
	}
	return infos
}

// Tasks lists the IDs of the containers in podd's namespace that have a task (running, or exited
// and not yet deleted).
func (p *Podd) Tasks(t testing.TB) []string {
	t.Helper()
	var ids []string
	for _, c := range p.Containers(t) {
		ctr, err := containerdClient(t).LoadContainer(p.Context(), c.ID)
		if err != nil {
			continue // removed meanwhile
		}
		if _, err := ctr.Task(p.Context(), nil); err == nil {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// NetnsDir is where podd bind-mounts the pods' network namespaces.
func (p *Podd) NetnsDir() string { return filepath.Join(p.State, "netns") }

// NetnsFiles lists the files in podd's netns directory.
func (p *Podd) NetnsFiles(t testing.TB) []string {
	t.Helper()
	return listDir(t, p.NetnsDir())
}

// countMounts counts the mount points at or under path, in the tests' (and podd's) mount namespace.
func countMounts(t testing.TB, path string) int {
	t.Helper()
	mounts, err := privcontainerd.MountsUnder(path)
	if err != nil {
		t.Fatalf("read mountinfo: %v", err)
	}
	return len(mounts)
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// imageArchive returns the path of a test image's archive (busyboxImage, dockerImage, ...).
func imageArchive(t testing.TB, ref string) string {
	t.Helper()
	requireHarness(t)
	for _, img := range testImages {
		if img.ref == ref {
			return img.archive
		}
	}
	t.Fatalf("%s is not a test image", ref)
	return ""
}

// buildImage writes a test's own image archive (ociimage.Busybox with options, say) and returns
// its path.
func buildImage(t testing.TB, spec ociimage.Spec) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := writeArchive(path, spec); err != nil {
		t.Fatalf("build image %s: %v", spec.Name, err)
	}
	return path
}

// importArchive imports an image archive into the context's namespace with the containerd client
// alone, as podd's image import does, and unpacks its images for the snapshotter.
func importArchive(t testing.TB, ctx context.Context, path string) []images.Image {
	t.Helper()
	imgs, err := importAndUnpack(ctx, containerdClient(t), path)
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func importAndUnpack(ctx context.Context, client *containerd.Client, path string) ([]images.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// containerd 1.6 has no transfer service: the v1.7 client imports on the client side.
	imgs, err := client.Import(ctx, f, containerd.WithAllPlatforms(false))
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	for _, img := range imgs {
		if err := containerd.NewImage(client, img).Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", img.Name, err)
		}
	}
	return imgs, nil
}

// uniqueName derives from the test's name (and parts, for a test that needs several) a name that is
// a DNS-1123 label, for pods, and a valid containerd identifier: lower case, at most 63
// characters, with a hash of the full name so that names cut short stay distinct.
func uniqueName(t testing.TB, parts ...string) string {
	full := strings.Join(append([]string{t.Name()}, parts...), "/")
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimPrefix(full, "Test")) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	base := b.String()
	const maxBase = 63 - 1 - 6
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	base = strings.TrimRight(base, "-")
	hash := fnv.New32a()
	hash.Write([]byte(full))
	suffix := fmt.Sprintf("%06x", hash.Sum32()&0xffffff)
	if base == "" {
		return "t" + suffix
	}
	return base + "-" + suffix
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// copyFileFrom copies a file from an offset on, at most 256 KiB of its end.
func copyFileFrom(w io.Writer, path string, from int64) {
	const max = 256 << 10
	if size := fileSize(path); size-from > max {
		fmt.Fprintf(w, "[%d bytes cut]\n", size-from-max)
		from = size - max
	}
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(w, err)
		return
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		fmt.Fprintln(w, err)
		return
	}
	io.Copy(w, f)
}
