// Package integration tests podd end to end: the built podd and podctl binaries against a real
// containerd and runc on this host.
//
// TestMain starts one private containerd per test binary (its own root, state, sockets and log in
// a temporary directory, so that it never touches the host's containerd), builds the test images
// as archives from the host's static busybox, and tears all of it down at the end: containers,
// shims, mounts and files. Tests reach it through the helpers of harness_test.go.
//
// Prerequisites are checked first: root, containerd, runc, containerd-shim-runc-v2, a static
// /bin/busybox, overlayfs and the go command. When one is missing the tests are skipped with a
// "SKIP integration: ..." line, except under CI=true, where that is a failure: CI must never pass
// by running nothing. -short skips them too, on request.
//
// podd and podctl are built lazily, by the first test that needs them, not by TestMain: a build
// failure then fails the tests that need podd, with the compiler's output, while the tests that
// need only containerd (image_test.go) still run. This keeps the harness useful while cmd/ is
// being written.
package integration

import (
	"bufio"
	"bytes"
	"context"
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
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/internal/privcontainerd"
)

// Test images, built by TestMain into archives. All are busybox from the host with a tag, so that
// imagePullPolicy defaults to IfNotPresent; the preloaded ones are imported (and unpacked) into
// every podd namespace before podd starts, since no registry can be reached.
const (
	// busyboxImage: Cmd ["sh"], PATH set; users root, podd (1000), nobody (65534).
	busyboxImage = "localhost/podd-test/busybox:1.35"
	// entrypointImage: ENTRYPOINT ["/bin/echo","ep"], CMD ["cmd"]; prints "ep cmd" when run as is.
	entrypointImage = "localhost/podd-test/busybox-entrypoint:1"
	// stopSignalImage: STOPSIGNAL SIGUSR1, WORKDIR /tmp, ENV FOO=bar, CMD ["sh"].
	stopSignalImage = "localhost/podd-test/busybox-stopsignal:1"
	// dockerImage is busyboxImage's content under another name, as a `docker save` archive, and
	// is not preloaded: tests import it (podctl image import) to see that format work.
	dockerImage = "localhost/podd-test/busybox-docker:1"
	// serverImage: CMD runs until SIGTERM, as a server's image does (it stands in for nginx in
	// the Kubernetes documentation's examples).
	serverImage = "localhost/podd-test/busybox-server:1"
	// patternsImage is the patterns' helper image (cmd/podd-patterns, entrypoint /podd-patterns,
	// no shell) as podd built without a version names it (api.PatternsImage). Not preloaded:
	// podd imports it from podd-patterns.tar beside its binary (buildPatternsImage).
	patternsImage = "localhost/podd/patterns:dev"
)

// testImage is one image TestMain builds.
type testImage struct {
	ref     string
	format  ociimage.Format
	opts    []ociimage.Option
	preload bool
	archive string // set by buildImages
}

var testImages = []*testImage{
	{ref: busyboxImage, format: ociimage.FormatOCI, preload: true},
	{ref: entrypointImage, format: ociimage.FormatOCI, preload: true, opts: []ociimage.Option{
		ociimage.WithEntrypoint("/bin/echo", "ep"), ociimage.WithCmd("cmd"),
	}},
	{ref: stopSignalImage, format: ociimage.FormatOCI, preload: true, opts: []ociimage.Option{
		ociimage.WithStopSignal("SIGUSR1"), ociimage.WithWorkingDir("/tmp"), ociimage.WithEnv("FOO=bar"),
	}},
	{ref: dockerImage, format: ociimage.FormatDocker},
	{ref: serverImage, format: ociimage.FormatOCI, preload: true, opts: []ociimage.Option{
		ociimage.WithCmd("sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"),
	}},
}

// Timeouts. They bound waits for things that should happen, so generous values cost nothing when
// all is well; they are not assertions about speed.
const (
	containerdStartTimeout = 30 * time.Second
	daemonStopTimeout      = 15 * time.Second
	poddStartTimeout       = 60 * time.Second
	teardownTimeout        = 2 * time.Minute
)

// harness is what TestMain sets up once for the whole test binary.
type harness struct {
	dir        string // the private temporary directory everything lives under
	containerd *daemon
	address    string // containerd's gRPC socket
	client     *containerd.Client

	teardownOnce sync.Once
	teardownErr  error
}

