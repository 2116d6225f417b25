package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/ctl"
)

func selfScaleCommand() *cli.Command {
	return &cli.Command{
		Name:  "self-scale",
		Usage: "from inside a pod, through its own API socket (--socket /run/podd/podd.sock): ask podd to change the replicas of the pod's Deployment or StatefulSet",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "delta", Usage: "change the replicas by this many (+n or -n)"},
			&cli.IntFlag{Name: "replicas", Value: -1, Usage: "set the replicas to this many"},
			&cli.BoolFlag{Name: "self", Usage: "with --delta -1: remove this pod, not another"},
			&cli.StringFlag{Name: "reason", Usage: "why, for the event"},
			&cli.StringFlag{Name: "key", Usage: "an idempotency key: a retried request with the same key counts once"},
		},
		Action: func(cliContext *cli.Context) error {
			req := controller.ScaleRequest{Self: cliContext.Bool("self"), Reason: cliContext.String("reason"), IdempotencyKey: cliContext.String("key")}
			switch {
			case cliContext.IsSet("delta") && cliContext.IsSet("replicas"):
				return ctl.Usagef("self-scale: give --delta or --replicas, not both")
			case cliContext.IsSet("delta"):
				d := int32(cliContext.Int("delta"))
				req.Delta = &d
			case cliContext.IsSet("replicas"):
				r := int32(cliContext.Int("replicas"))
				req.Replicas = &r
			default:
				return ctl.Usagef("self-scale: want --delta N or --replicas N")
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.SelfScale(cliContext.Context, newClient(cliContext), req, out, streams(cliContext))
		},
	}
}
