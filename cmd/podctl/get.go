package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Aliases:   []string{"ps"},
		Usage:     "list objects of one or more kinds, or show one (pods when no kind is given)",
		ArgsUsage: "[KIND[,KIND...]] [NAME] | KIND/NAME | POD",
		Description: "KIND is any of kubectl's names: pods (po), deployments (deploy), replicasets (rs), statefulsets (sts),\n" +
			"jobs, configmaps (cm), secrets, services (svc), persistentvolumeclaims (pvc);\n" +
			"and elections, podd's local leader elections (specs/patterns/elector.md).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list the objects of every namespace"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "filter by label (kubectl's syntax: app=web,tier!=db,env in (a,b))"},
			watchFlag,
		},
		BashComplete: completeKinds,
		Action: func(cliContext *cli.Context) error {
			kinds, name, err := getArgs(cliContext.Args().Slice())
			if err != nil {
				return err
			}
			out, err := outputFormat(cliContext)
			if err != nil {
				return err
			}
			watching := cliContext.Bool("watch")
			if watching && (len(kinds) != 1 || !ctl.IsQueueKind(kinds[0])) {
				return ctl.Usagef("get -w: only queues can be watched (get queues -w [NAME])")
			}
			if watching {
				if out != ctl.FormatTable {
					return ctl.Usagef("get queues -w: -o %s: the live view has no other format", cliContext.String("output"))
				}
				return ctl.WatchQueues(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, out), watchOptions(cliContext), streams(cliContext))
			}
			if len(kinds) == 1 && ctl.IsQueueKind(kinds[0]) {
				return ctl.GetQueues(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, out), streams(cliContext))
			}
			if len(kinds) == 1 && ctl.IsFanoutKind(kinds[0]) {
				return ctl.GetFanouts(cliContext.Context, newClient(cliContext), ctl.FanoutOptions{Namespace: namespace(cliContext), Name: name, Output: out}, streams(cliContext))
			}
			return ctl.Get(cliContext.Context, newClient(cliContext), ctl.GetOptions{
				Namespace:     namespace(cliContext),
				AllNamespaces: cliContext.Bool("all-namespaces"),
				Kinds:         kinds,
				Name:          name,
				Selector:      cliContext.String("selector"),
				Output:        out,
			}, streams(cliContext))
		},
	}
}

// getArgs reads get's arguments: KIND[,KIND] [NAME], KIND/NAME, or (as before kinds) POD.
func getArgs(args []string) (kinds []string, name string, err error) {
	switch len(args) {
	case 0:
		return nil, "", nil
	case 1:
		if k, n, ok := strings.Cut(args[0], "/"); ok {
			return []string{k}, n, nil
		}
		if strings.Contains(args[0], ",") {
			return strings.Split(args[0], ","), "", nil
		}
		if _, err := ctl.ResolveKind(args[0]); err == nil || ctl.IsElectionKind(args[0]) || ctl.IsQueueKind(args[0]) || ctl.IsFanoutKind(args[0]) {
			return []string{args[0]}, "", nil
		}
		return nil, args[0], nil
	case 2:
		return strings.Split(args[0], ","), args[1], nil
	}
	return nil, "", ctl.Usagef("get: want [KIND[,KIND]] [NAME], got %q", args)
}