// h is the harness of this test binary; nil until TestMain has set it up.
var h *harness

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("SKIP integration: -short")
		return 0
	}
	if missing := missingPrerequisites(); len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL integration: CI=true and prerequisites are missing:\n  - %s\n", strings.Join(missing, "\n  - "))
			return 1
		}
		fmt.Printf("SKIP integration: missing prerequisites (with CI=true this fails):\n  - %s\n", strings.Join(missing, "\n  - "))
		return 0
	}
	cleanStaleHarnesses()
	removeStaleCgroupRoots()

	var err error
	h, err = setUp()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL integration: set up:", err)
		if h != nil {
			h.dumpContainerdLog(os.Stderr)
			if err := h.tearDown(); err != nil {
				fmt.Fprintln(os.Stderr, "integration: tear down:", err)
			}
		}
		return 1
	}

	// An interrupted run (^C, or a CI runner cancelling) still stops what it started. A run killed
	// by go test's -timeout cannot; Pdeathsig kills the daemons then, and the next run's
	// cleanStaleHarnesses removes the rest.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "integration: %v: tearing down\n", sig)
		if err := h.tearDown(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: tear down:", err)
		}
		os.Exit(1)
	}()

	status := m.Run()

	signal.Stop(sigs)
	if status != 0 {
		h.dumpContainerdLog(os.Stderr)
	}
	if err := h.tearDown(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL integration: tear down left something behind:", err)
		return 1
	}
	return status
}

// missingPrerequisites lists what this host lacks to run the tests, in words a person can act on.
func missingPrerequisites() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (containerd and runc need it): run as root, e.g. sudo -E go test ./integration/")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" in PATH (apt-get install containerd runc)")
		}
	}
	if static, err := ociimage.IsStaticELF(ociimage.BusyboxPath); err != nil || !static {
		missing = append(missing, "a statically linked "+ociimage.BusyboxPath+" for the test images (apt-get install busybox-static)")
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !bytes.Contains(fs, []byte("\toverlay\n")) {
		missing = append(missing, "overlayfs in the kernel (modprobe overlay), for containerd's snapshotter")
	}
	missing = append(missing, missingNetworkPrerequisites()...)
	if _, err := exec.LookPath("go"); err != nil {
		missing = append(missing, "the go command in PATH, to build podd and the test programs")
	}
	return missing
}

func setUp() (*harness, error) {
	dir, err := makeHarnessDir()
	if err != nil {
		return nil, err
	}
	hs := &harness{dir: dir, address: filepath.Join(dir, "containerd.sock")}
	recordHostNetwork()
	ctx, cancel := context.WithTimeout(context.Background(), containerdStartTimeout)
	defer cancel()

	if hs.containerd, err = startContainerd(dir, hs.address); err != nil {
		return hs, err
	}
	if hs.client, err = waitForContainerd(ctx, hs.containerd, hs.address); err != nil {
		return hs, err
	}
	if err := buildImages(filepath.Join(dir, "images")); err != nil {
		return hs, err
	}
	return hs, nil
}

// makeHarnessDir creates the private directory and marks it with its owner, so that a later run can
// tell a leftover of a dead run from the directory of a live one.
func makeHarnessDir() (string, error) {
	dir, err := os.MkdirTemp("", harnessDirPrefix)
	if err != nil {
		return "", err
	}
	// Unix socket paths are limited to 108 bytes; a long TMPDIR falls back to /tmp.
	if len(dir) > 60 {
		os.Remove(dir)
		if dir, err = os.MkdirTemp("/tmp", harnessDirPrefix); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(processIdentity(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

const (
	harnessDirPrefix = "podd-integration-"
	ownerFile        = "owner"
)

// processIdentity is a pid and its start time, which together do not repeat when pids are reused;
// "" when the process does not exist.
func processIdentity(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fmt.Sprintf("%d %s", pid, fields[19]) // starttime, field 22 of stat
}

// cleanStaleHarnesses removes what runs that could not tear down (killed by go test's timeout,
// say) left behind: their shims, containers, mounts and directories.
func cleanStaleHarnesses() {
	var dirs []string
	for _, tmp := range []string{os.TempDir(), "/tmp"} {
		found, _ := filepath.Glob(filepath.Join(tmp, harnessDirPrefix+"*"))
		dirs = append(dirs, found...)
	}
	slices.Sort(dirs)
	for _, dir := range slices.Compact(dirs) {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not (yet) a harness directory
		}
		pid, _, _ := strings.Cut(string(owner), " ")
		if n, err := strconv.Atoi(pid); err == nil && processIdentity(n) == string(owner) {
			continue // its run is alive
		}
		fmt.Fprintf(os.Stderr, "integration: removing %s, left behind by an earlier run\n", dir)
		if err := cleanHarnessDir(dir, filepath.Join(dir, "containerd.sock")); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		}
	}
}

func startContainerd(dir, address string) (*daemon, error) {
	for _, sub := range []string{"root", "state", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o711); err != nil {
			return nil, err
		}
	}
	config := filepath.Join(dir, "config.toml")
	content := privcontainerd.Config(dir, address, "debug")
	if err := os.WriteFile(config, []byte(content), 0o644); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, err
	}
	return startDaemon(exec.Command(bin, "--config", config), filepath.Join(dir, "containerd.log"))
}

