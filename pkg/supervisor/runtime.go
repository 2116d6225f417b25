package supervisor

import (
	"context"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// ExitStatus is how a container's process ended.
type ExitStatus struct {
	Code     int32
	ExitedAt time.Time
	// OOMKilled: the kernel's OOM killer ended the main process.
	OOMKilled bool
}

// Process is a started (or adopted) container process.
type Process struct {
	Pid       uint32
	StartedAt time.Time
	// Exit delivers exactly one ExitStatus when the process ends.
	Exit <-chan ExitStatus
	// OOMKills delivers, while the process runs, how many of the container's other processes
	// the OOM killer killed since the last delivery (nil: the runtime cannot tell).
	OOMKills <-chan int
	// Notify, when the runtime offers it, replaces waiting on Exit and OOMKills: the runtime then
	// calls exit once when the process ends, and kills with each count it would have sent on
	// OOMKills, in order, from goroutines of its own (a call may block) that exist only for
	// the call, never after exit. A supervisor watches idle containers without a goroutine each.
	Notify func(exit func(ExitStatus), kills func(int))
}

// ContainerState is what containerd reports of a container podd created earlier.
type ContainerRecordState string

const (
	RecordCreated ContainerRecordState = "created" // container without a running task
	RecordRunning ContainerRecordState = "running"
	RecordStopped ContainerRecordState = "stopped"
)

// ContainerRecord describes a container found in the runtime, for reconciliation after a restart.
type ContainerRecord struct {
	ID         string
	PodUID     string
	Name       string
	Attempt    int
	Generation int // ContainerPlan.Generation of this instance
	State      ContainerRecordState
	Exit       ExitStatus // when stopped
	StartedAt  time.Time
	StopSignal string // the image's STOPSIGNAL, "" for SIGTERM
	ImageRef   string
	ImageID    string
}

// ExecOptions describes a command run in a running container.
type ExecOptions struct {
	Cmd    []string
	Tty    bool
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer
	Stderr io.Writer // ignored with Tty
	// Resize delivers terminal sizes while the command runs (Tty only); may be nil.
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// Runtime is what the supervisor needs from a container runtime. pkg/runtime implements it on
// containerd; tests use an in-memory fake. Every method is idempotent where it can be.
type Runtime interface {
	// EnsureImage makes the image present according to the pull policy and returns its config.
	EnsureImage(ctx context.Context, ref string, policy pod.PullPolicy) (*pod.ImageConfig, error)
	// CreateContainer creates a container (not yet started) and returns its ID.
	CreateContainer(ctx context.Context, sb *pod.Sandbox, plan *pod.ContainerPlan) (string, error)
	// StartContainer starts a created container's process.
	StartContainer(ctx context.Context, id string) (*Process, error)
	// StartContainerOutput starts a created container's process with its stdout and stderr
	// going to out instead of a log (a run copy's, RunCopy); drained is closed once all of its
	// output was written.
	StartContainerOutput(ctx context.Context, id string, out io.Writer) (proc *Process, drained <-chan struct{}, err error)
	// AdoptContainer watches a container that is already running (after a podd restart).
	AdoptContainer(ctx context.Context, id string) (*Process, error)
	// SignalContainer sends a signal to the container's main process.
	SignalContainer(ctx context.Context, id string, sig syscall.Signal) error
	// RemoveContainer kills what still runs and deletes the task, the container and its snapshot.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists every container podd created, with its task's state, for the
	// reconciliation at start: the running ones are watched from then on, for AdoptContainer.
	ListContainers(ctx context.Context) ([]ContainerRecord, error)
	// PodContainers lists the IDs of the containers podd created for the pod of that UID,
	// earlier instances included.
	PodContainers(ctx context.Context, podUID string) ([]string, error)
	// RemoveUnusedSnapshots removes the container snapshots that no container uses: left by a
	// podd that died between preparing a container's snapshot and creating the container. It
	// returns how many it removed. Only safe while podd creates no container.
	RemoveUnusedSnapshots(ctx context.Context) (int, error)
	// Exec runs a command in a running container and returns its exit code. When ctx ends first,
	// the command and all its descendants are killed and ctx's error is returned.
	Exec(ctx context.Context, id string, opts ExecOptions) (int, error)
}

// networkSweeper is implemented by Sandboxes whose pod network can leave host rules that outlive
// their pods (a CNI DEL that could not find them, after a crash): SweepNetwork removes those of
// pods that hold nothing of the network any more. The supervisor runs it at start-up, once the
// orphan sandboxes are removed.
type networkSweeper interface {
	SweepNetwork(ctx context.Context) error
}

// warmSandboxes is implemented by Sandboxes that keep a pool of sandboxes prepared ahead of
// their pods (sandbox.Host's warm sandboxes). TakeWarm hands one over to a new pod that fits, as
// the UID the pod must take as its own; FillWarm keeps the pool full until ctx ends. The
// supervisor starts FillWarm once its start-up housekeeping is done (a warm sandbox left by an
// earlier podd is an orphan, removed by that housekeeping like any other).
type warmSandboxes interface {
	TakeWarm(p *pod.Pod) (uid string, ok bool)
	FillWarm(ctx context.Context)
}

// Sandboxes is what the supervisor needs of the pods' sandboxes on the host: namespaces,
// network, /etc files, volumes, cgroup. pkg/sandbox implements it; tests use an in-memory fake.
type Sandboxes interface {
	// SetupSandbox creates (or finds) the pod's network namespace, /etc files and volumes.
	SetupSandbox(ctx context.Context, p *pod.Pod) (*pod.Sandbox, error)
	// TeardownSandbox removes what SetupSandbox created for the pod of that UID, emptyDir
	// volumes included; it needs nothing but the UID so that orphans can be cleaned too.
	TeardownSandbox(ctx context.Context, uid string) error
	// ListSandboxes lists the UIDs of pods that have something of a sandbox on the host.
	ListSandboxes(ctx context.Context) ([]string, error)
	// RefreshDownwardAPI rewrites the pod's downwardAPI volumes, atomically, from its current
	// metadata (after a label or annotation change); a pod without a sandbox yet is left alone.
	RefreshDownwardAPI(ctx context.Context, p *pod.Pod) error
	// RefreshConfigVolumes rewrites the pod's configMap, secret and projected volumes,
	// atomically, from the ConfigMaps and Secrets as they are now; a pod without a sandbox yet
	// is left alone.
	RefreshConfigVolumes(ctx context.Context, p *pod.Pod) error
	// Dial connects from inside the pod's network namespace.
	Dial(ctx context.Context, sb *pod.Sandbox, network, address string) (net.Conn, error)
}
