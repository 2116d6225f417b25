package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
)

var eventTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testEvent(ns, podName, container, reason string, minute int) pod.Event {
	e := pod.Event{
		Type:   pod.EventNormal,
		Reason: reason,
		InvolvedObject: pod.ObjectReference{
			Kind: "Pod", Namespace: ns, Name: podName, UID: "uid-" + podName,
		},
		Message:        reason + " container " + container,
		Count:          1,
		FirstTimestamp: eventTime.Add(time.Duration(minute) * time.Minute),
		LastTimestamp:  eventTime.Add(time.Duration(minute) * time.Minute),
	}
	if container != "" {
		e.InvolvedObject.FieldPath = "spec.containers{" + container + "}"
	}
	return e
}

func reasons(events []pod.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name+":"+e.Reason)
	}
	return out
}

func eventFixture(t *testing.T) (*apitest.Pods, *api.Client, string) {
	pods := apitest.NewPods(testPod("default", "web"), testPod("other", "db"))
	pods.AddEvent(testEvent("default", "web", "app", "Started", 2))
	pods.AddEvent(testEvent("other", "db", "app", "Created", 1))
	pods.AddEvent(testEvent("default", "web", "app", "Created", 0))
	sock := apitest.Serve(t, api.NewServer(pods, apitest.NewImages(), "test", nil))
	return pods, api.NewClient(sock), sock
}