// waitForContainerd waits until containerd answers on its socket, and returns a client to it.
func waitForContainerd(ctx context.Context, d *daemon, address string) (*containerd.Client, error) {
	var lastErr error
	for {
		select {
		case <-d.exited:
			return nil, fmt.Errorf("containerd exited before it served: %v", d.waitErr)
		case <-ctx.Done():
			return nil, fmt.Errorf("containerd did not answer on %s: %w (last error: %v)", address, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := os.Stat(address); err != nil {
			lastErr = err
			continue
		}
		client, err := containerd.New(address, containerd.WithTimeout(2*time.Second))
		if err != nil {
			lastErr = err
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = client.Version(vctx)
		cancel()
		if err != nil {
			client.Close()
			lastErr = err
			continue
		}
		return client, nil
	}
}

// buildImages writes the archives of testImages into dir.
func buildImages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, img := range testImages {
		spec, err := ociimage.Busybox(img.ref, append([]ociimage.Option{ociimage.WithFormat(img.format)}, img.opts...)...)
		if err != nil {
			return err
		}
		name := strings.NewReplacer("/", "_", ":", "_").Replace(img.ref) + "." + string(img.format) + ".tar"
		img.archive = filepath.Join(dir, name)
		if err := writeArchive(img.archive, spec); err != nil {
			return fmt.Errorf("build image %s: %w", img.ref, err)
		}
	}
	return nil
}

func writeArchive(path string, spec ociimage.Spec) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := ociimage.Build(f, spec); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tearDown removes everything the harness created, once; it is safe to call from the signal
// handler while TestMain also calls it.
func (hs *harness) tearDown() error {
	hs.teardownOnce.Do(func() {
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
		defer cancel()

		stopAllPodds()
		if hs.client != nil {
			// Stopping containers through containerd first lets the shims exit by themselves.
			nss, err := hs.client.NamespaceService().List(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("list namespaces: %w", err))
			}
			for _, ns := range nss {
				if err := removeAllContainers(namespaces.WithNamespace(ctx, ns), hs.client); err != nil {
					errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
				}
			}
			hs.client.Close()
		}
		poddsMu.Lock()
		for _, p := range allPodds {
			if err := removeCgroupRoot(p.CgroupRoot); err != nil {
				errs = append(errs, fmt.Errorf("podd %s: %w", p.Namespace, err))
			}
		}
		poddsMu.Unlock()
		if err := cleanAllPodNetworks(); err != nil {
			errs = append(errs, err)
		}
		if hs.containerd != nil {
			if err := hs.containerd.stop(daemonStopTimeout); err != nil {
				errs = append(errs, fmt.Errorf("stop containerd: %w", err))
			}
		}
		if err := cleanHarnessDir(hs.dir, hs.address); err != nil {
			errs = append(errs, err)
		}
		hs.teardownErr = errors.Join(errs...)
	})
	return hs.teardownErr
}

// removeAllContainers kills and deletes every task and container of the context's namespace,
// with their snapshots.
func removeAllContainers(ctx context.Context, client *containerd.Client) error {
	ctrs, err := client.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	for _, c := range ctrs {
		if task, err := c.Task(ctx, nil); err == nil {
			waitCtx, cancel := context.WithTimeout(ctx, daemonStopTimeout)
			exited, err := task.Wait(waitCtx)
			if err == nil {
				if err := task.Kill(waitCtx, syscall.SIGKILL, containerd.WithKillAll); err == nil {
					<-exited
				}
			}
			cancel()
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, fmt.Errorf("delete task %s: %w", c.ID(), err))
			}
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			errs = append(errs, fmt.Errorf("delete container %s: %w", c.ID(), err))
		}
	}
	return errors.Join(errs...)
}

