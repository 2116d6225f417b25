package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gopkg.in/yaml.v3"

	"github.com/podd-dev/podd/pkg/pod"
)

func podEvent(ns, podName, container, typ, reason, msg string, count int32, first, last time.Duration) pod.Event {
	e := pod.Event{
		Type: typ, Reason: reason, Message: msg, Count: count,
		InvolvedObject: pod.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName, UID: "uid-" + podName},
		FirstTimestamp: testNow.Add(-first),
		LastTimestamp:  testNow.Add(-last),
	}
	if container != "" {
		e.InvolvedObject.FieldPath = "spec.containers{" + container + "}"
	}
	return e
}

func eventsEnv(t *testing.T) *env {
	e := newEnv(t, webPod(), jobPod())
	e.pods.AddEvent(podEvent("default", "web", "app", pod.EventNormal, "Created", "Created container app", 1, 3*time.Minute, 3*time.Minute))
	e.pods.AddEvent(podEvent("default", "web", "app", pod.EventNormal, "Started", "Started container app", 1, 3*time.Minute, 3*time.Minute-time.Second))
	e.pods.AddEvent(podEvent("batch", "job", "", pod.EventWarning, "FailedMount", "hostPath /srv/data:\nnot a directory", 1, 2*time.Minute, 2*time.Minute))
	e.pods.AddEvent(podEvent("default", "web", "proxy", pod.EventWarning, "BackOff", "Back-off restarting failed container proxy in pod web", 3, 5*time.Minute, 10*time.Second))
	return e
}

func TestEventsTables(t *testing.T) {
	tests := []struct {
		name string
		o    EventsOptions
		want string
	}{
		{"namespace", EventsOptions{Namespace: "default"}, "" +
			"LAST SEEN          TYPE      REASON    OBJECT    MESSAGE\n" +
			"3m                 Normal    Created   pod/web   Created container app\n" +
			"2m                 Normal    Started   pod/web   Started container app\n" +
			"10s (x3 over 5m)   Warning   BackOff   pod/web   Back-off restarting failed container proxy in pod web\n"},
		{"one pod", EventsOptions{Namespace: "batch", Name: "job"}, "" +
			"LAST SEEN   TYPE      REASON        OBJECT    MESSAGE\n" +
			"2m          Warning   FailedMount   pod/job   hostPath /srv/data: not a directory\n"},
		{"all namespaces", EventsOptions{Namespace: "default", AllNamespaces: true}, "" +
			"NAMESPACE   LAST SEEN          TYPE      REASON        OBJECT    MESSAGE\n" +
			"default     3m                 Normal    Created       pod/web   Created container app\n" +
			"default     2m                 Normal    Started       pod/web   Started container app\n" +
			"batch       2m                 Warning   FailedMount   pod/job   hostPath /srv/data: not a directory\n" +
			"default     10s (x3 over 5m)   Warning   BackOff       pod/web   Back-off restarting failed container proxy in pod web\n"},
		{"wide", EventsOptions{Namespace: "batch", Name: "job", Output: FormatWide}, "" +
			"LAST SEEN   TYPE      REASON        OBJECT    SUBOBJECT   SOURCE   MESSAGE                               FIRST SEEN   COUNT\n" +
			"2m          Warning   FailedMount   pod/job   <none>      podd     hostPath /srv/data: not a directory   2m           1\n"},
		{"wide with a container", EventsOptions{Namespace: "default", Output: FormatWide}, "" +
			"LAST SEEN          TYPE      REASON    OBJECT    SUBOBJECT                SOURCE   MESSAGE                                                 FIRST SEEN   COUNT\n" +
			"3m                 Normal    Created   pod/web   spec.containers{app}     podd     Created container app                                   3m           1\n" +
			"2m                 Normal    Started   pod/web   spec.containers{app}     podd     Started container app                                   3m           1\n" +
			"10s (x3 over 5m)   Warning   BackOff   pod/web   spec.containers{proxy}   podd     Back-off restarting failed container proxy in pod web   5m           3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := eventsEnv(t)
			if err := Events(t.Context(), e.client, tt.o, e.streams("")); err != nil {
				t.Fatal(err)
			}
			if e.out.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", e.out, tt.want)
			}
		})
	}
}

