package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Aliases:   []string{"ps"},
		Usage:     "list pods, or show one",
		ArgsUsage: "[POD]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list the pods of every namespace"},
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 1 {
				return ctl.Usagef("get: want at most one POD argument, got %q", cliContext.Args().Slice())
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Get(cliContext.Context, newClient(cliContext), ctl.GetOptions{
				Namespace:     namespace(cliContext),
				AllNamespaces: cliContext.Bool("all-namespaces"),
				Name:          cliContext.Args().First(),
				Output:        out,
			}, streams(cliContext))
		},
	}
}
