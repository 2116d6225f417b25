// Package api is podd's wire: the JSON types of its HTTP API over a unix socket, the server's
// handlers, and the Go client that podctl uses.
package api

import (
	"context"
	"io"

	"github.com/podd-dev/podd/pkg/pod"
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
	Stop(ctx context.Context, namespace, name string, grace *int64) (*pod.Pod, error)
	// Remove stops the pod if it runs and removes it and everything it created.
	Remove(ctx context.Context, namespace, name string, grace *int64) error
	// Logs writes the container's log (container "" = the pod's first container).
	Logs(ctx context.Context, namespace, name, container string, w io.Writer) error
	// Exec runs a command in a container (container "" = the first) and returns its exit code.
	Exec(ctx context.Context, namespace, name, container string, opts pod.ExecOptions) (int, error)
}

// Images is what the server needs from the image store (pkg/runtime implements it).
type Images interface {
	Import(ctx context.Context, r io.Reader) ([]pod.Image, error)
	List(ctx context.Context) ([]pod.Image, error)
	Pull(ctx context.Context, ref string) (*pod.Image, error)
	Remove(ctx context.Context, ref string) error
}
