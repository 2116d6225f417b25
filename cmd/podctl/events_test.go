package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

func addEvents(pods interface{ AddEvent(pod.Event) }, ns, name string, reasons ...string) {
	t0 := time.Now().Add(-time.Minute)
	for _, r := range reasons {
		pods.AddEvent(pod.Event{
			Type: pod.EventNormal, Reason: r, Message: r + " container app", Count: 1,
			InvolvedObject: pod.ObjectReference{Kind: "Pod", Namespace: ns, Name: name, FieldPath: "spec.containers{app}"},
			FirstTimestamp: t0, LastTimestamp: t0,
		})
	}
}

func TestEventsCommand(t *testing.T) {
	sock, pods := serve(t)
	addEvents(pods, "default", "web", "Created", "Started")
	addEvents(pods, "data", "db", "Pulled")
	tests := []struct {
		args []string
		code int
		out  string // a prefix of stdout
		err  string // a substring of stderr
	}{
		{[]string{"events"}, 0, "LAST SEEN   TYPE     REASON    OBJECT    MESSAGE\n1m          Normal   Created   pod/web   Created container app\n", ""},
		{[]string{"events", "web"}, 0, "LAST SEEN   TYPE     REASON    OBJECT", ""},
		{[]string{"events", "-A"}, 0, "NAMESPACE   LAST SEEN   TYPE     REASON    OBJECT", ""},
		{[]string{"events", "db", "-n", "data", "-o", "json"}, 0, "{\n    \"items\": [\n        {\n            \"type\": \"Normal\",\n            \"reason\": \"Pulled\"", ""},
		{[]string{"-o", "wide", "events", "db", "-n", "data"}, 0, "LAST SEEN   TYPE     REASON   OBJECT   SUBOBJECT              SOURCE", ""},
		{[]string{"events", "-n", "none"}, 0, "", "No resources found in none namespace.\n"},
		{[]string{"events", "nope"}, 1, "", "error: pod default/nope not found\n"},
		{[]string{"events", "web", "db"}, 2, "", "error: events: want at most one POD argument"},
		{[]string{"events", "web", "-A"}, 2, "", "drop --all-namespaces or POD"},
		{[]string{"events", "--bogus"}, 2, "", "error: events: flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := podctl(t, sock, "", tt.args...)
			if r.code != tt.code || !strings.HasPrefix(r.out, tt.out) || !strings.Contains(r.err, tt.err) {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout starting %q, stderr with %q", r.code, r.out, r.err, tt.code, tt.out, tt.err)
			}
			if tt.err == "" && r.err != "" {
				t.Errorf("unexpected stderr %q", r.err)
			}
		})
	}
}

// TestEventsFollow runs podctl events -f as a user does: the flags after the pod, the events so
// far, one that happens meanwhile, then an interrupt, which ends it with status 0.
func TestEventsFollow(t *testing.T) {
	for _, args := range [][]string{
		{"events", "web", "-f"},
		{"events", "-fA", "-o", "json"},
		{"events", "web", "--watch", "-n", "default"},
		{"events", "-w", "web"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			sock, pods := serve(t)
			addEvents(pods, "default", "web", "Created")
			ctx, interrupt := context.WithCancel(t.Context())
			defer interrupt()
			pr, pw := io.Pipe()
			code := make(chan int, 1)
			var errOut strings.Builder
			go func() {
				code <- run(ctx, append([]string{"podctl", "--socket", sock}, args...), strings.NewReader(""), pw, &errOut)
				pw.Close()
			}()
			lines := bufio.NewScanner(pr)
			wait := func(substr string) {
				t.Helper()
				for lines.Scan() {
					if strings.Contains(lines.Text(), substr) {
						return
					}
				}
				t.Fatalf("no line with %q; stderr %q", substr, errOut.String())
			}
			wait("Created")
			if err := pods.WaitWatchers(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			addEvents(pods, "default", "web", "Killing")
			wait("Killing")
			interrupt()
			for lines.Scan() {
			}
			if c := <-code; c != 0 {
				t.Errorf("exit %d after the interrupt, stderr %q", c, errOut.String())
			}
		})
	}
}
