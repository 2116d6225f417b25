package logsaver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"time"

	"github.com/podd-dev/podd/pkg/dirwatch"
	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// safetyRescan is how often the files are looked at even when inotify says nothing (it can
// overflow, and a folder created later is not watched).
const safetyRescan = 30 * time.Second

// Options are the log saver's settings (the command's flags).
type Options struct {
	Globs        []string
	StateDir     string
	BatchLines   int
	BatchBytes   int
	BatchWait    time.Duration
	FlushTimeout time.Duration
	MaxLineBytes int
	RotateWait   time.Duration
	PollInterval time.Duration
	MinBackoff   time.Duration
	MaxBackoff   time.Duration
	AppName      string // "" = each file's base name
	Logger       *slog.Logger
}

// Saver follows the files and ships their lines. One goroutine does everything: read, send,
// wait for the acknowledgement, record it. So reading stops while the collector is slow (the
// file is the buffer), and memory holds one batch at most.
type Saver struct {
	opts    Options
	sink    sink
	log     *slog.Logger
	metrics *metrics

	files   map[fileID]*tracked
	seen    uint64
	rr      int
	nextSeq uint64
	dirty   bool // acknowledgements not written to the state file yet

	b       batch
	readBuf []byte
	body    []byte
	msgs    []message
	shipped uint64
	// shippedAtTrim: shipped at the last trim after a busy spell.
	shippedAtTrim uint64
}

// batch is the batch being built, or in flight.
type batch struct {
	texts    []span // each message's text in arena
	seqs     []uint64
	files    []*tracked
	stamps   []time.Time
	arena    []byte
	segs     []segment
	firstSeq uint64
	fixedSeq bool // a replayed batch keeps the sequence numbers it had
	started  time.Time
}

type span struct{ from, to int }

type segment struct {
	t         *tracked
	from, to  int64
	lines     int
	firstLine int // index of its first message in the batch
}

func (b *batch) empty() bool { return len(b.texts) == 0 && len(b.segs) == 0 }

func (b *batch) reset() {
	b.texts, b.files, b.stamps, b.arena, b.segs, b.seqs = b.texts[:0], b.files[:0], b.stamps[:0], b.arena[:0], b.segs[:0], b.seqs[:0]
	b.fixedSeq = false
}

func (b *batch) add(t *tracked, from, to int64, text []byte, now time.Time) {
	if len(b.texts) == 0 {
		b.started = now
	}
	start := len(b.arena)
	b.arena = append(b.arena, text...)
	b.texts = append(b.texts, span{start, len(b.arena)})
	b.files = append(b.files, t)
	b.stamps = append(b.stamps, now)
	if n := len(b.segs); n > 0 && b.segs[n-1].t == t && b.segs[n-1].to == from {
		b.segs[n-1].to = to
		b.segs[n-1].lines++
		return
	}
	b.segs = append(b.segs, segment{t: t, from: from, to: to, lines: 1, firstLine: len(b.texts) - 1})
}

// New checks the options and prepares a Saver; Run does the work.
func New(opts Options, s sink) (*Saver, error) {
	if len(opts.Globs) == 0 {
		return nil, errors.New("--paths: at least one glob is needed")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bufSize := 64 << 10
	if 2*opts.MaxLineBytes > bufSize {
		bufSize = 2 * opts.MaxLineBytes
	}
	return &Saver{
		opts:    opts,
		sink:    s,
		log:     opts.Logger,
		metrics: newMetrics(),
		files:   map[fileID]*tracked{},
		readBuf: make([]byte, bufSize),
	}, nil
}

// Run follows the files until ctx ends (SIGTERM), then ships what it read within
// --flush-timeout, writes its state and returns.
func (s *Saver) Run(ctx context.Context) error {
	if err := os.MkdirAll(s.opts.StateDir, 0o755); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	// Temporary files of a state write cut short by a kill.
	if olds, _ := filepath.Glob(filepath.Join(s.opts.StateDir, ".state-*.tmp")); len(olds) > 0 {
		for _, o := range olds {
			os.Remove(o)
		}
	}
	// Sends go on for --flush-timeout after ctx ends, then stop.
	sendCtx, cancelSend := context.WithCancel(context.Background())
	defer cancelSend()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(s.opts.FlushTimeout, cancelSend) })
	defer stopAfter()

	if err := s.recover(); err != nil {
		return err
	}
	if err := s.deliverPending(sendCtx); err != nil {
		return s.finish(err)
	}
	wake, closeWatch, poll := s.watch()
	defer closeWatch()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		if ctx.Err() != nil {
			return s.finish(s.deliver(sendCtx))
		}
		s.scan()
		s.fill()
		switch {
		case s.b.empty():
			if err := s.saveIfDirty(); err != nil {
				return err
			}
			s.idleWait(ctx, wake, ticker.C)
			continue
		case !s.full():
			// Wait for more lines until the first one is --batch-wait old; writes meanwhile
			// are read then, all at once.
			if wait := s.opts.BatchWait - time.Since(s.b.started); wait > 0 {
				if err := s.saveIfDirty(); err != nil {
					return err
				}
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
				if ctx.Err() == nil {
					s.fill()
				}
			}
		}
		if err := s.deliver(sendCtx); err != nil {
			return s.finish(err)
		}
	}
}

