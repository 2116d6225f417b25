package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
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
	// Selector, instead of Name, prints the log of every pod whose labels it matches (kubectl
	// logs -l): one after the other, or all at once with Follow (at most MaxRequests of them).
	Selector    string
	MaxRequests int
	// Prefix puts [pod/NAME/CONTAINER] before each line.
	Prefix bool
}

// DefaultMaxLogRequests is kubectl's --max-log-requests default.
const DefaultMaxLogRequests = 5

// Logs prints a container's log; with Follow it follows it across rotations, container restarts
// and restarts of podd.
func Logs(ctx context.Context, c *api.Client, o LogsOptions, s Streams) error {
	switch {
	case o.Selector != "" && o.Name != "":
		return Usagef("logs: give POD or -l SELECTOR, not both")
	case o.Selector == "" && o.Name == "":
		return Usagef("logs: want POD or -l SELECTOR")
	}
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
	if o.Selector != "" {
		return selectedLogs(ctx, c, o, opts, s)
	}
	out := s.Out
	if o.Prefix {
		container := o.Container
		if container == "" {
			p, err := c.GetPod(ctx, o.Namespace, o.Name)
			if err != nil {
				return err
			}
			container = firstContainer(p)
		}
		lw := &prefixWriter{out: s.Out, mu: &sync.Mutex{}, prefix: "[pod/" + o.Name + "/" + container + "] "}
		defer lw.flush()
		out = lw
	}
	return c.Logs(ctx, o.Namespace, o.Name, opts, out)
}

// selectedLogs prints the logs of the pods that o.Selector matches, sorted by name: one after
// the other, or, following, all at once (lines kept whole), as kubectl logs -l does.
func selectedLogs(ctx context.Context, c *api.Client, o LogsOptions, opts api.LogsOptions, s Streams) error {
	sel, err := pod.ParseSelector(o.Selector)
	if err != nil {
		return Usagef("logs: -l: %v", err)
	}
	pods, err := c.ListPods(ctx, o.Namespace)
	if err != nil {
		return err
	}
	var names []string
	containers := map[string]string{}
	for _, p := range pods {
		if sel.Matches(p.Metadata.Labels) {
			names = append(names, p.Metadata.Name)
			containers[p.Metadata.Name] = o.Container
			if o.Container == "" {
				containers[p.Metadata.Name] = firstContainer(p)
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
		return nil
	}
	max := o.MaxRequests
	if max <= 0 {
		max = DefaultMaxLogRequests
	}
	if o.Follow && len(names) > max {
		return Usagef("logs: you are attempting to follow %d log streams, but the maximum allowed concurrency is %d, use --max-log-requests to increase the limit", len(names), max)
	}
	mu := &sync.Mutex{}
	writer := func(name string) *prefixWriter {
		w := &prefixWriter{out: s.Out, mu: mu}
		if o.Prefix {
			w.prefix = "[pod/" + name + "/" + containers[name] + "] "
		}
		return w
	}
	if !o.Follow {
		var errs []error
		for _, name := range names {
			w := writer(name)
			if err := c.Logs(ctx, o.Namespace, name, opts, w); err != nil {
				errs = append(errs, fmt.Errorf("pod %s: %w", name, err))
			}
			w.flush()
		}
		return errors.Join(errs...)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := writer(name)
			defer w.flush()
			if err := c.Logs(ctx, o.Namespace, name, opts, w); err != nil {
				errs[i] = fmt.Errorf("pod %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// firstContainer is the container podctl logs prints when -c is not given.
func firstContainer(p *pod.Pod) string {
	if len(p.Spec.Containers) == 0 {
		return ""
	}
	return p.Spec.Containers[0].Name
}

// prefixWriter writes whole lines, each with its prefix, to out under mu, so that the lines of
// logs printed at once never mix.
type prefixWriter struct {
	out    io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	i := bytes.LastIndexByte(w.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	if err := w.emit(w.buf[:i+1]); err != nil {
		return 0, err
	}
	w.buf = append(w.buf[:0], w.buf[i+1:]...)
	return len(p), nil
}

// flush writes what is left of an unfinished last line.
func (w *prefixWriter) flush() {
	if len(w.buf) > 0 {
		_ = w.emit(append(w.buf, '\n'))
		w.buf = w.buf[:0]
	}
}

func (w *prefixWriter) emit(lines []byte) error {
	var b bytes.Buffer
	for _, l := range bytes.SplitAfter(lines, []byte("\n")) {
		if len(l) > 0 {
			b.WriteString(w.prefix)
			b.Write(l)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.out.Write(b.Bytes())
	return err
}
