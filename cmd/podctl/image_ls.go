package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func imageListCommand() *cli.Command {
	return &cli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list images",
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 0 {
				return ctl.Usagef("image ls: takes no argument, got %q", cliContext.Args().Slice())
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.ImageList(cliContext.Context, newClient(cliContext), ctl.ImageListOptions{Output: out}, streams(cliContext))
		},
	}
}
