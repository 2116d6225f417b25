package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a container's log",
		ArgsUsage: "POD",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container (default: the pod's first)"},
		},
		Action: func(cliContext *cli.Context) error {
			name, err := oneArg(cliContext, "POD")
			if err != nil {
				return err
			}
			return ctl.Logs(cliContext.Context, newClient(cliContext), ctl.LogsOptions{
				Namespace: namespace(cliContext),
				Name:      name,
				Container: cliContext.String("container"),
			}, streams(cliContext))
		},
	}
}
