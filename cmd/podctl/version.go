package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/ctl"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print podctl's and podd's versions",
		Action: func(cliContext *cli.Context) error {
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Version(cliContext.Context, newClient(cliContext), ctl.VersionOptions{ClientVersion: api.Version, Output: out}, streams(cliContext))
		},
	}
}
