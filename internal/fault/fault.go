// Package fault holds podd's named crash points, for the crash-safety tests: with the environment
// variable PODD_CRASH_AT=<name>[:<nth>] (several separated by commas), the nth time (default the
// first) the process passes Point(<name>), it kills itself with SIGKILL, exactly as a crash or a
// `kill -9` at that instant would. Unset, a point costs one atomic load.
package fault

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Env is the environment variable that arms crash points.
const Env = "PODD_CRASH_AT"

// Points are the names of the crash points compiled into podd, in the order a pod's creation and
// removal pass them; the crash-safety test iterates over all of them.
var Points = []string{
	CreateBeforeStore, CreateAfterStore,
	SandboxAfterNamespaces, NetworkAfterAdd, SandboxAfterSetup,
	ContainerAfterSnapshot, ContainerAfterCreate, ContainerAfterTask, ContainerAfterStart,
	RemoveAfterMark, ContainerRemoveAfterTask, RemoveAfterContainer,
	SandboxTeardownAfterNamespaces, RemoveAfterSandbox, RemoveBeforeStoreDelete,
}

// The crash points.
const (
	CreateBeforeStore              = "create/before-store"               // pods validated, not yet stored
	CreateAfterStore               = "create/after-store"                // stored, the API has not answered
	SandboxAfterNamespaces         = "sandbox/after-namespaces"          // namespaces bind-mounted, /etc files not written
	NetworkAfterAdd                = "network/after-add"                 // the CNI plugins' ADD ran (addresses, iptables rules), libcni has not cached its result
	SandboxAfterSetup              = "sandbox/after-setup"               // sandbox complete, no container yet
	ContainerAfterSnapshot         = "container/after-snapshot"          // rootfs snapshot prepared, no container record
	ContainerAfterCreate           = "container/after-create"            // container created, no task
	ContainerAfterTask             = "container/after-task"              // task (and shim) created, not started
	ContainerAfterStart            = "container/after-start"             // process started, podd has not recorded it
	RemoveAfterMark                = "remove/after-mark"                 // removal recorded in the store, nothing stopped
	ContainerRemoveAfterTask       = "container/remove/after-task"       // task deleted, container and snapshot remain
	RemoveAfterContainer           = "remove/after-container"            // one container of the pod removed
	SandboxTeardownAfterNamespaces = "sandbox/teardown/after-namespaces" // namespaces gone, pod folder and cgroups remain
	RemoveAfterSandbox             = "remove/after-sandbox"              // sandbox torn down, logs and record remain
	RemoveBeforeStoreDelete        = "remove/before-store-delete"        // everything gone but the record
)

// WarmPoints are the crash points of the warm sandboxes (sandbox.Host's pool): preparing one, and
// a pod taking one (its creation's own points, CreateBeforeStore and CreateAfterStore, pass
// with the warm sandbox taken).
var WarmPoints = []string{WarmAfterNamespaces}

// The warm sandboxes' crash points.
const (
	WarmAfterNamespaces = "warm/after-namespaces" // a warm sandbox's namespaces made, its network not attached
)

// JobPoints are the crash points of the Job controller's steps, in the order a sync passes them.
var JobPoints = []string{JobAfterStatus, JobAfterCreate}

// The Job controller's crash points.
const (
	JobAfterStatus = "job/after-status" // a Job's counts and settled pods stored, its pods not yet created or removed
	JobAfterCreate = "job/after-create" // one pod of a Job created, the next not yet
)

// ControllerPoints are the crash points of the workload controllers, in the order a Deployment's
// rollout passes them; the controllers' crash test iterates over them.
var ControllerPoints = []string{
	DeploymentAfterRevision, DeploymentAfterNewReplicaSet, DeploymentAfterScale,
	ReplicaSetBeforeCreate, ReplicaSetAfterCreate, ReplicaSetBeforeDelete,
}

// The crash points of the Deployment and ReplicaSet controllers.
const (
	DeploymentAfterRevision      = "deployment/after-revision"       // an existing ReplicaSet's new revision stored, nothing scaled
	DeploymentAfterNewReplicaSet = "deployment/after-new-replicaset" // the new ReplicaSet stored, with no pod yet
	DeploymentAfterScale         = "deployment/after-scale"          // one ReplicaSet's new replicas stored, the others' not yet
	ReplicaSetBeforeCreate       = "replicaset/before-create"        // pods named, not yet created
	ReplicaSetAfterCreate        = "replicaset/after-create"         // pods stored by the supervisor, status not written
	ReplicaSetBeforeDelete       = "replicaset/before-delete"        // a scale-down chose its pod, nothing removed
)

var (
	armed atomic.Bool
	mu    sync.Mutex
	want  map[string]int // name → the pass that crashes
	seen  map[string]int
)

func init() { arm(os.Getenv(Env)) }

func arm(spec string) {
	mu.Lock()
	defer mu.Unlock()
	want, seen = map[string]int{}, map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, nth, found := strings.Cut(item, ":")
		n := 1
		if found {
			if v, err := strconv.Atoi(nth); err == nil && v > 0 {
				n = v
			}
		}
		want[name] = n
	}
	armed.Store(len(want) > 0)
}

// Point is a named crash point: it returns at once unless PODD_CRASH_AT names it and this is the
// pass it names, in which case the process dies by SIGKILL and Point never returns.
func Point(name string) {
	if !armed.Load() {
		return
	}
	if !hit(name) {
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// hit counts a pass of the point and says whether it is the one to crash at.
func hit(name string) bool {
	mu.Lock()
	defer mu.Unlock()
	n, ok := want[name]
	if !ok {
		return false
	}
	seen[name]++
	return seen[name] == n
}
