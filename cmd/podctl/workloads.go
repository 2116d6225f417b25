package main

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

// kindName reads KIND/NAME or KIND NAME from args (what names the command in errors).
func kindName(cmd string, args []string) (string, string, error) {
	switch len(args) {
	case 1:
		if k, n, ok := strings.Cut(args[0], "/"); ok && k != "" && n != "" {
			return k, n, nil
		}
	case 2:
		return args[0], args[1], nil
	}
	return "", "", ctl.Usagef("%s: want KIND/NAME or KIND NAME, got %q", cmd, args)
}

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name:      "scale",
		Usage:     "set the replicas of a deployment, replicaset or statefulset",
		ArgsUsage: "KIND/NAME --replicas N | KIND NAME --replicas N",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "replicas", Value: -1, Usage: "the new number of replicas (required)"},
		},
		Action: func(cliContext *cli.Context) error {
			kind, name, err := kindName("scale", cliContext.Args().Slice())
			if err != nil {
				return err
			}
			if !cliContext.IsSet("replicas") {
				return ctl.Usagef("scale: the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			return ctl.Scale(cliContext.Context, newClient(cliContext), ctl.ScaleOptions{
				Namespace: namespace(cliContext), Kind: kind, Name: name, Replicas: cliContext.Int64("replicas"),
			}, streams(cliContext))
		},
	}
}

func rolloutCommand() *cli.Command {
	sub := func(action, usage string, flags ...cli.Flag) *cli.Command {
		return &cli.Command{
			Name:      action,
			Usage:     usage,
			ArgsUsage: "deploy/NAME",
			Flags:     flags,
			Action: func(cliContext *cli.Context) error {
				kind, name, err := kindName("rollout "+action, cliContext.Args().Slice())
				if err != nil {
					return err
				}
				o := ctl.RolloutOptions{
					Namespace: namespace(cliContext), Action: action, Kind: kind, Name: name,
					ToRevision: cliContext.Int64("to-revision"), Revision: cliContext.Int64("revision"),
					Timeout: cliContext.Duration("timeout"), Watch: true,
				}
				if cliContext.IsSet("watch") {
					o.Watch = cliContext.Bool("watch")
				}
				return ctl.Rollout(cliContext.Context, newClient(cliContext), o, streams(cliContext))
			},
		}
	}
	return &cli.Command{
		Name:  "rollout",
		Usage: "follow and steer the rollout of a deployment",
		Subcommands: []*cli.Command{
			sub("status", "wait until the rollout is done, printing its progress",
				&cli.DurationFlag{Name: "timeout", Usage: "give up after this long (0: never)"},
				&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Value: true, Usage: "follow until done (false: print once)"}),
			sub("history", "list the revisions", &cli.Int64Flag{Name: "revision", Usage: "show the template of this revision"}),
			sub("restart", "replace every pod, one rollout (a new kubectl.kubernetes.io/restartedAt template annotation)"),
			sub("undo", "roll back to the previous revision, or to --to-revision", &cli.Int64Flag{Name: "to-revision", Usage: "the revision to go back to (0: the previous)"}),
			sub("pause", "stop rolling new templates (scaling goes on)"),
			sub("resume", "roll again"),
		},
	}
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait until objects meet a condition or are deleted",
		ArgsUsage: "--for=condition=NAME[=VALUE]|delete [--timeout 30s] KIND/NAME... | KIND NAME...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "for", Usage: "condition=Ready, condition=Available, condition=Complete=True, delete ... (required)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up after this long (negative: a week)"},
		},
		Action: func(cliContext *cli.Context) error {
			if cliContext.String("for") == "" {
				return ctl.Usagef("wait: --for is required: condition=NAME[=VALUE] or delete")
			}
			targets, err := waitTargets(cliContext.Args().Slice())
			if err != nil {
				return err
			}
			return ctl.Wait(cliContext.Context, newClient(cliContext), ctl.WaitOptions{
				Namespace: namespace(cliContext), For: cliContext.String("for"), Timeout: cliContext.Duration("timeout"), Targets: targets,
			}, streams(cliContext))
		},
	}
}

// waitTargets reads KIND/NAME... or KIND NAME....
func waitTargets(args []string) ([]ctl.WaitTarget, error) {
	if len(args) == 0 {
		return nil, ctl.Usagef("wait: want KIND/NAME... or KIND NAME...")
	}
	var out []ctl.WaitTarget
	if !strings.Contains(args[0], "/") {
		if len(args) < 2 {
			return nil, ctl.Usagef("wait: want KIND/NAME... or KIND NAME..., got %q", args)
		}
		for _, n := range args[1:] {
			out = append(out, ctl.WaitTarget{Kind: args[0], Name: n})
		}
		return out, nil
	}
	for _, a := range args {
		k, n, ok := strings.Cut(a, "/")
		if !ok || k == "" || n == "" {
			return nil, ctl.Usagef("wait: want KIND/NAME, got %q", a)
		}
		out = append(out, ctl.WaitTarget{Kind: k, Name: n})
	}
	return out, nil
}
