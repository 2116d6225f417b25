package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func topCommand() *cli.Command {
	return &cli.Command{
		Name:      "top",
		Usage:     "list the processes of a pod's running containers",
		ArgsUsage: "POD",
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() != 1 {
				return ctl.Usagef("top: want exactly one POD argument, got %q", cliContext.Args().Slice())
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Top(cliContext.Context, newClient(cliContext), ctl.TopOptions{
				Namespace: namespace(cliContext),
				Name:      cliContext.Args().First(),
				Output:    out,
			}, streams(cliContext))
		},
	}
}
