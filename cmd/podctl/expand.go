package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/ctl"
)

func expandCommand() *cli.Command {
	return &cli.Command{
		Name:      "expand",
		Usage:     "print the objects of manifests with the patterns' helpers injected, as podd runs them (as istioctl kube-inject)",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "a manifest, a folder of manifests, or - for stdin (repeatable)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "read the folders' subfolders too"},
			&cli.StringFlag{Name: "patterns-image", Value: api.PatternsImage(), Usage: "the helpers' image written into the injected containers"},
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 0 {
				return ctl.Usagef("expand: unexpected arguments %q: give manifests with -f", cliContext.Args().Slice())
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Expand(ctl.ExpandOptions{
				Files:     cliContext.StringSlice("filename"),
				Recursive: cliContext.Bool("recursive"),
				Output:    out,
				Image:     cliContext.String("patterns-image"),
			}, streams(cliContext))
		},
	}
}
