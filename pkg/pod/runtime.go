package pod

import (
	"time"
)

// ImageConfig is what an image says about how to run it.
type ImageConfig struct {
	Ref        string   // the reference as resolved (docker.io/library/busybox:latest)
	ID         string   // the image's config digest
	Entrypoint []string // ENTRYPOINT
	Cmd        []string // CMD
	Env        []string // KEY=VALUE
	WorkingDir string
	User       string
	StopSignal string
}

// Mount is one mount of a container, already resolved to a host path.
type Mount struct {
	Source string
	// SubPath, when set, is a path inside Source to mount instead; the runtime resolves it with
	// Source as its root, so a symlink a container left in the volume cannot lead outside it.
	SubPath     string
	Destination string
	ReadOnly    bool
}

// ContainerPlan is everything the runtime needs to create one instance of a container; the
// Kubernetes semantics (command/args against the image, env, $(VAR)) are resolved before it.
type ContainerPlan struct {
	PodUID       string
	PodName      string
	PodNamespace string
	Name         string // the container's name in the pod
	Attempt      int    // 0 for the first instance, +1 per restart
	Image        ImageConfig
	Args         []string // argv, resolved
	Env          []string // KEY=VALUE, resolved, image's env included
	WorkingDir   string
	// User is the image's USER unless RunAsUser/RunAsGroup override it.
	User           string
	RunAsUser      *int64
	RunAsGroup     *int64
	ReadOnlyRootfs bool
	// Security is the rest of the container's effective securityContext.
	Security SecurityPlan
	// Mounts are the container's volume mounts; a subPath source that does not exist yet is
	// created as a directory, as the kubelet does.
	Mounts  []Mount
	LogPath string
	// Generation counts the instances of this attempt that failed to start (0 at first): each
	// gets a container ID of its own, since a task creation that failed midway (podd killed
	// during it, say) can leave containerd's state for that ID unusable.
	Generation int `json:"-"`
	// Resources are the container's limits and requests (requests defaulted), QOSClass the pod's:
	// the runtime turns them into cgroup settings and the process's oom_score_adj.
	Resources ResourceRequirements
	QOSClass  QOSClass
	// TTY gives the process a terminal (the container's tty), which is its stdin too.
	TTY bool
	// Retried is set by the runtime when it recreates a leftover container once.
	Retried bool `json:"-"`
}

// Sandbox is what the pod's containers share, as created on the host.
type Sandbox struct {
	NetNSPath    string // "" with hostNetwork
	IPCNSPath    string
	PIDNSPath    string // "" unless shareProcessNamespace
	UTSNSPath    string // "" with hostNetwork
	PodIPs       []string
	HostIP       string
	Hostname     string
	HostsPath    string
	HostnamePath string
	ResolvPath   string
	VolumePaths  map[string]string // volume name → host path
	// APISocketDir is the host folder of the per-pod API socket, "" unless the pod asked for it.
	APISocketDir string
	// Node is the host's capacity, the limit the downward API reports for a container without one.
	Node NodeCapacity
}

// Image is one image in the runtime's image store, as the API lists it.
type Image struct {
	Name      string    `json:"name"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
}