// idleTrim: after this long without anything to read, following a busy spell, the log saver
// gives back what the spell took: the Go heap's free pages and the binary's pages (see
// helper.TrimSelf), so that its idle RSS is its idle RSS again.
const idleTrim = 5 * time.Second

// idleWait waits for a change, a poll tick or the end; after idleTrim without one, following
// shipments, it trims itself.
func (s *Saver) idleWait(ctx context.Context, wake <-chan struct{}, tick <-chan time.Time) {
	var trim <-chan time.Time
	if s.shipped != s.shippedAtTrim {
		t := time.NewTimer(idleTrim)
		defer t.Stop()
		trim = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			return
		case <-tick:
			return
		case <-trim:
			s.shippedAtTrim = s.shipped
			debug.FreeOSMemory()
			helper.TrimSelf()
			trim = nil
		}
	}
}

// finish writes the state at the end: after a clean flush, with nothing pending; after a
// flush cut short, with the batch still pending, to be sent again at the next start.
func (s *Saver) finish(deliverErr error) error {
	if deliverErr != nil {
		s.log.Warn("stopping with a batch not acknowledged; it is sent again at the next start", "lines", len(s.b.texts), "error", deliverErr)
		return nil // its intent is in the state file already
	}
	if err := s.save(nil); err != nil {
		return err
	}
	s.log.Info("stopped", "lines_shipped", s.shipped)
	for _, t := range s.files {
		t.f.Close()
	}
	return nil
}

func (s *Saver) full() bool {
	return len(s.b.texts) >= s.opts.BatchLines || len(s.b.arena) >= s.opts.BatchBytes
}