func TestEventsStructuredAndErrors(t *testing.T) {
	ctx := t.Context()
	e := eventsEnv(t)
	if err := Events(ctx, e.client, EventsOptions{Namespace: "batch", Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []pod.Event `json:"items"`
	}
	if err := json.Unmarshal(e.out.Bytes(), &list); err != nil || len(list.Items) != 1 || list.Items[0].Reason != "FailedMount" {
		t.Errorf("JSON %s: %v", e.out, err)
	}

	e.out.Reset()
	if err := Events(ctx, e.client, EventsOptions{Namespace: "batch", Output: FormatYAML}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	var y map[string][]map[string]any
	if err := yaml.Unmarshal(e.out.Bytes(), &y); err != nil || len(y["items"]) != 1 || y["items"][0]["reason"] != "FailedMount" {
		t.Errorf("YAML %s: %v", e.out, err)
	}
	if !strings.Contains(e.out.String(), "involvedObject:\n      kind: Pod\n") {
		t.Errorf("YAML lacks Kubernetes' field names:\n%s", e.out)
	}

	// None: a message on stderr for tables, an empty list for programs.
	e.out.Reset()
	if err := Events(ctx, e.client, EventsOptions{Namespace: "dev"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "" || e.err.String() != "No resources found in dev namespace.\n" {
		t.Errorf("out %q err %q", e.out, e.err)
	}
	if err := Events(ctx, e.client, EventsOptions{Namespace: "dev", Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(e.out.String()), ""); got != `{"items":[]}` {
		t.Errorf("empty JSON = %s", e.out)
	}

	err := Events(ctx, e.client, EventsOptions{Namespace: "default", Name: "nope"}, e.streams(""))
	if !errdefs.IsNotFound(err) {
		t.Errorf("events of a missing pod: %v", err)
	}
	var usage *UsageError
	if err := Events(ctx, e.client, EventsOptions{Name: "web", AllNamespaces: true}, e.streams("")); !errorsAs(err, &usage) {
		t.Errorf("events POD -A: %v, want a usage error", err)
	}
}

// watchRun runs Events with Watch until the test cancels it, with its output on a pipe.
type watchRun struct {
	lines  *bufio.Scanner
	cancel context.CancelFunc
	done   chan error
}

func startWatch(t *testing.T, e *env, o EventsOptions) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	w := &watchRun{lines: bufio.NewScanner(pr), cancel: cancel, done: make(chan error, 1)}
	o.Watch = true
	go func() {
		err := Events(ctx, e.client, o, Streams{In: strings.NewReader(""), Out: pw, Err: e.err})
		pw.Close()
		w.done <- err
	}()
	t.Cleanup(func() { cancel(); pr.Close() })
	return w
}

func (w *watchRun) next(t *testing.T) string {
	t.Helper()
	if !w.lines.Scan() {
		t.Fatalf("output ended: %v", w.lines.Err())
	}
	return w.lines.Text()
}

func (w *watchRun) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	for w.lines.Scan() {
		t.Errorf("unexpected line %q", w.lines.Text())
	}
	if err := <-w.done; err != nil {
		t.Errorf("Events -f ended with %v, want nil when interrupted", err)
	}
}

func TestEventsWatchTable(t *testing.T) {
	e := eventsEnv(t)
	w := startWatch(t, e, EventsOptions{Namespace: "default"})
	// The events so far, aligned as without -f but with room for longer LAST SEEN cells.
	for _, want := range []string{
		"LAST SEEN           TYPE      REASON    OBJECT    MESSAGE",
		"3m                  Normal    Created   pod/web   Created container app",
		"2m                  Normal    Started   pod/web   Started container app",
		"10s (x3 over 5m)    Warning   BackOff   pod/web   Back-off restarting failed container proxy in pod web",
	} {
		if got := w.next(t); got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
	if err := e.pods.WaitWatchers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	e.pods.AddEvent(podEvent("batch", "job", "", pod.EventNormal, "Started", "elsewhere", 1, 0, 0))
	e.pods.AddEvent(podEvent("default", "web", "proxy", pod.EventWarning, "BackOff", "Back-off restarting failed container proxy in pod web", 4, 5*time.Minute, 0))
	e.pods.AddEvent(podEvent("default", "web", "proxy", pod.EventNormal, "FailedPostStartHook", "PostStartHook failed: exit status 1", 1, 0, 0))
	for _, want := range []string{
		"0s (x4 over 5m)     Warning   BackOff   pod/web   Back-off restarting failed container proxy in pod web",
		// A wider cell widens its column from then on.
		"0s                  Normal    FailedPostStartHook   pod/web   PostStartHook failed: exit status 1",
	} {
		if got := w.next(t); got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
	w.stop(t)
}

func TestEventsWatchJSONLines(t *testing.T) {
	e := eventsEnv(t)
	w := startWatch(t, e, EventsOptions{Namespace: "default", Name: "web", Output: FormatJSON})
	var reasons []string
	for range 3 {
		var ev pod.Event
		line := w.next(t)
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		reasons = append(reasons, ev.Reason)
	}
	if err := e.pods.WaitWatchers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	e.pods.AddEvent(podEvent("default", "web", "app", pod.EventNormal, "Killing", "Stopping container app", 1, 0, 0))
	var ev pod.Event
	if err := json.Unmarshal([]byte(w.next(t)), &ev); err != nil || ev.Reason != "Killing" || ev.InvolvedObject.FieldPath != "spec.containers{app}" {
		t.Errorf("new event %+v: %v", ev, err)
	}
	if strings.Join(reasons, ",") != "Created,Started,BackOff" {
		t.Errorf("events so far %v", reasons)
	}
	w.stop(t)
}

func TestEventsWatchYAML(t *testing.T) {
	e := eventsEnv(t)
	w := startWatch(t, e, EventsOptions{Namespace: "batch", Output: FormatYAML})
	var doc []string
	for {
		l := w.next(t)
		doc = append(doc, l)
		if strings.HasPrefix(l, "lastTimestamp:") {
			break
		}
	}
	if err := e.pods.WaitWatchers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	e.pods.AddEvent(podEvent("batch", "job", "", pod.EventNormal, "Started", "again", 1, 0, 0))
	for {
		l := w.next(t)
		doc = append(doc, l)
		if strings.HasPrefix(l, "lastTimestamp:") {
			break
		}
	}
	if !strings.Contains(strings.Join(doc, "\n"), "\nmessage: again\n") {
		t.Errorf("the new event is missing:\n%s", strings.Join(doc, "\n"))
	}
	if got := strings.Count(strings.Join(doc, "\n"), "\n---\n"); got != 1 {
		t.Errorf("want the two documents apart by ---:\n%s", strings.Join(doc, "\n"))
	}
	w.stop(t)
}

// TestRowStreamMatchesTable: rows printed one by one look like the table printed at once.
func TestRowStreamMatchesTable(t *testing.T) {
	table := Table{Header: []string{"A", "LONGER HEADER", "C"}, Rows: [][]string{{"x", "", "last"}, {"wider cell é", "y", ""}}}
	var whole, rows bytes.Buffer
	if err := writeTable(&whole, table); err != nil {
		t.Fatal(err)
	}
	rs := newRowStream(&rows, table)
	for _, r := range table.Rows {
		if err := rs.write(r); err != nil {
			t.Fatal(err)
		}
	}
	if whole.String() != rows.String() {
		t.Errorf("row by row\n%s\nwhole\n%s", rows.String(), whole.String())
	}
}
