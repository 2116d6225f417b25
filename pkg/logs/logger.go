package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// LoggerArg is the first argument of podd's binary started as a container's logger, the second
// being the LoggerConfig as JSON. containerd's binary log driver passes the query of the log URI
// binary:///path/to/podd?logger=<config> as these two arguments, so the URI must have that one
// key: the shim does not keep the order of several.
const LoggerArg = "logger"

// drainTimeout bounds the reading of what is left once the shim asked the logger to stop: it
// closes its ends of the pipes first, so the rest is normally there already; the shim kills the
// logger after 12 seconds.
var drainTimeout = 5 * time.Second

// LoggerConfig is what a logger process is told: the instance's log file and its rotation, and
// the cgroups to join.
type LoggerConfig struct {
	Path     string `json:"path"`
	MaxSize  int64  `json:"maxSize,omitempty"`
	MaxFiles int    `json:"maxFiles,omitempty"`
	// Cgroups are the cgroup.procs files of the pod's logs cgroup, one per hierarchy: the logger
	// writes its PID into each before it reads a byte, so that what it costs to log the
	// container's output counts in the pod's accounting and limits, not in the shim's.
	Cgroups []string `json:"cgroups,omitempty"`
}

// Encode gives the config as the logger's argument.
func (c LoggerConfig) Encode() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ParseLoggerConfig reads a logger's argument.
func ParseLoggerConfig(arg string) (LoggerConfig, error) {
	var c LoggerConfig
	if err := json.Unmarshal([]byte(arg), &c); err != nil {
		return c, fmt.Errorf("logger config: %w", err)
	}
	if c.Path == "" {
		return c, errors.New("logger config: no path")
	}
	return c, nil
}

// Serve is the work of a logger process, started by the container's shim (containerd's binary log
// driver): it opens the log, tells the shim it is ready (only then does the container start), and
// copies the container's stdout and stderr into the log until both end. Nothing is read before
// ready returns: LoggerMain joins the pod's cgroups in it, after the shim was told. The shim ends them by
// closing its ends when the task is deleted, then sends SIGTERM: the caller cancels ctx on it,
// and Serve reads what is left for at most drainTimeout. stdout and stderr must support read
// deadlines (non-blocking pipes).
//
// Nothing here depends on podd: a podd that restarts or crashes loses no line and blocks no
// container.
func Serve(ctx context.Context, cfg LoggerConfig, stdout, stderr *os.File, ready func() error) error {
	w, err := NewWriter(cfg.Path, WriterOptions{MaxSize: cfg.MaxSize, MaxFiles: cfg.MaxFiles})
	if err != nil {
		// Options podd should have refused: log with the defaults rather than lose the output.
		w, _ = NewWriter(cfg.Path, WriterOptions{})
	}
	if rerr := ready(); rerr != nil {
		err = errors.Join(err, fmt.Errorf("signal readiness: %w", rerr))
	}
	drain := drainTimeout
	out, serr := newPartialReader(stdout), newPartialReader(stderr)
	stop := context.AfterFunc(ctx, func() {
		deadline := time.Now().Add(drain)
		out.drain(deadline)
		serr.drain(deadline)
	})
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []struct {
		name string
		f    *partialReader
	}{{Stdout, out}, {Stderr, serr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Copy(s.name, s.f); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				errs[i] = fmt.Errorf("read %s: %w", s.name, err)
			}
		}()
	}
	wg.Wait()
	errs = append(errs, err, w.Close())
	if n, werr := w.Dropped(); n > 0 {
		errs = append(errs, fmt.Errorf("%d lines lost: %w", n, werr))
	}
	return errors.Join(errs...)
}
