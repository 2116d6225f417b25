package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// podman is Debian's podman configured privately: its configuration, storage, run folders and
// events log under the bench's folder, cgroupfs (no systemd here), runc like podd, and rlimits
// within this machine's hard limits (podman's defaults exceed them and every start fails).
type podman struct {
	b   *bench
	dir string
	env []string
}

const podmanConf = `[containers]
default_ulimits = ["nofile=%[2]d:%[2]d", "nproc=%[3]d:%[3]d"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%[1]s/events.log"
runtime = "runc"
tmp_dir = "%[1]s/tmp"
static_dir = "%[1]s/storage/libpod"
volume_path = "%[1]s/storage/volumes"
# catatonit, from which podman builds its pause image locally: no registry is reachable.
helper_binaries_dir = ["/usr/libexec/podman", "/usr/lib/podman", "/usr/bin"]

[network]
network_config_dir = "%[1]s/networks"
`

const podmanStorageConf = `[storage]
driver = "overlay"
graphroot = "%[1]s/storage"
runroot = "%[1]s/run"
`

func newPodman(ctx context.Context, b *bench) (*podman, error) {
	dir := filepath.Join(b.dir, "podman")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// nproc: 4096, within the hard limit; asking for the hard limit itself (96365 here) fails in
	// runc with EPERM on this VM.
	nofile, nproc := hardLimit(syscall.RLIMIT_NOFILE), min(hardLimit(unix.RLIMIT_NPROC), 4096)
	files := map[string]string{
		"containers.conf": fmt.Sprintf(podmanConf, dir, nofile, nproc),
		"storage.conf":    fmt.Sprintf(podmanStorageConf, dir),
		"registries.conf": "unqualified-search-registries = []\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	pm := &podman{b: b, dir: dir, env: []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf"),
	}}
	if out, err := pm.run(ctx, "load", "-q", "-i", filepath.Join(b.dir, "images", "busybox.docker.tar")); err != nil {
		return nil, fmt.Errorf("podman load: %w: %s", err, out)
	}
	return pm, nil
}

func (pm *podman) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := pm.b.command(ctx, "podman", args...)
	cmd.Env = append(os.Environ(), pm.env...)
	return cmd.CombinedOutput()
}

// playTimed times `podman kube play --network none FILE`, which returns once the pod's containers
// have started, and checks that they run.
func (pm *podman) playTimed(ctx context.Context, path, name string) (time.Duration, error) {
	start := time.Now()
	out, err := pm.run(ctx, "kube", "play", "--network", "none", path)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("podman kube play %s: %w: %s", name, err, out)
	}
	for _, c := range []string{"a", "b"} {
		out, err := pm.run(ctx, "inspect", "--format", "{{.State.Status}}", name+"-"+c)
		if err != nil || string(out) != "running\n" {
			return 0, fmt.Errorf("podman kube play %s returned, but container %s is %q (%v)", name, c, out, err)
		}
	}
	return d, nil
}

func (pm *podman) stopTimed(ctx context.Context, name string, grace int) (time.Duration, error) {
	start := time.Now()
	out, err := pm.run(ctx, "pod", "stop", "-t", fmt.Sprint(grace), name)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("podman pod stop %s: %w: %s", name, err, out)
	}
	return d, nil
}

func (pm *podman) remove(ctx context.Context, name string) error {
	if out, err := pm.run(ctx, "pod", "rm", "-f", "-t", "0", name); err != nil {
		return fmt.Errorf("podman pod rm %s: %w: %s", name, err, out)
	}
	if out, err := pm.run(ctx, "volume", "prune", "-f"); err != nil {
		return fmt.Errorf("podman volume prune: %w: %s", err, out)
	}
	return nil
}

// reset removes every pod, container, image and volume of the private storage.
func (pm *podman) reset(ctx context.Context) error {
	if out, err := pm.run(ctx, "system", "reset", "-f"); err != nil {
		return fmt.Errorf("podman system reset: %w: %s", err, out)
	}
	return nil
}
