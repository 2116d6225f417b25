package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
	"github.com/podd-dev/podd/pkg/object"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show an object in detail: a pod, describe KIND NAME (job, cm, secret, ...), or every object of a KIND (describe deployments)",
		ArgsUsage: "POD | KIND NAME | KIND/NAME | KIND",
		Flags:     []cli.Flag{watchFlag},
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
				} else if k, err := ctl.ResolveKind(arg); err == nil {
					// A kind alone, as kubectl describe deployments: every object of it.
					return describeAll(cliContext, k)
				}
			}
			if cliContext.Bool("watch") && !ctl.IsQueueKind(kind) {
				return ctl.Usagef("describe -w: only a queue can be watched (describe queue NAME -w)")
			}
			return describeOne(cliContext, kind, name)
		},
	}
}

// describeAll describes every object of a kind in the namespace, one after the other with a blank
// line between, as kubectl describe KIND does ("No resources found" when there is none).
func describeAll(cliContext *cli.Context, kind string) error {
	c := newClient(cliContext)
	var names []string
	if kind == "Pod" {
		pods, err := c.ListPods(cliContext.Context, namespace(cliContext))
		if err != nil {
			return err
		}
		for _, p := range pods {
			names = append(names, p.Metadata.Name)
		}
	} else {
		k, _ := object.KindOf(kind)
		objs, err := c.ListObjects(cliContext.Context, k, namespace(cliContext))
		if err != nil {
			return err
		}
		for _, o := range objs {
			names = append(names, o.GetMetadata().Name)
		}
	}
	if len(names) == 0 {
		fmt.Fprintf(cliContext.App.ErrWriter, "No resources found in %s namespace.\n", namespace(cliContext))
		return nil
	}
	slices.Sort(names)
	for i, name := range names {
		if i > 0 {
			fmt.Fprintln(cliContext.App.Writer)
			fmt.Fprintln(cliContext.App.Writer)
		}
		if err := describeOne(cliContext, kind, name); err != nil {
			return err
		}
	}
	return nil
}

// describeOne describes one object: a pod when kind is "".
func describeOne(cliContext *cli.Context, kind, name string) error {
	if ctl.IsQueueKind(kind) {
		out, err := outputFormat(cliContext)
		if err != nil {
			return err
		}
		if cliContext.Bool("watch") {
			return ctl.WatchDescribeQueue(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, out), watchOptions(cliContext), streams(cliContext))
		}
		return ctl.DescribeQueue(cliContext.Context, newClient(cliContext), queueOptions(cliContext, name, out), streams(cliContext))
	}
	if ctl.IsFanoutKind(kind) {
		out, err := outputFormat(cliContext)
		if err != nil {
			return err
		}
		return ctl.DescribeFanout(cliContext.Context, newClient(cliContext), ctl.FanoutOptions{Namespace: namespace(cliContext), Name: name, Output: out}, streams(cliContext))
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
}

// describeStateful describes a StatefulSet or a claim; handled is false for anything else.
func describeStateful(cliContext *cli.Context, kind, name string) (bool, error) {
	k, ok := object.Resolve(kind)
	if !ok {
		return false, nil
	}
	return ctl.DescribeStateful(cliContext.Context, newClient(cliContext), k, namespace(cliContext), name, streams(cliContext))
}
