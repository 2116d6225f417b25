package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "create or update the objects of manifests (every kind podd runs), as kubectl apply does",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "a manifest, a folder of manifests, or - for stdin (repeatable)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "read the folders' subfolders too"},
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 0 {
				return ctl.Usagef("apply: unexpected arguments %q: give manifests with -f", cliContext.Args().Slice())
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Apply(cliContext.Context, newClient(cliContext), ctl.ApplyOptions{
				Files:     cliContext.StringSlice("filename"),
				Recursive: cliContext.Bool("recursive"),
				Output:    out,
			}, streams(cliContext))
		},
	}
}
