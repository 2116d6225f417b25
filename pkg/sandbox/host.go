// Package sandbox makes what a pod's containers share on the host, without containerd: the pod's
// network, IPC and UTS namespaces (bind-mounted files, no pause container), its CNI attachment and
// hostPorts, its /etc files (hosts, hostname, resolv.conf), its volumes (emptyDir, hostPath,
// downwardAPI, persistentVolumeClaim) and subPath mounts, its cgroup with the pod's sums, and the figures read from them
// (cgroup and network stats, processes). Everything lives under podd's --root and --state, named
// by the pod's UID, so that a restarted podd finds it again and cleans what no pod owns.
package sandbox

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
)

// Config locates podd's folders and sets the pods' network and cgroups.
type Config struct {
	Root         string // persistent: pods/<uid>/...
	State        string // volatile: netns/<uid>, pods/<uid>/api, cni/
	CgroupParent string // default podd
	// PodPidsLimit is the pids limit of every pod cgroup; 0 or less: none.
	PodPidsLimit int64
	// PidsLimit is the pids limit of CgroupParent, all pods together; 0 or less: none.
	PidsLimit int64
	// Network is the pods' bridge network.
	Network NetworkConfig
	// PIDInit is the binary started, with pidinit.Arg, as PID 1 of a pod's shared PID namespace
	// (shareProcessNamespace): podd-logger, or podd.
	PIDInit string
	// ClusterDomain is the cluster DNS's domain (cluster.local): pods with dnsPolicy ClusterFirst
	// get the bridge's gateway as their nameserver and the cluster's search path. Empty: podd
	// serves no cluster DNS, and such pods get the host's resolvers, as under a kubelet without one.
	ClusterDomain string
	// Configs holds the ConfigMaps and Secrets of configMap, secret and projected volumes.
	Configs pod.ConfigSource
	// WarmSandboxes is the size of the pool of warm sandboxes (warm.go); 0: none.
	WarmSandboxes int
}

// Host makes and removes pod sandboxes on this host. It is safe for concurrent use.
type Host struct {
	cfg      Config
	log      *slog.Logger
	cgroupFS cgroups.FS
	net      *cniNetwork
	// netMu orders attachments, detachments and hosts file updates.
	netMu sync.Mutex
	// hostsWritten is a digest of what podd last wrote into each bridge pod's hosts file, by pod
	// UID, under netMu: podd never reads the file back (its containers can write into it).
	hostsWritten map[string][sha256.Size]byte
	// machineMemory is the host's memory: the downward API's limit of a container without one.
	machineMemory int64
	// claims finds the folders of persistentVolumeClaim volumes (SetClaims).
	claims Claims
	// warm is the pool of warm sandboxes.
	warm warmPool
}

// Claims finds the folder a PersistentVolumeClaim of a namespace is bound to; an error when the
// claim is missing (NotFound) or not bound yet (Unavailable): the pod waits and tries again.
// pkg/controller's ClaimPaths implements it; the sandbox declares it so as not to import it.
type Claims interface {
	ClaimPath(namespace, name string) (string, error)
}

// SetClaims gives the host the claims' folders, before any pod's sandbox is set up.
func (r *Host) SetClaims(c Claims) { r.claims = c }

// New prepares podd's folders and the pod network's configuration.
func New(cfg Config, log *slog.Logger) (*Host, error) {
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "podd"
	}
	for _, dir := range []string{cfg.Root, filepath.Join(cfg.Root, "pods"), cfg.State, filepath.Join(cfg.State, "netns")} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	network, err := newCNINetwork(cfg.Network, cfg.State)
	if err != nil {
		return nil, err
	}
	cgfs, err := cgroups.Load(cgroups.MountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("find cgroup hierarchies: %w", err)
	}
	if err := cgroups.SetupParent(cgfs, cfg.CgroupParent, cfg.PidsLimit); err != nil {
		return nil, fmt.Errorf("set the pids limit of all pods (--pids-limit): %w", err)
	}
	mem, err := cgroups.MachineMemory()
	if err != nil {
		return nil, err
	}
	return &Host{cfg: cfg, log: log, cgroupFS: cgfs, net: network, machineMemory: mem, hostsWritten: map[string][sha256.Size]byte{},
		warm: warmPool{size: cfg.WarmSandboxes, taken: make(chan struct{}, 1), idle: 200 * time.Millisecond}}, nil
}

// Gateway is the pods' gateway on the bridge: the address of the cluster DNS.
func (r *Host) Gateway() netip.Addr { return r.net.gateway }

// PodCIDR is the subnet of the pods' addresses.
func (r *Host) PodCIDR() netip.Prefix { return netip.MustParsePrefix(r.net.cfg.PodCIDR) }

// PodDir is the pod's persistent folder: volumes, subPath mounts and /etc files.
func (r *Host) PodDir(uid string) string { return filepath.Join(r.cfg.Root, "pods", uid) }

// PodStateDir is the pod's folder under --state: runtime files that need not survive a reboot.
func (r *Host) PodStateDir(uid string) string { return filepath.Join(r.cfg.State, "pods", uid) }

// PodAPIDir is the folder of the pod's API socket (pkg/api's PodSockets listens there), which
// containers that asked for it (pod.AnnotationAPISocket) get mounted at pod.APISocketMountPath.
func (r *Host) PodAPIDir(uid string) string { return filepath.Join(r.PodStateDir(uid), "api") }

// node is the host's capacity, as the downward API reports it for containers without a limit.
func (r *Host) node() pod.NodeCapacity {
	return pod.NodeCapacity{MilliCPU: int64(goruntime.NumCPU()) * 1000, MemoryBytes: r.machineMemory}
}
