// Package runtime implements the supervisor's Runtime on containerd, and only containerd: images
// (import, pull, resolve), OCI spec building, containers, tasks, their exits and OOM kills, and
// exec. The pod's sandbox on the host is pkg/sandbox's. Everything it creates carries podd's
// labels so a restarted podd finds it again.
package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Config locates containerd and podd's own folders.
type Config struct {
	Address      string // containerd's socket
	Namespace    string // containerd namespace holding everything podd creates
	Root         string // persistent: pods/<uid>/..., logs/
	State        string // volatile: netns/<uid>, ...
	Snapshotter  string // default overlayfs
	CgroupParent string // default podd
	// Logger is the binary containerd's shims start as each container's logger (the binary log
	// driver): podd's own, in its logger mode. Required to start containers.
	Logger string
	// LogMaxSize and LogMaxFiles are the containers' log rotation; 0: pkg/logs' defaults.
	LogMaxSize  int64
	LogMaxFiles int
	// SubPaths mounts the subPaths of a container's volumes before runc sees them (pkg/sandbox).
	SubPaths SubPathMounter
	// LocalImages are images podd imports from an archive on this host instead of pulling them,
	// by full reference (docker.io/... form, as NormalizeRef gives): the patterns' helper image.
	LocalImages map[string]string
}

// Runtime drives containerd. It is safe for concurrent use.
type Runtime struct {
	client   *containerd.Client
	cfg      Config
	log      *slog.Logger
	cgroupFS cgroups.FS

	// images caches what the images' content says (image.go).
	images imageCache
	// localMu serialises imports of LocalImages.
	localMu sync.Mutex
	// listed holds the running containers of the last ListContainers, watched, for
	// AdoptContainer.
	listedMu sync.Mutex
	listed   map[string]listedTask
	// machineMemory is the host's memory, for Burstable containers' oom_score_adj.
	machineMemory int64
	oomFloor      int
	exits         exitWatch
	shims         shimGate
	closed        atomic.Bool
}

var _ supervisor.Runtime = (*Runtime)(nil)

// New connects to containerd. It fails with errdefs.ErrUnavailable when containerd does not answer.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Runtime, error) {
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "podd"
	}
	for _, dir := range []string{cfg.Root, filepath.Join(cfg.Root, "logs"), cfg.State} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	client, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w: %w", cfg.Address, errdefs.ErrUnavailable, err)
	}
	cgfs, err := cgroups.Load(cgroups.MountinfoPath)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	mem, err := cgroups.MachineMemory()
	if err != nil {
		client.Close()
		return nil, err
	}
	r := &Runtime{client: client, cfg: cfg, log: log, cgroupFS: cgfs, machineMemory: mem, oomFloor: oomScoreAdjFloor()}
	if r.oomFloor > -1000 {
		log.Warn("podd lacks CAP_SYS_RESOURCE: containers get no oom_score_adj below 0 (Guaranteed pods get 0, not -997)")
	}
	if _, err := client.Version(r.ns(ctx)); err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd at %s does not answer: %w: %w", cfg.Address, errdefs.ErrUnavailable, err)
	}
	return r, nil
}

// Close releases the connection to containerd; containers keep running.
func (r *Runtime) Close() error {
	r.closed.Store(true)
	r.exits.mu.Lock()
	if r.exits.cancel != nil {
		r.exits.cancel()
	}
	r.exits.mu.Unlock()
	return r.client.Close()
}

// Client gives tests and tools the underlying containerd client.
func (r *Runtime) Client() *containerd.Client { return r.client }

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// SubPathMounter makes the host side of a container's subPath mounts (pkg/sandbox's Host).
type SubPathMounter interface {
	// BindSubPaths mounts each mount's subPath safely and points the mount at that mount.
	BindSubPaths(podUID, containerID string, mounts []pod.Mount) error
	// ReleaseSubPaths unmounts them once the container is removed.
	ReleaseSubPaths(podUID, containerID string) error
}
