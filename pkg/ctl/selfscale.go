package ctl

import (
	"context"
	"fmt"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/controller"
)

// SelfScale asks, from inside a pod through its own API socket, to change the replicas of the
// pod's workload; it prints the decision and fails when it was refused.
func SelfScale(ctx context.Context, c *api.Client, req controller.ScaleRequest, o Format, s Streams) error {
	d, err := c.SelfScale(ctx, req)
	if err != nil {
		return err
	}
	if o.structured() {
		if err := Print(s.Out, o, d, nil); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(s.Out, "%s %s/%s %d -> %d: %s\n", d.Outcome, qualifiedKind(d.Kind), d.Name, d.From, d.To, d.Message)
	}
	if d.Outcome == controller.ScaleRefused {
		return fmt.Errorf("refused: %s", d.Message)
	}
	return nil
}
