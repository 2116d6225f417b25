package ctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/podd-dev/podd/pkg/api"
)

// RemoveOptions are podctl rm's.
type RemoveOptions struct {
	Namespace string
	Names     []string
	// Grace is the seconds between the stop signal and SIGKILL; nil is the pod's own.
	Grace *int64
	// Force kills at once: grace 0.
	Force bool
}

// Remove stops and removes pods; it goes on past a pod that fails and reports every failure.
func Remove(ctx context.Context, c *api.Client, o RemoveOptions, s Streams) error {
	if len(o.Names) == 0 {
		return Usagef("rm: missing POD argument")
	}
	grace := o.Grace
	if o.Force {
		if grace != nil && *grace != 0 {
			return Usagef("rm: --force means --grace 0; --grace %d contradicts it", *grace)
		}
		zero := int64(0)
		grace = &zero
	}
	var errs []error
	for _, name := range o.Names {
		if err := c.RemovePod(ctx, o.Namespace, name, grace); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(s.Out, "pod/%s removed\n", name)
	}
	return errors.Join(errs...)
}
