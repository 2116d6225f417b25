package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a container's log",
		ArgsUsage: "POD | -l SELECTOR",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container (default: the pod's first)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow the log, across rotations, container restarts and podd restarts"},
			&cli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "the log of the container's previous instance"},
			&cli.Int64Flag{Name: "tail", Value: -1, Usage: "print only the last `N` lines (-1: all)"},
			&cli.DurationFlag{Name: "since", Usage: "print only lines newer than a `DURATION`, such as 5m"},
			&cli.StringFlag{Name: "since-time", Usage: "print only lines newer than a `TIME` (RFC 3339)"},
			&cli.BoolFlag{Name: "timestamps", Usage: "put each line's timestamp before it"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "print the logs of every pod whose labels match, such as app=web (instead of POD)"},
			&cli.IntFlag{Name: "max-log-requests", Value: ctl.DefaultMaxLogRequests, Usage: "with -l and -f: the most logs followed at once"},
			&cli.BoolFlag{Name: "prefix", Usage: "put [pod/NAME/CONTAINER] before each line"},
		},
		Action: func(cliContext *cli.Context) error {
			var name string
			if cliContext.String("selector") == "" || cliContext.NArg() > 0 {
				var err error
				if name, err = oneArg(cliContext, "POD"); err != nil {
					return err
				}
			}
			var tail *int64
			if cliContext.IsSet("tail") {
				n := cliContext.Int64("tail")
				tail = &n
			}
			return ctl.Logs(cliContext.Context, newClient(cliContext), ctl.LogsOptions{
				Namespace:   namespace(cliContext),
				Name:        name,
				Container:   cliContext.String("container"),
				Follow:      cliContext.Bool("follow"),
				Previous:    cliContext.Bool("previous"),
				Tail:        tail,
				Since:       cliContext.Duration("since"),
				SinceTime:   cliContext.String("since-time"),
				Timestamps:  cliContext.Bool("timestamps"),
				Selector:    cliContext.String("selector"),
				MaxRequests: cliContext.Int("max-log-requests"),
				Prefix:      cliContext.Bool("prefix"),
			}, streams(cliContext))
		},
	}
}
