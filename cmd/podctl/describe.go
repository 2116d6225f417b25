package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a pod in detail",
		ArgsUsage: "POD",
		Action: func(cliContext *cli.Context) error {
			name, err := oneArg(cliContext, "POD")
			if err != nil {
				return err
			}
			return ctl.Describe(cliContext.Context, newClient(cliContext), ctl.DescribeOptions{
				Namespace: namespace(cliContext),
				Name:      name,
			}, streams(cliContext))
		},
	}
}
