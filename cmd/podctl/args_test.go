package main

import (
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestHoistFlags(t *testing.T) {
	app := newApp(nil, io.Discard, io.Discard)
	tests := []struct {
		in, want string
	}{
		{"get", "get"},
		{"get web", "get -- web"},
		{"get web -o json", "-o json get -- web"},
		{"get -n kube -A -o=wide", "-n kube -o=wide get -A"},
		{"-n kube get web", "-n kube get -- web"},
		{"logs web -c app", "logs -c app -- web"},
		{"logs web --container=app -n x", "-n x logs --container=app -- web"},
		{"logs web -f -c app --tail 10", "logs -f -c app --tail 10 -- web"},
		{"logs web --tail -1 -p", "logs --tail -1 -p -- web"},
		{"logs -fp web --since 5m --timestamps", "logs -fp --since 5m --timestamps -- web"},
		{"logs web --since-time=2024-05-01T10:00:00Z -n x", "-n x logs --since-time=2024-05-01T10:00:00Z -- web"},
		{"exec web -it -c app -- sh -c 'echo -n hi'", "exec -it -c app -- web sh -c 'echo -n hi'"},
		{"exec -i web -- ls -l", "exec -i -- web ls -l"},
		{"rm web db --grace 3 --force", "rm --grace 3 --force -- web db"},
		{"stop web --grace -1", "stop --grace -1 -- web"},
		{"run - -d", "run -d -- -"},
		{"image ls -o json", "-o json image ls"},
		{"image rm example.com/a:1", "image rm -- example.com/a:1"},
		{"--socket /tmp/s version", "--socket /tmp/s version"},
		{"get --bogus web", "get --bogus -- web"},
		{"nosuch -o json x", "nosuch -o json x"},
		{"help get", "help get"},
		{"--help", "--help"},
	}
	for _, tt := range tests {
		got := hoistFlags(app, split(tt.in))
		if !reflect.DeepEqual(got, split(tt.want)) {
			t.Errorf("hoistFlags(%s) = %q, want %q", tt.in, got, split(tt.want))
		}
	}
}

// split splits on spaces, keeping 'quoted words' together.
func split(s string) []string {
	var out []string
	for i, part := range strings.Split(s, "'") {
		if i%2 == 1 {
			out = append(out, part)
			continue
		}
		out = append(out, strings.Fields(part)...)
	}
	return out
}

// TestGetArgsElections: "get elections" lists the elections, not a pod named elections.
func TestGetArgsElections(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		kinds []string
		name  string
	}{
		{[]string{"elections"}, []string{"elections"}, ""},
		{[]string{"election", "lead"}, []string{"election"}, "lead"},
		{[]string{"election/lead"}, []string{"election"}, "lead"},
		{[]string{"web"}, nil, "web"},
	} {
		kinds, name, err := getArgs(tc.args)
		if err != nil || !slices.Equal(kinds, tc.kinds) || name != tc.name {
			t.Errorf("getArgs(%q) = %q %q %v, want %q %q", tc.args, kinds, name, err, tc.kinds, tc.name)
		}
	}
}