// watch watches the globs' folders with inotify; where it cannot, the files are polled every
// --poll-interval.
func (s *Saver) watch() (<-chan struct{}, func(), time.Duration) {
	wake := make(chan struct{}, 1)
	var watchers []*dirwatch.Watcher
	poll := safetyRescan
	dirs := map[string]bool{}
	for _, g := range s.opts.Globs {
		dir, fixed := globDir(g)
		if dirs[dir] {
			continue
		}
		dirs[dir] = true
		if !fixed {
			poll = s.opts.PollInterval
			s.log.Info("polling: a pattern in the folder part", "glob", g, "interval", poll)
			continue
		}
		w, err := dirwatch.New(dir)
		if err != nil {
			poll = s.opts.PollInterval
			s.log.Warn("polling: no inotify", "folder", dir, "error", err, "interval", poll)
			continue
		}
		watchers = append(watchers, w)
		go func() {
			for range w.Events() {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	return wake, func() {
		for _, w := range watchers {
			w.Close()
		}
	}, poll
}

// ordered is the files in reading order: those rotated away first (their rest comes before
// the new file's lines), then the others, from a starting point that moves on every batch so
// that a busy file does not starve the others.
func (s *Saver) ordered() []*tracked {
	var rotated, active []*tracked
	for _, t := range s.files {
		if t.rotated {
			rotated = append(rotated, t)
		} else {
			active = append(active, t)
		}
	}
	bySeen := func(l []*tracked) { sort.Slice(l, func(i, j int) bool { return l[i].seen < l[j].seen }) }
	bySeen(rotated)
	bySeen(active)
	if n := len(active); n > 1 {
		k := s.rr % n
		active = append(active[k:], active[:k]...)
	}
	return append(rotated, active...)
}

// scan looks for new files under the globs and for files that left them (rotated), and lets go
// of rotated files read, acknowledged and quiet for --rotate-wait.
func (s *Saver) scan() {
	now := time.Now()
	current := map[fileID]bool{}
	for _, p := range matches(s.opts.Globs) {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, ok := idOf(fi)
		if !ok {
			continue
		}
		current[id] = true
		if t, ok := s.files[id]; ok {
			t.path, t.rotated, t.finalAt = p, false, 0
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			s.log.Warn("cannot open", "file", p, "error", err)
			continue
		}
		if ofi, err := f.Stat(); err != nil || !sameID(ofi, id) {
			f.Close() // replaced between the stat and the open: the next scan sees the new one
			continue
		}
		s.seen++
		s.files[id] = &tracked{id: id, path: p, f: f, fp: fingerprint(nil), seen: s.seen}
		s.log.Info("following", "file", p)
	}
	for id, t := range s.files {
		if !current[id] && !t.rotated {
			t.rotated = true
			s.log.Info("rotated away; reading it to its end", "file", t.path)
		}
		if !t.rotated || t.readOff != t.acked {
			t.idle = time.Time{}
			continue
		}
		fi, err := t.f.Stat()
		if err != nil {
			continue
		}
		if fi.Size() != t.readOff {
			t.idle = time.Time{} // more to read (fill reads it), or an unfinished last line
			if fi.Size() > t.readOff && t.lastSize == fi.Size() {
				if t.idleTail.IsZero() {
					t.idleTail = now
				} else if now.Sub(t.idleTail) >= s.opts.RotateWait {
					t.finalAt = fi.Size() // the last line will not be finished: ship it as it is
				}
			} else {
				t.idleTail = time.Time{}
			}
			t.lastSize = fi.Size()
			continue
		}
		if t.idle.IsZero() {
			t.idle = now
		} else if now.Sub(t.idle) >= s.opts.RotateWait {
			s.log.Info("done with rotated file", "file", t.path, "bytes", t.acked)
			t.f.Close()
			delete(s.files, id)
			s.dirty = true
		}
	}
	s.metrics.files.Set(float64(len(s.files)))
}

func sameID(fi os.FileInfo, id fileID) bool {
	got, ok := idOf(fi)
	return ok && got == id
}

// fill reads whole lines into the batch until it is full or nothing more is there.
func (s *Saver) fill() {
	now := time.Now()
	var lag int64
	for _, t := range s.ordered() {
		fi, err := t.f.Stat()
		if err != nil {
			continue
		}
		size := fi.Size()
		lag += max(0, size-t.acked)
		if s.full() || size == t.readOff {
			continue
		}
		fpSame := true
		if t.fpLen > 0 {
			fp, short, err := readFingerprint(t.f, t.fpLen)
			fpSame = err == nil && !short && fp == t.fp
		}
		switch decide(size, t.readOff, t.acked, fpSame) {
		case waitAcked:
			continue
		case restart:
			s.log.Info("truncated (copytruncate?): reading it from the start", "file", t.path, "size", size, "offset", t.readOff)
			s.metrics.truncations.Inc()
			t.readOff, t.acked, t.fpLen, t.fp = 0, 0, 0, fingerprint(nil)
			t.finalAt, t.idleTail = 0, time.Time{}
			s.dirty = true
		}
		if t.fpLen < fingerprintMax && size > int64(t.fpLen) {
			n := int(min(size, fingerprintMax))
			if fp, short, err := readFingerprint(t.f, n); err == nil && !short {
				t.fpLen, t.fp = n, fp
			}
		}
		s.readFile(t, size, now)
	}
	s.rr++
	s.metrics.lag.Set(float64(lag))
}

// readFile reads t's whole lines from its read offset up to size, or until the batch is full.
func (s *Saver) readFile(t *tracked, size int64, now time.Time) {
	for t.readOff < size && !s.full() {
		want := min(int64(len(s.readBuf)), size-t.readOff)
		n, err := t.f.ReadAt(s.readBuf[:want], t.readOff)
		if n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				s.log.Warn("read", "file", t.path, "error", err)
			}
			return
		}
		eof := size == t.finalAt && t.readOff+int64(n) == size
		off := t.readOff
		cutLines(s.readBuf[:n], s.opts.MaxLineBytes, eof, func(line []byte, used int) bool {
			s.b.add(t, off, off+int64(used), line, now)
			off += int64(used)
			s.metrics.linesRead.Inc()
			return !s.full()
		})
		if off == t.readOff {
			return // an unfinished line
		}
		s.metrics.bytesRead.Add(float64(off - t.readOff))
		t.readOff = off
	}
}
