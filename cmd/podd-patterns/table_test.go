package main

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/patterns"
)

// TestInjectionTable holds pkg/patterns' table of helpers to the helpers' own commands: for every
// helper in both, each flag the table lets an annotation set exists in the helper's cli.Command
// with the same kind, so that an expanded pod never runs a helper with a flag it refuses.
// And the other way: every helper of the table is a command, and every flag of the command can be
// set by annotation.
func TestInjectionTable(t *testing.T) {
	byName := map[string]*cli.Command{}
	for _, c := range commands() {
		byName[c.Name] = c
	}
	checked := 0
	for _, h := range patterns.Helpers {
		cmd, ok := byName[h.Name]
		if !ok {
			t.Logf("%s: in the injection table, not (yet) a command of podd-patterns", h.Name)
			continue
		}
		checked++
		flags := map[string]cli.Flag{}
		for _, f := range cmd.Flags {
			for _, name := range f.Names() {
				flags[name] = f
			}
		}
		for _, f := range h.Flags {
			cf, ok := flags[f.Name]
			if !ok {
				t.Errorf("%s: the table's flag --%s is not a flag of the command", h.Name, f.Name)
				continue
			}
			if got := kindOf(cf); got != f.Kind {
				t.Errorf("%s --%s: the table says %s, the command's flag is %s (%T)", h.Name, f.Name, f.Kind, got, cf)
			}
			if f.Default != "" {
				if df, ok := cf.(cli.DocGenerationFlag); !ok || df.GetValue() != f.Default {
					t.Errorf("%s --%s: the table's default %q is not the command's", h.Name, f.Name, f.Default)
				}
			}
		}
		// The other way: every setting of the helper can be given by annotation.
		for _, cf := range cmd.Flags {
			name := cf.Names()[0]
			if _, ok := h.Flag(name); !ok && name != h.ConfigFlag && name != "help" {
				t.Errorf("%s: the command's flag --%s is missing from the injection table", h.Name, name)
			}
		}
		for _, p := range h.Ports {
			if _, ok := h.Flag(p.Flag); !ok {
				t.Errorf("%s: port %s reads flag --%s, which the table lacks", h.Name, p.Name, p.Flag)
			}
		}
		if h.ConfigFlag != "" {
			if f, ok := flags[h.ConfigFlag]; !ok || kindOf(f) != patterns.String {
				t.Errorf("%s: the configuration flag --%s is not a string flag of the command", h.Name, h.ConfigFlag)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no helper of the table is a command of podd-patterns")
	}
}

func kindOf(f cli.Flag) patterns.FlagKind {
	switch f.(type) {
	case *cli.StringFlag, *cli.PathFlag, *cli.GenericFlag:
		return patterns.String
	case *cli.BoolFlag:
		return patterns.Bool
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return patterns.Int
	case *cli.DurationFlag:
		return patterns.Duration
	case *cli.StringSliceFlag:
		return patterns.List
	}
	return "unknown"
}
