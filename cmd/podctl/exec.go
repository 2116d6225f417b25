package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a container; podctl exits with the command's status",
		ArgsUsage: "POD -- COMMAND [ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container (default: the pod's first)"},
			&cli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "pass standard input to the command"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal"},
		},
		OnUsageError: func(cliContext *cli.Context, err error, _ bool) error {
			return ctl.Usagef("exec: %v (put the command after --: podctl exec POD -- COMMAND [ARGS...])", err)
		},
		Action: func(cliContext *cli.Context) error {
			args := cliContext.Args().Slice()
			if len(args) == 0 {
				return ctl.Usagef("exec: missing POD argument")
			}
			code, err := ctl.Exec(cliContext.Context, newClient(cliContext), ctl.ExecOptions{
				Namespace: namespace(cliContext),
				Name:      args[0],
				Container: cliContext.String("container"),
				Command:   args[1:],
				Stdin:     cliContext.Bool("stdin"),
				TTY:       cliContext.Bool("tty"),
			}, streams(cliContext))
			if err != nil {
				return err
			}
			if code != 0 {
				return &ctl.ExitError{Code: code}
			}
			return nil
		},
	}
}
