package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// hoistFlags lets flags follow arguments, as kubectl users type them (podctl logs web -c app,
// podctl get -n kube -o json): Go's flag parsing, which urfave/cli v2 uses, stops at the first
// argument. It moves global flags before the command, each command's flags right after its name,
// and puts the arguments after a "--" so that none is taken for a flag. Nothing after the first
// "--" moves (exec's command). A command line that names no command is left as it is.
func hoistFlags(app *cli.App, args []string) []string {
	var (
		global     []string
		levels     [][]string // per command: its name, then its flags
		positional []string
		tail       []string
		sawDash    bool
		cmdFlags   []cli.Flag
		cmds       = app.Commands
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			sawDash = true
			tail = args[i+1:]
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			dst := &global
			f := lookupFlag(cmdFlags, name)
			if f != nil || (len(levels) > 0 && (lookupFlag(app.Flags, name) == nil || boolGroup(cmdFlags, a))) {
				dst = &levels[len(levels)-1]
			}
			if f == nil {
				f = lookupFlag(app.Flags, name)
			}
			*dst = append(*dst, a)
			if f != nil && takesValue(f) && !hasValue && i+1 < len(args) {
				i++
				*dst = append(*dst, args[i])
			}
			continue
		}
		if len(positional) == 0 {
			if c := lookupCommand(cmds, a); c != nil {
				levels = append(levels, []string{a})
				cmdFlags, cmds = c.Flags, c.Subcommands
				continue
			}
		}
		if len(levels) == 0 {
			return args
		}
		positional = append(positional, a)
	}
	if len(levels) == 0 {
		return args
	}
	out := append([]string(nil), global...)
	for _, l := range levels {
		out = append(out, l...)
	}
	if len(positional) > 0 || sawDash {
		out = append(out, "--")
		out = append(out, positional...)
		out = append(out, tail...)
	}
	return out
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	tv, ok := f.(interface{ TakesValue() bool })
	return ok && tv.TakesValue()
}

// boolGroup tells whether a is short boolean flags of a command written together (-it).
func boolGroup(flags []cli.Flag, a string) bool {
	if strings.HasPrefix(a, "--") || len(a) < 3 || strings.Contains(a, "=") {
		return false
	}
	for _, r := range a[1:] {
		f := lookupFlag(flags, string(r))
		if f == nil || takesValue(f) {
			return false
		}
	}
	return true
}

func lookupCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
