package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
	"github.com/podd-dev/podd/pkg/object"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a pod in detail",
		ArgsUsage: "POD | sts NAME | pvc NAME | KIND/NAME",
		Action: func(cliContext *cli.Context) error {
			if handled, err := describeStateful(cliContext); handled {
				return err
			}
			name, err := oneArg(cliContext, "POD")
			if err != nil {
				return err
			}
			return ctl.Describe(cliContext.Context, newClient(cliContext), ctl.DescribeOptions{
				Namespace: namespace(cliContext),
				Name:      name,
			}, streams(cliContext))
		},
	}
}

// describeStateful describes a StatefulSet or a claim (describe sts NAME, describe pvc/NAME);
// handled is false for anything else.
func describeStateful(cliContext *cli.Context) (bool, error) {
	args := cliContext.Args().Slice()
	var kind, name string
	switch {
	case len(args) == 2:
		kind, name = args[0], args[1]
	case len(args) == 1 && strings.Contains(args[0], "/"):
		kind, name, _ = strings.Cut(args[0], "/")
	default:
		return false, nil
	}
	k, ok := object.Resolve(kind)
	if !ok {
		return false, nil
	}
	return ctl.DescribeStateful(cliContext.Context, newClient(cliContext), k, namespace(cliContext), name, streams(cliContext))
}
