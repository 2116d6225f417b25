package logs

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	"github.com/podd-dev/podd/pkg/dirwatch"
)

// pollEvery is how often a follower looks at the files when inotify is not available.
const pollEvery = 250 * time.Millisecond

// ReadOptions choose the lines Read delivers and how it ends.
type ReadOptions struct {
	// Since skips the lines that ended before it (zero: none).
	Since time.Time
	// After skips the lines whose End is not later than it: a reader resumes after the last line
	// it delivered. It is a timestamp in TimeLayout, "" for none.
	After string
	// Tail delivers only the last Tail lines of those there are when Read starts (negative: all);
	// lines written later all follow when Follow is set. A line whose end is not written yet
	// does not count: it is delivered last, as a partial line, when Read ends.
	Tail int
	// Follow keeps reading as the log grows and rotates, until ctx ends or Done says the writer
	// has finished.
	Follow bool
	// Done, closed, says the writer has finished, or is about to: once the log has not changed for
	// Quiet, Read delivers what is left and returns.
	Done  <-chan struct{}
	Quiet time.Duration
	// Start, if set, is called once, before the first line is delivered or, when none is, before
	// Read returns (a follower: once it has caught up with the writer). It receives the position
	// after which lines are delivered: the End of the last line skipped (by After, Since or Tail),
	// or After, or "" for the beginning.
	Start func(after string) error
	// Idle, if set, is called when everything written so far was delivered and a follower is about
	// to wait: the moment to flush buffered output.
	Idle func() error
}

// Read delivers the lines of one container instance's log at path (and its rotated files), oldest
// first, to fn. Without Follow it reads what there is and returns; with it, it follows the log
// across rotations until ctx ends (it returns ctx's error) or Done (it returns nil). A log that
// does not exist yet is empty; a follower waits for it.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Line) error) error {
	r := &reader{opts: opts, fn: fn, chain: chain{path: path}, skipped: opts.After}
	if !opts.Since.IsZero() {
		r.since = FormatTime(opts.Since)
	}
	defer r.chain.close()
	return r.run(ctx, filepath.Dir(path))
}

type reader struct {
	opts    ReadOptions
	fn      func(Line) error
	since   string
	chain   chain
	pending [2]pendingLine // stdout, stderr
	ring    []Line         // the last Tail lines, before the reader is live
	ringAt  int            // the oldest line in ring, once full
	live    bool           // caught up once: lines go to fn as they come
	started bool           // Start was called
	skipped string         // End of the last line not delivered
}

// pendingLine is the parts of a line read so far.
type pendingLine struct {
	time    string
	end     string
	content []byte
	any     bool
}

func (r *reader) run(ctx context.Context, dir string) error {
	// A follower waits with inotify on the folder; until the folder exists (a follower that came
	// before the container), or when inotify is out of instances (fs.inotify.max_user_instances),
	// it polls, and tries inotify again each time.
	var w *dirwatch.Watcher
	defer func() { w.Close() }()
	var doneAt, lastData time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.chain.f == nil {
			if _, err := r.chain.openFirst(); err != nil {
				return err
			}
		}
		if r.chain.f != nil {
			got, err := r.chain.read(r.fileLine)
			if err != nil {
				return err
			}
			moved, err := r.chain.advance(r.fileLine)
			if err != nil {
				return err
			}
			if got || moved {
				lastData = time.Now()
			}
			if moved {
				continue
			}
		}
		// Caught up with the writer.
		if !r.live {
			if err := r.goLive(); err != nil {
				return err
			}
		}
		if !r.opts.Follow {
			return r.finish(false)
		}
		var done <-chan struct{}
		timeout := time.Duration(-1)
		select {
		case <-r.opts.Done:
			if doneAt.IsZero() {
				doneAt = time.Now()
			}
			quiet := r.opts.Quiet - time.Since(laterOf(doneAt, lastData))
			if quiet <= 0 {
				return r.finish(true)
			}
			timeout = quiet
		default:
			done = r.opts.Done
		}
		if r.opts.Idle != nil {
			if err := r.opts.Idle(); err != nil {
				return err
			}
		}
		if w == nil {
			w, _ = dirwatch.New(dir)
			if w != nil {
				continue // read again: what happened before the watch began
			}
		}
		var events <-chan struct{}
		if w != nil {
			events = w.Events()
		} else if timeout < 0 || timeout > pollEvery {
			timeout = pollEvery
		}
		if err := wait(ctx, events, done, timeout); err != nil {
			return err
		}
	}
}

