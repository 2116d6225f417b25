package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "create the pods of a manifest and wait until their containers have started",
		ArgsUsage: "FILE|-",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once podd has accepted the pods"},
		},
		Action: func(cliContext *cli.Context) error {
			file, err := oneArg(cliContext, "FILE")
			if err != nil {
				return err
			}
			if cliContext.IsSet("namespace") {
				return ctl.Usagef("run: --namespace does not apply: set metadata.namespace in the manifest")
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Run(cliContext.Context, newClient(cliContext), ctl.RunOptions{
				File:   file,
				Detach: cliContext.Bool("detach"),
				Output: out,
			}, streams(cliContext))
		},
	}
}
