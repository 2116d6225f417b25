package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/podd-dev/podd/pkg/pod"
)

// EventList is the body of GET /v1/events.
type EventList struct {
	Items []pod.Event `json:"items"`
}

// eventStreamTrailer carries an error that ended an event stream after it had started; the same
// trailer as the log stream's, so that clients handle both alike.
const eventStreamTrailer = "Podd-Error"

// eventsQuery reads namespace and pod: a pod is named within a namespace, so pod needs namespace.
func eventsQuery(r *http.Request) (namespace, name string, watch bool, err error) {
	q := r.URL.Query()
	namespace, name = q.Get("namespace"), q.Get("pod")
	if name != "" && namespace == "" {
		return "", "", false, invalid("the query parameter pod needs namespace")
	}
	if v := q.Get("watch"); v != "" {
		watch, err = strconv.ParseBool(v)
		if err != nil {
			return "", "", false, invalid(fmt.Sprintf("watch %q: want true or false", v))
		}
	}
	return namespace, name, watch, nil
}

func (s *server) listEvents(w http.ResponseWriter, r *http.Request) error {
	namespace, name, watch, err := eventsQuery(r)
	if err != nil {
		return err
	}
	if watch && r.Method != http.MethodHead {
		return s.watchEvents(w, r, namespace, name)
	}
	events, err := s.pods.Events(r.Context(), namespace, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, EventList{Items: nonNil(events)})
	return nil
}

// watchEvents streams the events that exist, then the new ones, one JSON object a line, until the
// client goes away or podd stops. The watch starts before the list is taken, so that nothing that
// happens in between is lost; what both report once is sent once.
func (s *server) watchEvents(w http.ResponseWriter, r *http.Request, namespace, name string) error {
	ctx, cancel := context.WithCancel(r.Context())
	fresh := make(chan pod.Event)
	watchErr := make(chan error, 1)
	watching := true
	defer func() {
		cancel()
		if watching {
			<-watchErr
		}
	}()
	go func() {
		watchErr <- s.pods.WatchEvents(ctx, namespace, name, func(e pod.Event) error {
			select {
			case fresh <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	existing, err := s.pods.Events(ctx, namespace, name)
	if err != nil {
		return err
	}
	select {
	case err := <-watchErr:
		watching = false
		if err != nil {
			return err
		}
	default:
	}

	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Trailer", eventStreamTrailer)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	listed := newEventSet(existing)
	for _, e := range existing {
		if enc.Encode(e) != nil {
			return nil // the client went away
		}
	}
	if rc.Flush() != nil {
		return nil
	}
	for watching {
		select {
		case e := <-fresh:
			if listed.has(e) {
				continue
			}
			if enc.Encode(e) != nil || rc.Flush() != nil {
				return nil
			}
		case err := <-watchErr:
			watching = false
			if err != nil && ctx.Err() == nil {
				body, _ := json.Marshal(toError(err))
				h.Set(eventStreamTrailer, string(body))
			}
		}
	}
	return nil
}

// eventKey identifies one event across its repeats: a repeat raises Count and LastTimestamp only.
type eventKey struct {
	object              pod.ObjectReference
	typ, reason, msg    string
	firstTimestampNanos int64
}

// eventSet remembers how often each listed event had happened, to tell a watched event that the
// list already showed from a new one or a new repeat.
type eventSet map[eventKey]int32

func newEventSet(events []pod.Event) eventSet {
	set := eventSet{}
	for _, e := range events {
		k := keyOf(e)
		set[k] = max(set[k], e.Count)
	}
	return set
}

func keyOf(e pod.Event) eventKey {
	return eventKey{object: e.InvolvedObject, typ: e.Type, reason: e.Reason, msg: e.Message, firstTimestampNanos: e.FirstTimestamp.UnixNano()}
}

func (s eventSet) has(e pod.Event) bool {
	n, ok := s[keyOf(e)]
	return ok && e.Count <= n
}

func eventsValues(namespace, podName string, watch bool) url.Values {
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	if podName != "" {
		q.Set("pod", podName)
	}
	if watch {
		q.Set("watch", "true")
	}
	return q
}

// Events lists the events of a pod, or of every pod of the namespace when podName is "" (of every
// namespace when namespace is "" too), oldest first by their last occurrence.
func (c *Client) Events(ctx context.Context, namespace, podName string) ([]pod.Event, error) {
	var list EventList
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/events", query: eventsValues(namespace, podName, false)}, &list)
	return list.Items, err
}

// WatchEvents calls fn with the events that exist (as Events lists them), then with each new event
// and each repeat of one as it happens, until ctx ends (it then returns nil), fn fails (it returns
// fn's error) or podd ends the stream (an error of class unavailable).
func (c *Client) WatchEvents(ctx context.Context, namespace, podName string, fn func(pod.Event) error) error {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/events", query: eventsValues(namespace, podName, true)})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var e pod.Event
		err := dec.Decode(&e)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, io.EOF):
			if t := resp.Trailer.Get(eventStreamTrailer); t != "" {
				var apiErr Error
				if json.Unmarshal([]byte(t), &apiErr) == nil && apiErr.Class != "" {
					return &apiErr
				}
				return &Error{Class: ClassInternal, Message: t}
			}
			return &Error{Class: ClassUnavailable, Message: fmt.Sprintf("podd at %s ended the event stream", c.socket)}
		case err != nil:
			var syntaxErr *json.SyntaxError
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
				return &Error{Class: ClassInternal, Message: fmt.Sprintf("decode event from podd: %v", err)}
			}
			return &Error{Class: ClassUnavailable, Message: fmt.Sprintf("read events from podd at %s: %v", c.socket, err)}
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