// wait waits for an event, done, the timeout (negative: none) or the end of ctx.
func wait(ctx context.Context, events, done <-chan struct{}, timeout time.Duration) error {
	var timer <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-events:
	case <-done:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fileLine takes one line of a file.
func (r *reader) fileLine(b []byte) error {
	e := parseEntry(b)
	i, stream := 0, Stdout
	if string(e.stream) == Stderr {
		i, stream = 1, Stderr
	}
	p := &r.pending[i]
	if e.partial {
		if !p.any {
			p.time, p.any = string(e.time), true
		}
		p.end = string(e.time)
		p.content = append(p.content, e.content...)
		if len(p.content) >= maxAssembled {
			return r.flushPending(i)
		}
		return nil
	}
	if !p.any {
		t := string(e.time)
		return r.line(Line{Time: t, End: t, Stream: stream, Content: e.content})
	}
	p.content = append(p.content, e.content...)
	l := Line{Time: p.time, End: string(e.time), Stream: stream, Content: p.content}
	err := r.line(l)
	p.content, p.any = p.content[:0], false
	return err
}

// flushPending delivers the parts of stream i read so far as a partial line.
func (r *reader) flushPending(i int) error {
	p := &r.pending[i]
	if !p.any {
		return nil
	}
	stream := Stdout
	if i == 1 {
		stream = Stderr
	}
	err := r.line(Line{Time: p.time, End: p.end, Stream: stream, Content: p.content, Partial: true})
	p.content, p.any = p.content[:0], false
	return err
}

// line filters a complete line (After, Since, Tail) and delivers it.
func (r *reader) line(l Line) error {
	if r.opts.After != "" && l.End <= r.opts.After || r.since != "" && l.End < r.since {
		r.skipped = max(r.skipped, l.End)
		return nil
	}
	if r.opts.Tail >= 0 && !r.live {
		if r.opts.Tail == 0 {
			r.skipped = max(r.skipped, l.End)
			return nil
		}
		l.Content = slices.Clone(l.Content)
		if len(r.ring) < r.opts.Tail {
			r.ring = append(r.ring, l)
			return nil
		}
		r.skipped = max(r.skipped, r.ring[r.ringAt].End)
		r.ring[r.ringAt] = l
		r.ringAt = (r.ringAt + 1) % len(r.ring)
		return nil
	}
	return r.deliver(l)
}

func (r *reader) deliver(l Line) error {
	if err := r.start(); err != nil {
		return err
	}
	return r.fn(l)
}

func (r *reader) start() error {
	if r.started {
		return nil
	}
	r.started = true
	if r.opts.Start != nil {
		return r.opts.Start(r.skipped)
	}
	return nil
}

// goLive delivers the tail gathered so far; lines are delivered as they come from now on.
func (r *reader) goLive() error {
	r.live = true
	ring := append(r.ring[r.ringAt:], r.ring[:r.ringAt]...)
	r.ring = nil
	for _, l := range ring {
		if err := r.deliver(l); err != nil {
			return err
		}
	}
	return r.start()
}

// finish delivers what is left: the parts of lines whose end was never written (in the order they
// were written) and, when the writer is done, a last line it did not end.
func (r *reader) finish(writerDone bool) error {
	if writerDone && r.chain.f != nil {
		if err := r.chain.rest(r.fileLine); err != nil {
			return err
		}
	}
	order := []int{0, 1}
	if r.pending[1].any && (!r.pending[0].any || r.pending[1].end < r.pending[0].end) {
		order = []int{1, 0}
	}
	for _, i := range order {
		if err := r.flushPending(i); err != nil {
			return err
		}
	}
	return r.start()
}
