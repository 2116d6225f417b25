package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func imageRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Aliases:   []string{"remove"},
		Usage:     "remove images",
		ArgsUsage: "REF...",
		Action: func(cliContext *cli.Context) error {
			return ctl.ImageRemove(cliContext.Context, newClient(cliContext), ctl.ImageRemoveOptions{Refs: cliContext.Args().Slice()}, streams(cliContext))
		},
	}
}
