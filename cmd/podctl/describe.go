package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show an object in detail: a pod, or describe KIND NAME (job, cm, secret, ...)",
		ArgsUsage: "POD | KIND NAME | KIND/NAME",
		Action: func(cliContext *cli.Context) error {
			kind, name := "", ""
			if cliContext.NArg() == 2 {
				kind, name = cliContext.Args().Get(0), cliContext.Args().Get(1)
			} else {
				arg, err := oneArg(cliContext, "POD")
				if err != nil {
					return err
				}
				name = arg
				if k, n, ok := strings.Cut(arg, "/"); ok {
					kind, name = k, n
				}
			}
			if kind != "" {
				if ok, err := ctl.DescribeConfig(cliContext.Context, newClient(cliContext), kind, namespace(cliContext), name, streams(cliContext)); ok {
					return err
				}
			}
			return ctl.Describe(cliContext.Context, newClient(cliContext), ctl.DescribeOptions{
				Namespace: namespace(cliContext),
				Name:      name,
				Kind:      kind,
			}, streams(cliContext))
		},
	}
}

// describeArgs reads POD, KIND NAME or KIND/NAME.
func describeArgs(args []string) (string, string, error) {
	var kind, name string
	switch len(args) {
	case 0:
		return "", "", ctl.Usagef("describe: missing POD argument")
	case 1:
		k, n, ok := strings.Cut(args[0], "/")
		if !ok {
			return "Pod", args[0], nil
		}
		kind, name = k, n
	case 2:
		kind, name = args[0], args[1]
	default:
		return "", "", ctl.Usagef("describe: want POD, KIND NAME or KIND/NAME, got %q", args)
	}
	k, err := ctl.ResolveKind(kind)
	if err != nil {
		return "", "", err
	}
	if name == "" {
		return "", "", ctl.Usagef("describe: want KIND/NAME, got %q", args[0])
	}
	return k, name, nil
}
