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
			if ctl.IsElectionKind(kind) {
				return ctl.DescribeElection(cliContext.Context, newClient(cliContext), namespace(cliContext), name, streams(cliContext))
			}
			if kind != "" {
				if handled, err := describeStateful(cliContext, kind, name); handled {
					return err
				}
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

// describeStateful describes a StatefulSet or a claim; handled is false for anything else.
func describeStateful(cliContext *cli.Context, kind, name string) (bool, error) {
	k, ok := object.Resolve(kind)
	if !ok {
		return false, nil
	}
	return ctl.DescribeStateful(cliContext.Context, newClient(cliContext), k, namespace(cliContext), name, streams(cliContext))
}
