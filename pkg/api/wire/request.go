package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pod"
)

// invalidError is an invalid argument whose message is only what was wrong: the API sends the
// class apart (errdefs.IsInvalidArgument tells it).
type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == errdefs.ErrInvalidArgument }

func invalid(msg string) error { return invalidError(msg) }

// TermSize is a terminal's size in characters, as an exec request and a resize frame carry it.
type TermSize struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// ExecRequest is the body of POST /v1/namespaces/{namespace}/pods/{name}/exec.
type ExecRequest struct {
	// Container is the container to run in; "" means the pod's first container.
	Container string   `json:"container,omitempty"`
	Command   []string `json:"command"`
	// Stdin tells whether the client sends standard input; without it the command reads nothing.
	Stdin bool `json:"stdin,omitempty"`
	// TTY asks for a terminal; stdout and stderr then arrive merged on stdout.
	TTY bool `json:"tty,omitempty"`
	// Size is the terminal's initial size (TTY only).
	Size *TermSize `json:"size,omitempty"`
}

// DecodeExecRequest reads an exec request's JSON body: no unknown fields, a command.
func DecodeExecRequest(body []byte) (ExecRequest, error) {
	var req ExecRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return ExecRequest{}, invalid("exec request: " + err.Error())
	}
	if len(req.Command) == 0 {
		return ExecRequest{}, invalid("exec request: command is required")
	}
	return req, nil
}

// DecodePatch reads a metadata patch: one JSON object, no unknown fields.
func DecodePatch(body []byte) (pod.MetadataPatch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var patch pod.MetadataPatch
	if err := dec.Decode(&patch); err != nil {
		return pod.MetadataPatch{}, invalid("metadata patch: " + err.Error() + ` (want {"labels": {"k": "v", "gone": null}, "annotations": {...}, "overwrite": false})`)
	}
	return patch, nil
}

// Grace reads the optional grace query parameter: whole seconds on the wire, as kubectl's
// --grace-period, and a duration from here on (nil when absent).
func Grace(q url.Values) (*time.Duration, error) {
	v := q.Get("grace")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, invalid(fmt.Sprintf("grace %q: want a whole number of seconds, 0 or more", v))
	}
	g := pod.GracePeriod(n)
	return &g, nil
}

// LogRequest reads the query of a logs request: kubectl's parameters (container, follow,
// previous, tailLines, sinceSeconds, sinceTime, timestamps) and podd's cursor and after; now
// anchors sinceSeconds.
func LogRequest(q url.Values, now time.Time) (logs.Request, error) {
	opts := logs.Request{Container: q.Get("container"), After: q.Get("after")}
	var errs []error
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"follow", &opts.Follow}, {"previous", &opts.Previous}, {"timestamps", &opts.Timestamps}, {"cursor", &opts.Cursor}} {
		if v := q.Get(b.name); v != "" {
			var err error
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				errs = append(errs, fmt.Errorf("%s %q: want true or false", b.name, v))
			}
		}
	}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("tailLines %q: want a whole number, 0 or more", v))
		}
		opts.TailLines = &n
	}
	since, sinceTime := q.Get("sinceSeconds"), q.Get("sinceTime")
	switch {
	case since != "" && sinceTime != "":
		errs = append(errs, errors.New("sinceSeconds and sinceTime: give one of them"))
	case since != "":
		n, err := strconv.ParseInt(since, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("sinceSeconds %q: want a whole number of seconds above 0", since))
		}
		t := now.Add(-time.Duration(min(n, int64(math.MaxInt64/time.Second))) * time.Second)
		opts.SinceTime = &t
	case sinceTime != "":
		t, err := time.Parse(time.RFC3339Nano, sinceTime)
		if err != nil {
			errs = append(errs, fmt.Errorf("sinceTime %q: want an RFC 3339 time", sinceTime))
		}
		opts.SinceTime = &t
	}
	if opts.After != "" {
		if _, err := logs.ParseCursor(opts.After); err != nil {
			errs = append(errs, fmt.Errorf("after: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return opts, invalid(err.Error())
	}
	return opts, nil
}
