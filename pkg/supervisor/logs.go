package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pod"
)

// A follower decides that a container instance has ended for good only once its status stayed
// so for logSettle: the worker records an exit and the restart that follows it in two steps.
// Then it reads on until the log has been quiet for logQuiet, the logger's last lines included.
const (
	logSettle = 250 * time.Millisecond
	logQuiet  = 250 * time.Millisecond
)

// LogOptions is what a client asks of a container's log (logs.Request).
type LogOptions = logs.Request

func logName(attempt int) string { return strconv.Itoa(attempt) + ".log" }

// PruneLogs removes, from the folder of an instance's log, the logs of the instances before the
// previous one (and their rotated files): a container keeps its current log and the previous one,
// as the kubelet keeps one dead container for logs --previous.
func PruneLogs(logPath string, attempt int) error {
	dir := filepath.Dir(logPath)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		a, ok := strings.CutSuffix(e.Name(), ".log")
		n, err := strconv.Atoi(a)
		if !ok || err != nil || strconv.Itoa(n) != a || n >= attempt-1 {
			continue
		}
		if err := logs.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// logTarget is the container whose log is read.
type logTarget struct {
	namespace, name, uid string
	container            string
	dir                  string // the container's log folder
	attempt              int    // its current instance
}

func (t *logTarget) path(attempt int) string { return filepath.Join(t.dir, logName(attempt)) }

func (m *Manager) logTarget(namespace, name, container string) (*logTarget, error) {
	p, c, err := m.containerOf(namespace, name, container)
	if err != nil {
		return nil, err
	}
	return &logTarget{
		namespace: namespace, name: name, uid: p.Metadata.UID, container: c.name,
		dir: filepath.Join(pod.LogDir(m.opts.LogRoot, p), c.name), attempt: c.attempt,
	}, nil
}

// Logs writes a container's log to out: by default its current instance's, as it is; see
// LogOptions. The log outlives podd: the containers' loggers write it, not podd.
func (m *Manager) Logs(ctx context.Context, namespace, name string, opts LogOptions, out io.Writer) error {
	t, err := m.logTarget(namespace, name, opts.Container)
	if err != nil {
		return err
	}
	attempt := t.attempt
	read := logs.ReadOptions{Tail: -1}
	switch {
	case opts.After != "":
		cur, err := logs.ParseCursor(opts.After)
		if err != nil {
			return err
		}
		if cur.Attempt > t.attempt {
			return fmt.Errorf("log cursor %s: container %q has no instance %d yet: %w", opts.After, t.container, cur.Attempt, errdefs.ErrInvalidArgument)
		}
		attempt, read.After = cur.Attempt, cur.Time
	case opts.Previous:
		if _, err := os.Stat(t.path(attempt - 1)); attempt == 0 || err != nil {
			// kubectl's words, exactly.
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("previous terminated container %q in pod %q not found", t.container, name))
		}
		attempt--
	}
	if opts.After == "" {
		if opts.TailLines != nil {
			read.Tail = int(min(*opts.TailLines, 1<<30))
		}
		if opts.SinceTime != nil {
			read.Since = *opts.SinceTime
		}
	}
	lw := &logWriter{w: bufio.NewWriterSize(out, 32<<10), opts: opts}
	if !opts.Follow || opts.Previous {
		// The previous instance has ended: there is nothing to follow.
		lw.attempt = attempt
		read.Start = lw.start
		err := logs.Read(ctx, t.path(attempt), read, lw.line)
		return errors.Join(err, lw.w.Flush())
	}
	return m.followLogs(ctx, t, attempt, read, lw)
}

// followLogs follows one instance after the other, from attempt on.
func (m *Manager) followLogs(ctx context.Context, t *logTarget, attempt int, read logs.ReadOptions, lw *logWriter) error {
	for {
		lw.attempt = attempt
		iw := m.watchInstance(ctx, t, attempt)
		read.Follow, read.Done, read.Quiet, read.Start, read.Idle = true, iw.done, logQuiet, lw.start, lw.w.Flush
		err := logs.Read(iw.ctx, t.path(attempt), read, lw.line)
		iw.stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !(iw.gone && errors.Is(err, context.Canceled)) {
			return err
		}
		if iw.gone || !iw.next {
			return lw.w.Flush()
		}
		attempt++
		read = logs.ReadOptions{Tail: -1}
	}
}

