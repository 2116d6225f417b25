package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:      "events",
		Usage:     "list the events of pods, or of one pod; -f follows new ones",
		ArgsUsage: "[POD]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list the events of every namespace"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"f", "w", "follow"}, Usage: "after the events so far, print new ones as they happen, until interrupted"},
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 1 {
				return ctl.Usagef("events: want at most one POD argument, got %q", cliContext.Args().Slice())
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Events(cliContext.Context, newClient(cliContext), ctl.EventsOptions{
				Namespace:     namespace(cliContext),
				AllNamespaces: cliContext.Bool("all-namespaces"),
				Name:          cliContext.Args().First(),
				Watch:         cliContext.Bool("watch"),
				Output:        out,
			}, streams(cliContext))
		},
	}
}
