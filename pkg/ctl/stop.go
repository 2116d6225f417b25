package ctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// StopOptions are podctl stop's.
type StopOptions struct {
	Namespace string
	Names     []string
	// Grace is the seconds between the stop signal and SIGKILL; nil is the pod's own.
	Grace  *int64
	Output Format
}

// Stop stops pods; it goes on past a pod that fails and reports every failure.
func Stop(ctx context.Context, c *api.Client, o StopOptions, s Streams) error {
	if len(o.Names) == 0 {
		return Usagef("stop: missing POD argument")
	}
	var stopped []*pod.Pod
	var errs []error
	for _, name := range o.Names {
		p, err := c.StopPod(ctx, o.Namespace, name, o.Grace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, p)
		if !o.Output.structured() {
			fmt.Fprintf(s.Out, "pod/%s stopped\n", name)
		}
	}
	if o.Output.structured() && len(stopped) > 0 {
		var obj any = api.PodList{Items: stopped}
		if len(o.Names) == 1 {
			obj = stopped[0]
		}
		if err := Print(s.Out, o.Output, obj, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