// instanceWatch tells a follower how an instance of the container ends: done is closed when
// nothing more will be written to its log, with next (a later instance exists) or not (the
// container has ended for good); ctx ends if the pod is removed (gone).
type instanceWatch struct {
	ctx    context.Context
	done   chan struct{}
	next   bool
	gone   bool
	cancel context.CancelFunc
	ended  chan struct{}
}

func (iw *instanceWatch) stop() {
	iw.cancel()
	<-iw.ended
}

// watchInstance watches the pod's status, on every change (Manager.changed), for the end of one
// instance of the container.
func (m *Manager) watchInstance(ctx context.Context, t *logTarget, attempt int) *instanceWatch {
	iw := &instanceWatch{done: make(chan struct{}), ended: make(chan struct{})}
	iw.ctx, iw.cancel = context.WithCancel(ctx)
	go func() {
		defer close(iw.ended)
		var settle <-chan time.Time
		for {
			changed := m.Changed() // before the read: a change after it is not missed
			state := m.instanceState(t, attempt)
			switch state {
			case instanceGone:
				iw.gone = true
				close(iw.done)
				iw.cancel()
				return
			case instanceNext:
				iw.next = true
				close(iw.done)
				return
			case instanceEnded:
				if settle == nil {
					settle = time.After(logSettle)
				}
			default:
				settle = nil
			}
			select {
			case <-changed:
			case <-settle:
				close(iw.done)
				return
			case <-iw.ctx.Done():
				return
			}
		}
	}()
	return iw
}

type instanceState int

const (
	instanceRunning instanceState = iota // may write more
	instanceEnded                        // terminated, and nothing will restart it
	instanceNext                         // a later instance exists
	instanceGone                         // the pod was removed
)

// instanceStateLocked judges an instance from what the API may read of the worker: the
// container's attempt and status, the pod's status.
func (m *Manager) instanceState(t *logTarget, attempt int) instanceState {
	w, err := m.lookup(t.namespace, t.name)
	if err != nil || w.rec.Pod.Metadata.UID != t.uid {
		return instanceGone
	}
	p, ctrs := w.view()
	for _, c := range ctrs {
		if c.name != t.container {
			continue
		}
		st := c.status.State
		switch {
		case c.attempt > attempt:
			return instanceNext
		case st.Running != nil:
			return instanceRunning
		case st.Terminated != nil, p.Status.Reason == pod.ReasonStopped:
			// Waiting to be restarted is neither: a stopped pod restarts nothing.
			return instanceEnded
		}
		return instanceRunning
	}
	return instanceGone
}

// logWriter writes the lines of Logs, plain or framed (LogOptions.Cursor).
type logWriter struct {
	w       *bufio.Writer
	opts    LogOptions
	attempt int
	buf     []byte
}

func (lw *logWriter) cursor(b []byte, end string) []byte {
	b = strconv.AppendInt(b, int64(lw.attempt), 10)
	b = append(b, '/')
	return append(b, end...)
}

// start writes the position lines start after, when framed.
func (lw *logWriter) start(after string) error {
	if !lw.opts.Cursor {
		return nil
	}
	lw.buf = append(lw.cursor(lw.buf[:0], after), '\n')
	_, err := lw.w.Write(lw.buf)
	return err
}

func (lw *logWriter) line(l logs.Line) error {
	b := lw.buf[:0]
	if lw.opts.Cursor {
		b = lw.cursor(b, l.End)
		if l.Partial {
			b = append(b, " P "...)
		} else {
			b = append(b, " F "...)
		}
	}
	if lw.opts.Timestamps && l.Time != "" {
		b = append(b, l.Time...)
		b = append(b, ' ')
	}
	b = append(b, l.Content...)
	if lw.opts.Cursor || !l.Partial {
		b = append(b, '\n')
	}
	lw.buf = b
	_, err := lw.w.Write(b)
	return err
}
