package pod

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"A":     "a",
		"B":     "b",
		"EMPTY": "",
		"REF":   "$(A)",
		"DOLLS": "$$",
		"":      "unnamed",
		"A B":   "spaced",
		"ÄÖ":    "umlauts",
	}
	mapping := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty input", "", ""},
		{"no reference", "plain text", "plain text"},
		{"newline", "\n", "\n"},
		{"whole", "$(A)", "a"},
		{"repeated", "$(A)-$(A)", "a-a"},
		{"at the start", "$(A)-1", "a-1"},
		{"in the middle", "__$(B)__", "__b__"},
		{"at the end", "__$(B)", "__b"},
		{"adjacent", "$(A)$(B)", "ab"},
		{"compound", "$(A)_$(B)_$(A)", "a_b_a"},
		{"defined but empty", "x$(EMPTY)y", "xy"},
		{"undefined stays", "$(NOPE)", "$(NOPE)"},
		{"undefined beside defined", "$(NOPE)$(A)", "$(NOPE)a"},
		{"value is not expanded again", "$(REF)", "$(A)"},
		{"value's $$ is not unescaped", "$(DOLLS)", "$$"},
		{"empty name looked up", "$()", "unnamed"},
		{"name with a space", "$(A B)", "spaced"},
		{"non-ASCII name", "$(ÄÖ)", "umlauts"},
		{"non-ASCII around", "é$(A)ü", "éaü"},

		{"escape", "$$(A)", "$(A)"},
		{"escape then expand", "$$(B)_$(A)", "$(B)_a"},
		{"two escapes", "$$(A)_$$(B)", "$(A)_$(B)"},
		{"escaped bare name", "f00-$$A", "f00-$A"},
		{"lone $$", "$$", "$"},
		{"three $", "$$$", "$$"},
		{"even $ run, undefined", "$$$$$$(NOPE)", "$$$(NOPE)"},
		{"even $ run, defined", "$$$$$$(A)", "$$$(A)"},
		{"odd $ run, undefined", "$$$$$$$(NOPE)", "$$$$(NOPE)"},
		{"odd $ run, defined", "$$$$$$$(A)", "$$$a"},
		{"$$ inside a name is not an escape", "$(A$$B)", "$(A$$B)"},

		{"bare operator", "$A", "$A"},
		{"shell braces", "${A}", "${A}"},
		{"shell specials", "$?_x_$!", "$?_x_$!"},
		{"operator at the end", "$(A)x$", "ax$"},
		{"only an operator", "$", "$"},
		{"missing opener", "$A)", "$A)"},
		{"parenthesis without operator", "__(A)__", "__(A)__"},
		{"backslash is no escape", `x\$(A)y`, `x\ay`},
		{"backslashes kept", `x\\$(A)y`, `x\\ay`},

		{"unclosed", "x$(Awhoops", "x$(Awhoops"},
		{"unclosed empty", "$(", "$("},
		{"unclosed after a reference", "$(B)___$(A", "b___$(A"},
		{"unclosed, empty, after a reference", "$(A)___$(", "a___$("},
		{"many unclosed", "--$($($($--", "--$($($($--"},
		{"many unclosed at the end", "x--$($($(", "x--$($($("},
		{"many unclosed at the start", "$($($($--x$(", "$($($($--x$("},
		{"escaped unclosed", `x-\$(A`, `x-\$(A`},

		// The name runs to the first ")", so these look up "A$(B" and stay as written.
		{"nested", "$(A$(B))", "$(A$(B))"},
		{"nested, unbalanced", "$(A$(B)", "$(A$(B)"},
		// "$($(A)" names "$(A", which is undefined: nothing inside is expanded.
		{"opener inside a name", "$($(A)", "$($(A)"},
		{"closer ends the first reference", "$(A))", "a)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expand(tt.in, mapping); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandSkipsMappingWithoutReference(t *testing.T) {
	// Without a "$(", the mapping is never consulted, so callers with nothing to map may pass
	// a mapping that defines nothing.
	none := func(string) (string, bool) { t.Fatal("mapping called"); return "", false }
	for _, in := range []string{"", "abc", "$$", "$x", "$(", "a$"} {
		Expand(in, none)
	}
}

func TestEnvMapping(t *testing.T) {
	m := envMapping([]string{"A=1", "B=", "C=x=y", "A=2", "NOEQUALS"})
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"A", "2", true},
		{"B", "", true},
		{"C", "x=y", true},
		{"NOEQUALS", "", false},
		{"D", "", false},
	}
	for _, tt := range tests {
		if got, ok := m(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("mapping(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