// cleanHarnessDir removes a harness directory whose containerd no longer runs: it kills that
// containerd's leftover shims and the containers they ran, unmounts what is mounted under dir and
// removes it.
func cleanHarnessDir(dir, address string) error {
	var errs []error
	if pids := shimsOf(dir, address); len(pids) > 0 {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(pids, 5*time.Second)
	}
	// A shim killed while its containers ran leaves them running, reparented: runc can still find
	// them by the state the shim gave it, under runc's default root for the namespace.
	taskRoot := filepath.Join(dir, "state", "io.containerd.runtime.v2.task")
	nsDirs, _ := os.ReadDir(taskRoot)
	for _, ns := range nsDirs {
		ids, _ := os.ReadDir(filepath.Join(taskRoot, ns.Name()))
		runcRoot := filepath.Join("/run/containerd/runc", ns.Name())
		for _, id := range ids {
			if _, err := os.Stat(filepath.Join(runcRoot, id.Name())); err != nil {
				continue
			}
			out, err := exec.Command("runc", "--root", runcRoot, "delete", "--force", id.Name()).CombinedOutput()
			if err != nil {
				errs = append(errs, fmt.Errorf("runc delete --force %s/%s: %w: %s", ns.Name(), id.Name(), err, bytes.TrimSpace(out)))
			}
		}
		os.Remove(runcRoot) // only when empty: another containerd may use the namespace too
	}
	if err := privcontainerd.UnmountAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// shimsOf finds the shims of the containerd whose socket is address: the shim carries the address
// on its command line (-address <sock>) and runs in a task directory under dir.
func shimsOf(dir, address string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		ours := false
		for i, a := range args {
			if (a == "-address" || a == "--address") && i+1 < len(args) && args[i+1] == address {
				ours = true
			}
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && strings.HasPrefix(cwd, dir+"/") {
			ours = true
		}
		if ours {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitGone waits until none of pids exists any more, or the timeout passes.
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				alive = true
			}
		}
		if !alive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dumpContainerdLog writes the end of containerd's log, for a failed run.
func (hs *harness) dumpContainerdLog(w io.Writer) {
	if hs.containerd == nil {
		return
	}
	fmt.Fprintf(w, "--- containerd log (%s), last lines ---\n", hs.containerd.logPath)
	tailFile(w, hs.containerd.logPath, 64<<10)
	fmt.Fprintln(w, "--- end of containerd log ---")
}

// tailFile writes at most the last n bytes of a file, from a line start.
func tailFile(w io.Writer, path string, n int64) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(w, err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, io.SeekStart)
		r := bufio.NewReader(f)
		r.ReadString('\n') // skip a partial line
		io.Copy(w, r)
		return
	}
	io.Copy(w, f)
}

// daemon is a process the harness started (containerd, or a podd) and will stop.
type daemon struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has exited; waitErr is set then
	waitErr error
}

// startDaemon starts cmd with its output appended to logPath.
func startDaemon(cmd *exec.Cmd, logPath string) (*daemon, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: if this test binary dies without tearing down (go test -timeout), so does the
	// daemon. It is sent when the thread that started the child exits, hence startOnSpawner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startOnSpawner(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	d := &daemon{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// stop sends SIGTERM, then SIGKILL when the daemon has not exited within timeout; the error says
// that SIGKILL was needed.
func (d *daemon) stop(timeout time.Duration) error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(timeout):
	}
	d.cmd.Process.Kill()
	<-d.exited
	return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", filepath.Base(d.cmd.Path), timeout)
}

// kill sends SIGKILL and waits for the exit.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.exited
}

// The spawner is one OS thread, locked for the life of the test binary, that starts every daemon.
// Pdeathsig fires when the *thread* that forked a child exits; Go ends a thread when a goroutine
// that locked it returns (as netns code does), so children forked from an arbitrary goroutine
// could be killed at random. This thread never exits.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startOnSpawner(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}