func TestEventsList(t *testing.T) {
	ctx := t.Context()
	_, c, sock := eventFixture(t)
	tests := []struct {
		namespace, pod string
		want           []string
	}{
		{"", "", []string{"default/web:Created", "other/db:Created", "default/web:Started"}},
		{"default", "", []string{"default/web:Created", "default/web:Started"}},
		{"default", "web", []string{"default/web:Created", "default/web:Started"}},
		{"other", "db", []string{"other/db:Created"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		got, err := c.Events(ctx, tt.namespace, tt.pod)
		if err != nil {
			t.Fatalf("Events(%q, %q): %v", tt.namespace, tt.pod, err)
		}
		if !reflect.DeepEqual(reasons(got), tt.want) {
			t.Errorf("Events(%q, %q) = %v, want %v", tt.namespace, tt.pod, reasons(got), tt.want)
		}
	}

	if _, err := c.Events(ctx, "default", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("Events of a missing pod: %v, want not found", err)
	}
	if _, err := c.Events(ctx, "", "web"); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "pod needs namespace") {
		t.Errorf("Events without namespace: %v, want invalid", err)
	}

	// The wire: an empty list is [], and the Event has Kubernetes' field names.
	resp, body := rawDo(t, sock, http.MethodGet, "/v1/events?namespace=empty", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "{\"items\":[]}\n" {
		t.Errorf("empty list: %d %q", resp.StatusCode, body)
	}
	_, body = rawDo(t, sock, http.MethodGet, "/v1/events?namespace=other&pod=db", nil)
	for _, want := range []string{`"type":"Normal"`, `"reason":"Created"`, `"involvedObject":{"kind":"Pod","namespace":"other","name":"db","uid":"uid-db","fieldPath":"spec.containers{app}"}`, `"count":1`, `"firstTimestamp":"2025-06-01T12:01:00Z"`, `"lastTimestamp":"2025-06-01T12:01:00Z"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("event JSON lacks %s: %s", want, body)
		}
	}
	resp, body = rawDo(t, sock, http.MethodGet, "/v1/events?watch=maybe", nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `watch \"maybe\"`) {
		t.Errorf("bad watch: %d %s", resp.StatusCode, body)
	}
	resp, _ = rawDo(t, sock, http.MethodPost, "/v1/events", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/events: %d, want 405", resp.StatusCode)
	}
}

// TestWatchEvents follows the events of one pod over the socket: first those that exist, then the
// new ones as they come, and the watch ends on the server once the client goes away.
func TestWatchEvents(t *testing.T) {
	pods, c, _ := eventFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan pod.Event)
	done := make(chan error, 1)
	go func() {
		done <- c.WatchEvents(ctx, "default", "web", func(e pod.Event) error {
			got <- e
			return nil
		})
	}()
	next := func() pod.Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case err := <-done:
			t.Fatalf("watch ended: %v", err)
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
		return pod.Event{}
	}
	if e := next(); e.Reason != "Created" {
		t.Errorf("first event %s, want Created", e.Reason)
	}
	if e := next(); e.Reason != "Started" {
		t.Errorf("second event %s, want Started", e.Reason)
	}
	if err := pods.WaitWatchers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	pods.AddEvent(testEvent("other", "db", "app", "Started", 3)) // another pod: not sent
	killing := testEvent("default", "web", "app", "Killing", 4)
	killing.Type = pod.EventWarning
	pods.AddEvent(killing)
	if e := next(); !reflect.DeepEqual(e, killing) {
		t.Errorf("watched %+v, want %+v", e, killing)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchEvents after cancel = %v, want nil", err)
	}
	// The server's watch ends with the connection.
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	for pods.Watchers() > 0 {
		select {
		case <-wctx.Done():
			t.Fatal("the server still watches after the client went away")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestWatchEventsWire(t *testing.T) {
	pods, _, sock := eventFixture(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://podd/v1/events?namespace=default&watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rawClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
	}
	lines := bufio.NewScanner(resp.Body)
	line := func() pod.Event {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var e pod.Event
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		return e
	}
	line()
	line()
	if err := pods.WaitWatchers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	pods.AddEvent(testEvent("default", "web", "app", "Pulled", 5))
	if e := line(); e.Reason != "Pulled" {
		t.Errorf("third line %+v, want Pulled", e)
	}

	// Errors before the stream are ordinary responses.
	resp2, body := rawDo(t, sock, http.MethodGet, "/v1/events?namespace=default&pod=nope&watch=true", nil)
	if resp2.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"class":"not_found"`) {
		t.Errorf("watch of a missing pod: %d %s", resp2.StatusCode, body)
	}
}

// replayPods replays on its watch what the list already holds, as the pod manager may when an
// event happens between the start of the watch and the list.
type replayPods struct {
	*apitest.Pods
	replay []pod.Event
	wait   chan struct{} // if set, the watch fails only once it is closed
	err    error
}

func (r *replayPods) WatchEvents(ctx context.Context, namespace, name string, fn func(pod.Event) error) error {
	for _, e := range r.replay {
		if err := fn(e); err != nil {
			return err
		}
	}
	if r.err != nil {
		if r.wait != nil {
			select {
			case <-r.wait:
			case <-ctx.Done():
				return nil
			}
		}
		return r.err
	}
	return r.Pods.WatchEvents(ctx, namespace, name, fn)
}

func TestWatchEventsSendsListedEventsOnce(t *testing.T) {
	fake := apitest.NewPods(testPod("default", "web"))
	backoff := testEvent("default", "web", "app", "BackOff", 0)
	backoff.Count = 2
	fake.AddEvent(backoff)
	again := backoff
	again.Count = 3
	again.LastTimestamp = backoff.LastTimestamp.Add(time.Minute)
	later := testEvent("default", "web", "app", "BackOff", 9) // the same reason and message, later: a new event
	pods := &replayPods{Pods: fake, replay: []pod.Event{backoff, again, backoff, later}}
	c := api.NewClient(apitest.Serve(t, api.NewServer(pods, apitest.NewImages(), "test", nil)))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []int32
	err := c.WatchEvents(ctx, "default", "web", func(e pod.Event) error {
		got = append(got, e.Count)
		if len(got) == 3 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{2, 3, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("counts %v, want %v (the listed event, its repeat, the new event)", got, want)
	}
}

func TestWatchEventsEnds(t *testing.T) {
	fake := apitest.NewPods(testPod("default", "web"))
	fake.AddEvent(testEvent("default", "web", "app", "Created", 0))

	// A watch that fails after the stream started reports through the trailer.
	failing := &replayPods{Pods: fake, wait: make(chan struct{}), err: errdefs.ErrUnavailable.WithMessage("event recorder closed")}
	c := api.NewClient(apitest.Serve(t, api.NewServer(failing, apitest.NewImages(), "test", nil)))
	n := 0
	err := c.WatchEvents(t.Context(), "default", "web", func(pod.Event) error {
		n++
		close(failing.wait)
		return nil
	})
	if !errdefs.IsUnavailable(err) || err.Error() != "event recorder closed" || n != 1 {
		t.Errorf("WatchEvents = %v after %d events, want the trailer's error after 1", err, n)
	}

	// A watch that fails before the stream is an ordinary error.
	early := &replayPods{Pods: fake, err: errdefs.ErrFailedPrecondition.WithMessage("no watching today")}
	c = api.NewClient(apitest.Serve(t, api.NewServer(early, apitest.NewImages(), "test", nil)))
	// The watch may or may not have ended before the list is written; either way the client sees
	// the error.
	err = c.WatchEvents(t.Context(), "default", "web", func(pod.Event) error { return nil })
	if !errdefs.IsFailedPrecondition(err) {
		t.Errorf("WatchEvents = %v, want failed precondition", err)
	}

	// fn's error ends the watch and is returned as it is.
	c = api.NewClient(apitest.Serve(t, api.NewServer(fake, apitest.NewImages(), "test", nil)))
	stop := errors.New("enough")
	if err := c.WatchEvents(t.Context(), "default", "web", func(pod.Event) error { return stop }); err != stop {
		t.Errorf("WatchEvents = %v, want fn's error", err)
	}
	if _, err := c.Events(t.Context(), "default", "web"); err != nil {
		t.Fatal(err)
	}

	// A server that goes away ends the stream with an error of class unavailable.
	srv := &http.Server{Handler: api.NewServer(fake, apitest.NewImages(), "test", nil)}
	sock := serveClosable(t, srv)
	c = api.NewClient(sock)
	err = c.WatchEvents(t.Context(), "", "", func(pod.Event) error {
		go srv.Close()
		return nil
	})
	if !errdefs.IsUnavailable(err) {
		t.Errorf("WatchEvents after the server closed = %v, want unavailable", err)
	}
}

// serveClosable serves srv on a unix socket that the test may close early.
func serveClosable(t *testing.T, srv *http.Server) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "podd-events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "podd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}
