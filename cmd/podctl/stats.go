package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "show the cpu, memory, pids and network figures of pods and their containers",
		ArgsUsage: "[POD]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "show the pods of every namespace"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "print the figures again every --interval until interrupted"},
			&cli.DurationFlag{Name: "interval", Value: ctl.DefaultStatsInterval, Usage: "pause between two prints of --watch"},
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.NArg() > 1 {
				return ctl.Usagef("stats: want at most one POD argument, got %q", cliContext.Args().Slice())
			}
			if cliContext.Duration("interval") <= 0 {
				return ctl.Usagef("stats: --interval %s: want a duration above 0", cliContext.Duration("interval"))
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			return ctl.Stats(cliContext.Context, newClient(cliContext), ctl.StatsOptions{
				Namespace:     namespace(cliContext),
				AllNamespaces: cliContext.Bool("all-namespaces"),
				Name:          cliContext.Args().First(),
				Watch:         cliContext.Bool("watch"),
				Interval:      cliContext.Duration("interval"),
				Output:        out,
			}, streams(cliContext))
		},
	}
}
