// Package api is podd's wire: the JSON types of its HTTP API over a unix socket, the server's
// handlers, and the Go client that podctl uses.
package api

import (
	"context"
	"io"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Pods is what the server needs from the pod manager (pkg/pod implements it).
type Pods interface {
	// Create decodes, validates and stores every pod of a manifest (YAML or JSON, one or many
	// documents) and starts them; it creates all or nothing.
	Create(ctx context.Context, manifest []byte) ([]*pod.Pod, error)
	Get(ctx context.Context, namespace, name string) (*pod.Pod, error)
	// List lists the pods of a namespace, or of all namespaces when namespace is "".
	List(ctx context.Context, namespace string) ([]*pod.Pod, error)
	// WaitStarted returns once every container of the pod has started, or an error saying why one
	// failed (errdefs.ErrFailedPrecondition).
	WaitStarted(ctx context.Context, namespace, name string) (*pod.Pod, error)
	// Stop stops the pod's containers (grace nil: the pod's terminationGracePeriodSeconds).
	Stop(ctx context.Context, namespace, name string, grace *time.Duration) (*pod.Pod, error)
	// UpdateMetadata changes the pod's labels and annotations (kubectl label/annotate) without
	// restarting it; the pod's downwardAPI volumes follow.
	UpdateMetadata(ctx context.Context, namespace, name string, patch pod.MetadataPatch) (*pod.Pod, error)
	// Remove stops the pod if it runs and removes it and everything it created.
	Remove(ctx context.Context, namespace, name string, grace *time.Duration) error
	// Logs writes a container's log as opts choose (opts.Container "" = the pod's first
	// container); with opts.Follow it returns when the log ends for good, or with ctx's error.
	Logs(ctx context.Context, namespace, name string, opts supervisor.LogOptions, w io.Writer) error
	// Exec runs a command in a container (container "" = the first) and returns its exit code.
	Exec(ctx context.Context, namespace, name, container string, opts supervisor.ExecOptions) (int, error)
	// Events lists the events of a pod, or of every pod of the namespace when name is "" (of every
	// namespace when namespace is "" too), oldest first by their last occurrence.
	Events(ctx context.Context, namespace, name string) ([]pod.Event, error)
	// WatchEvents calls fn with every new event (or repeat of one) that matches, as Events
	// selects them, until ctx ends (then it returns nil) or fn fails.
	WatchEvents(ctx context.Context, namespace, name string, fn func(pod.Event) error) error
	// Stats reads the pod's cpu, memory, process and network figures (stats.go).
	Stats(ctx context.Context, namespace, name string) (*pod.PodStats, error)
	// AllStats reads the figures of every pod of the namespace ("" for all).
	AllStats(ctx context.Context, namespace string) ([]*pod.PodStats, error)
	// Top lists the processes of each running container of the pod.
	Top(ctx context.Context, namespace, name string) ([]pod.ContainerProcesses, error)
}

// Images is what the server needs from the image store (pkg/runtime implements it).
type Images interface {
	Import(ctx context.Context, r io.Reader) ([]pod.Image, error)
	List(ctx context.Context) ([]pod.Image, error)
	Pull(ctx context.Context, ref string) (*pod.Image, error)
	Remove(ctx context.Context, ref string) error
}
