package main

import (
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/podd-dev/podd/pkg/ctl"
)

// queueCommand is podctl queue VERB NAME: the work queues' dead letters, retries and switches
// (get queues and describe queue NAME show them).
func queueCommand() *cli.Command {
	control := func(verb, usage string) *cli.Command {
		return &cli.Command{
			Name:      verb,
			Usage:     usage,
			ArgsUsage: "NAME",
			Action: func(cliContext *cli.Context) error {
				name, err := oneArg(cliContext, "NAME")
				if err != nil {
					return err
				}
				return ctl.QueueControl(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, ctl.FormatTable), verb, streams(cliContext))
			},
		}
	}
	return &cli.Command{
		Name:  "queue",
		Usage: "work queues (specs/patterns/work-queue.md): dead letters, retries, pause, resume, drain",
		Subcommands: []*cli.Command{
			{
				Name:      "dead",
				Usage:     "list a queue's dead letters with their reasons, exit codes and log tails",
				ArgsUsage: "NAME",
				Action: func(cliContext *cli.Context) error {
					name, err := oneArg(cliContext, "NAME")
					if err != nil {
						return err
					}
					out, err := outputFormat(cliContext)
					if err != nil {
						return err
					}
					return ctl.QueueDead(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, out), streams(cliContext))
				},
			},
			{
				Name:      "retry",
				Usage:     "queue a dead item again (its attempts counted afresh), or every dead item",
				ArgsUsage: "NAME ITEM | NAME --all-dead",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "all-dead", Usage: "every dead item of the queue"}},
				Action: func(cliContext *cli.Context) error {
					args := cliContext.Args().Slice()
					all := cliContext.Bool("all-dead")
					if (all && len(args) != 1) || (!all && len(args) != 2) {
						return ctl.Usagef("queue retry: want NAME ITEM or NAME --all-dead, got %q", args)
					}
					item := ""
					if !all {
						item = args[1]
					}
					return ctl.QueueRetry(cliContext.Context, newClient(cliContext), queueOptions(cliContext, args[0], ctl.FormatTable), item, all, streams(cliContext))
				},
			},
			{
				Name:      "watch",
				Usage:     "a queue's progress (a bar, counts, rate, ETA) every --interval until nothing is pending (as get queues NAME -w)",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between two lines"}},
				Action: func(cliContext *cli.Context) error {
					name, err := oneArg(cliContext, "NAME")
					if err != nil {
						return err
					}
					if cliContext.Duration("interval") < 100*time.Millisecond {
						return ctl.Usagef("queue watch: --interval %s is below 100ms", cliContext.Duration("interval"))
					}
					return ctl.WatchQueues(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, ctl.FormatTable),
						ctl.WatchOptions{Interval: cliContext.Duration("interval"), TTY: isTerminal(cliContext)}, streams(cliContext))
				},
			},
			control("pause", "stop the queue's workers from taking items (those under way finish)"),
			control("resume", "let the workers take items again (ends a pause or a drain)"),
			control("drain", "the workers take what remains, then exit (even with --until drained)"),
		},
	}
}

func queueOptions(cliContext *cli.Context, name string, out ctl.Format) ctl.QueueOptions {
	return ctl.QueueOptions{Namespace: namespace(cliContext), Name: name, Root: cliContext.String("root"), Output: out}
}

// isTerminal says whether podctl writes to a terminal: live views redraw in place there, and
// print a line per update elsewhere.
func isTerminal(cliContext *cli.Context) bool {
	f, ok := cliContext.App.Writer.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// watchFlag is get's and describe's -w, kubectl's habit; only queues can be watched.
var watchFlag = &cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "queues only: a live view of their progress until they are finished (or interrupted)"}

// watchOptions: a second between updates, as queue watch's default.
func watchOptions(cliContext *cli.Context) ctl.WatchOptions {
	return ctl.WatchOptions{Interval: time.Second, TTY: isTerminal(cliContext)}
}
