package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func imagePullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "pull an image from its registry",
		ArgsUsage: "REF",
		Action: func(cliContext *cli.Context) error {
			ref, err := oneArg(cliContext, "REF")
			if err != nil {
				return err
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.ImagePull(cliContext.Context, newClient(cliContext), ctl.ImagePullOptions{Ref: ref, Output: out}, streams(cliContext))
		},
	}
}
