package ctl

import (
	"context"

	"github.com/podd-dev/podd/pkg/api"
)

// LogsOptions are podctl logs'.
type LogsOptions struct {
	Namespace string
	Name      string
	// Container is the container whose log to print; "" is the pod's first.
	Container string
}

// Logs prints a container's log.
func Logs(ctx context.Context, c *api.Client, o LogsOptions, s Streams) error {
	return c.Logs(ctx, o.Namespace, o.Name, o.Container, s.Out)
}
