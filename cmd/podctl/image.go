package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

// imageCommand is the noun; its verbs are in image_*.go.
func imageCommand() *cli.Command {
	return &cli.Command{
		Name:    "image",
		Aliases: []string{"images"},
		Usage:   "manage images",
		Subcommands: []*cli.Command{
			imageImportCommand(),
			imageListCommand(),
			imagePullCommand(),
			imageRemoveCommand(),
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 0 {
				return ctl.Usagef("image: unknown command %q: want import, ls, pull or rm", cliContext.Args().First())
			}
			return cli.ShowSubcommandHelp(cliContext)
		},
	}
}
