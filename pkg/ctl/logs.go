package ctl

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/podd-dev/podd/pkg/api"
)

// LogsResume is how long `podctl logs -f` keeps trying to reconnect when podd goes away (a
// restart): it then resumes where it stopped.
const LogsResume = 30 * time.Second

// LogsOptions are podctl logs'.
type LogsOptions struct {
	Namespace string
	Name      string
	// Container is the container whose log to print; "" is the pod's first.
	Container string
	Follow    bool
	Previous  bool
	// Tail, if set, is how many of the last lines to print; -1: all.
	Tail *int64
	// Since prints only lines newer than this (0: all); SinceTime is the same as a time, RFC 3339.
	Since     time.Duration
	SinceTime string
	// Timestamps puts each line's timestamp before it.
	Timestamps bool
}

// Logs prints a container's log; with Follow it follows it across rotations, container restarts
// and restarts of podd.
func Logs(ctx context.Context, c *api.Client, o LogsOptions, s Streams) error {
	opts := api.LogsOptions{Container: o.Container, Follow: o.Follow, Previous: o.Previous, Timestamps: o.Timestamps}
	switch {
	case o.Tail == nil, *o.Tail == -1:
	case *o.Tail < -1:
		return Usagef("logs: --tail %d: want -1 (all) or more", *o.Tail)
	default:
		opts.TailLines = o.Tail
	}
	switch {
	case o.Since != 0 && o.SinceTime != "":
		return Usagef("logs: --since and --since-time: give one of them")
	case o.Since < 0:
		return Usagef("logs: --since %v: want a duration above 0, such as 5m", o.Since)
	case o.Since > 0:
		secs := int64(math.Ceil(o.Since.Seconds()))
		opts.SinceSeconds = &secs
	case o.SinceTime != "":
		t, err := time.Parse(time.RFC3339Nano, o.SinceTime)
		if err != nil {
			return Usagef("logs: --since-time %q: want an RFC 3339 time, such as 2024-05-01T10:00:00Z", o.SinceTime)
		}
		opts.SinceTime = &t
	}
	if o.Follow {
		opts.Resume = LogsResume
		opts.Notify = func(msg string) { fmt.Fprintln(s.Err, "podctl logs:", msg) }
	}
	return c.Logs(ctx, o.Namespace, o.Name, opts, s.Out)
}
