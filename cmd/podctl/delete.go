package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/ctl"
)

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete the objects of manifests, or objects by kind and name (pods stop within their grace period)",
		ArgsUsage: "-f FILE | KIND NAME...",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "a manifest, a folder of manifests, or - for stdin (repeatable)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "read the folders' subfolders too"},
			&cli.Int64Flag{Name: "grace-period", Aliases: []string{"grace"}, Value: -1, Usage: "seconds between a pod's stop signal and SIGKILL (default: the pod's terminationGracePeriodSeconds)"},
			&cli.BoolFlag{Name: "ignore-not-found", Usage: "treat a missing object as deleted"},
		},
		BashComplete: completeKinds,
		Action: func(cliContext *cli.Context) error {
			var grace *int64
			if g := cliContext.Int64("grace-period"); g >= 0 {
				grace = &g
			}
			o := ctl.DeleteOptions{
				Files:          cliContext.StringSlice("filename"),
				Recursive:      cliContext.Bool("recursive"),
				Namespace:      namespace(cliContext),
				Grace:          grace,
				IgnoreNotFound: cliContext.Bool("ignore-not-found"),
			}
			if args := cliContext.Args().Slice(); len(args) > 0 {
				kind, names, err := deleteArgs(args)
				if err != nil {
					return err
				}
				o.Kind, o.Names = kind, names
			}
			return ctl.Delete(cliContext.Context, newClient(cliContext), o, streams(cliContext))
		},
	}
}

// deleteArgs reads KIND NAME... or KIND/NAME.
func deleteArgs(args []string) (string, []string, error) {
	if len(args) == 1 {
		for i := range args[0] {
			if args[0][i] == '/' {
				return args[0][:i], []string{args[0][i+1:]}, nil
			}
		}
		return "", nil, ctl.Usagef("delete: want KIND NAME... or KIND/NAME, got %q", args[0])
	}
	return args[0], args[1:], nil
}
