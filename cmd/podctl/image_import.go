package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func imageImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import the images of an OCI or Docker archive",
		ArgsUsage: "FILE|-",
		Action: func(cliContext *cli.Context) error {
			file, err := oneArg(cliContext, "FILE")
			if err != nil {
				return err
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.ImageImport(cliContext.Context, newClient(cliContext), ctl.ImageImportOptions{File: file, Output: out}, streams(cliContext))
		},
	}
}
