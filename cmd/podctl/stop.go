package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop pods' containers (stop signal, then SIGKILL after the grace period)",
		ArgsUsage: "POD...",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "grace", Usage: "seconds between the stop signal and SIGKILL (default: the pod's terminationGracePeriodSeconds)"},
		},
		Action: func(cliContext *cli.Context) error {
			g, err := grace(cliContext)
			if err != nil {
				return err
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Stop(cliContext.Context, newClient(cliContext), ctl.StopOptions{
				Namespace: namespace(cliContext),
				Names:     cliContext.Args().Slice(),
				Grace:     g,
				Output:    out,
			}, streams(cliContext))
		},
	}
}
