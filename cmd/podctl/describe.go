package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a pod (or a ConfigMap or Secret: describe cm|secret NAME) in detail",
		ArgsUsage: "POD",
		Action: func(cliContext *cli.Context) error {
			args := cliContext.Args().Slice()
			if len(args) == 1 && strings.Contains(args[0], "/") { // KIND/NAME
				args = strings.SplitN(args[0], "/", 2)
			}
			if len(args) == 2 {
				if ok, err := ctl.DescribeConfig(cliContext.Context, newClient(cliContext), args[0], namespace(cliContext), args[1], streams(cliContext)); ok {
					return err
				}
			}
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
