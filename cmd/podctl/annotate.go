package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func annotateCommand() *cli.Command {
	return &cli.Command{
		Name:      "annotate",
		Usage:     "update the annotations of a running pod (its containers keep running; downwardAPI volumes follow)",
		ArgsUsage: "POD KEY=VALUE... KEY-...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "overwrite", Usage: "allow changing the value of an existing annotation"},
		},
		Action: func(cliContext *cli.Context) error {
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			args := cliContext.Args().Slice()
			o := ctl.LabelOptions{Kind: ctl.KindAnnotations, Namespace: namespace(cliContext), Overwrite: cliContext.Bool("overwrite"), Output: out}
			if len(args) > 0 {
				o.Name, o.Changes = args[0], args[1:]
			}
			return ctl.Label(cliContext.Context, newClient(cliContext), o, streams(cliContext))
		},
	}
}
