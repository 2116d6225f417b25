package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "stop and remove pods",
		ArgsUsage: "POD...",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "grace", Usage: "seconds between the stop signal and SIGKILL (default: the pod's terminationGracePeriodSeconds)"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill at once (--grace 0)"},
		},
		Action: func(cliContext *cli.Context) error {
			g, err := grace(cliContext)
			if err != nil {
				return err
			}
			return ctl.Remove(cliContext.Context, newClient(cliContext), ctl.RemoveOptions{
				Namespace: namespace(cliContext),
				Names:     cliContext.Args().Slice(),
				Grace:     g,
				Force:     cliContext.Bool("force"),
			}, streams(cliContext))
		},
	}
}
