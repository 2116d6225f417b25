package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a pod, deployment or replicaset in detail",
		ArgsUsage: "POD | KIND NAME | KIND/NAME",
		Action: func(cliContext *cli.Context) error {
			kind, name, err := describeArgs(cliContext.Args().Slice())
			if err != nil {
				return err
			}
			o := ctl.DescribeOptions{Namespace: namespace(cliContext), Name: name}
			if kind != "Pod" {
				return ctl.DescribeObject(cliContext.Context, newClient(cliContext), kind, o, streams(cliContext))
			}
			return ctl.Describe(cliContext.Context, newClient(cliContext), o, streams(cliContext))
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
