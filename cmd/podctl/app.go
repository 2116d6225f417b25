package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/ctl"
)

// Exit statuses besides a command's own (exec).
const (
	exitFailure = 1
	exitUsage   = 2
)

// newApp builds podctl's command line on the given streams.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "podctl",
		Usage:     "run and manage pods on podd",
		UsageText: "podctl [--socket PATH] [-n NAMESPACE] [-o table|wide|json|yaml] COMMAND [ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Value: api.DefaultSocket, EnvVars: []string{"PODD_SOCKET"}, Usage: "podd's API socket"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: string(ctl.FormatTable), Usage: "output format: table, wide, json or yaml"},
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: ctl.DefaultNamespace, Usage: "the pods' namespace"},
			&cli.StringFlag{Name: "root", Value: ctl.DefaultRoot, EnvVars: []string{"PODD_ROOT"}, Usage: "podd's --root, where podctl reads the work queues' spools (claims' folders)"},
		},
		Commands: []*cli.Command{
			runCommand(),
			applyCommand(),
			expandCommand(),
			getCommand(),
			describeCommand(),
			eventsCommand(),
			statsCommand(),
			topCommand(),
			logsCommand(),
			execCommand(),
			stopCommand(),
			rmCommand(),
			deleteCommand(),
			scaleCommand(),
			rolloutCommand(),
			waitCommand(),
			labelCommand(),
			annotateCommand(),
			imageCommand(),
			versionCommand(),
			completionCommand(),
			selfScaleCommand(),
			queueCommand(),
		},
		EnableBashCompletion:   true,
		Action:                 unknownCommand,
		HideVersion:            true,
		UseShortOptionHandling: true,
		Reader:                 stdin,
		Writer:                 stdout,
		ErrWriter:              stderr,
		// podctl decides its exit status in run, never urfave/cli.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	app.OnUsageError = usageError
	setUsageErrors(app.Commands)
	return app
}

// run runs podctl with args (os.Args) and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if len(args) > 1 && args[len(args)-1] != completionFlag {
		args = append([]string{args[0]}, hoistFlags(app, args[1:])...)
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	var exit *ctl.ExitError
	var usage *ctl.UsageError
	var coder cli.ExitCoder
	switch {
	case errors.As(err, &exit):
		return exit.Code
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "error: %s\nSee 'podctl --help'.\n", usage.Message)
		return exitUsage
	case errors.As(err, &coder):
		if msg := coder.Error(); msg != "" {
			fmt.Fprintln(stderr, "error: "+msg)
		}
		return coder.ExitCode()
	}
	fmt.Fprintf(stderr, "error: %s\n", err)
	return exitFailure
}

func usageError(cliContext *cli.Context, err error, isSubcommand bool) error {
	name := "podctl"
	if cliContext.Command != nil && cliContext.Command.FullName() != "" {
		name = cliContext.Command.FullName()
	}
	return ctl.Usagef("%s: %v", name, err)
}

func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		setUsageErrors(c.Subcommands)
	}
}

// unknownCommand is the action of a command line whose first argument names no command.
func unknownCommand(cliContext *cli.Context) error {
	if cliContext.NArg() > 0 {
		return ctl.Usagef("unknown command %q", cliContext.Args().First())
	}
	return cli.ShowAppHelp(cliContext)
}

// Helpers of the verbs.

func newClient(cliContext *cli.Context) *api.Client {
	return api.NewClient(cliContext.String("socket"))
}

func outputFormat(cliContext *cli.Context) (ctl.Format, error) {
	return ctl.ParseFormat(cliContext.String("output"))
}

func namespace(cliContext *cli.Context) string {
	return cliContext.String("namespace")
}

func streams(cliContext *cli.Context) ctl.Streams {
	return ctl.Streams{In: cliContext.App.Reader, Out: cliContext.App.Writer, Err: cliContext.App.ErrWriter}
}

// grace reads --grace, nil when it is not given.
func grace(cliContext *cli.Context) (*int64, error) {
	if !cliContext.IsSet("grace") {
		return nil, nil
	}
	g := cliContext.Int64("grace")
	if g < 0 {
		return nil, ctl.Usagef("%s: --grace %d: want 0 or more seconds", cliContext.Command.Name, g)
	}
	return &g, nil
}

// oneArg returns the only argument, named what in errors.
func oneArg(cliContext *cli.Context, what string) (string, error) {
	switch cliContext.NArg() {
	case 0:
		return "", ctl.Usagef("%s: missing %s argument", cliContext.Command.Name, what)
	case 1:
		return cliContext.Args().First(), nil
	}
	return "", ctl.Usagef("%s: want one %s argument, got %d: %q", cliContext.Command.Name, what, cliContext.NArg(), cliContext.Args().Slice())
}
