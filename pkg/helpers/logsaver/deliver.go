package logsaver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// deliver ships the batch: it records it as pending in the state file, sends it until the
// collector acknowledges it (retrying with a backoff from --min-backoff doubling up to
// --max-backoff, then every --max-backoff, never dropping it), and then takes its offsets as
// acknowledged. It returns an error only when ctx ends first.
func (s *Saver) deliver(ctx context.Context) error {
	b := &s.b
	if b.empty() {
		return nil
	}
	if !b.fixedSeq {
		b.firstSeq = s.nextSeq
		s.nextSeq += uint64(len(b.texts))
		b.seqs = b.seqs[:0]
		for i := range b.texts {
			b.seqs = append(b.seqs, b.firstSeq+uint64(i))
		}
		// The intent, before the first byte leaves: after a crash the same lines go again with
		// the same sequence numbers. (A replayed batch is the state file's pending one already.)
		if err := s.retry(ctx, "write state", func() error { return s.save(b) }); err != nil {
			return err
		}
	}
	msgs := s.msgs[:0]
	for i, sp := range b.texts {
		t := b.files[i]
		if t.app == "" {
			app := s.opts.AppName
			if app == "" {
				app = filepath.Base(t.path)
			}
			t.app = printable(app, 48)
		}
		msgs = append(msgs, message{path: t.path, app: t.app, text: b.arena[sp.from:sp.to], ts: b.stamps[i], seq: b.seqs[i]})
	}
	s.msgs = msgs
	s.body = s.sink.encode(s.body[:0], msgs)
	if err := s.retry(ctx, "send to "+s.sink.String(), func() error { return s.sink.send(ctx, s.body) }); err != nil {
		return err
	}
	for _, seg := range b.segs {
		seg.t.acked = seg.to
	}
	s.metrics.linesShipped.Add(float64(len(b.texts)))
	s.metrics.bytesShipped.Add(float64(len(s.body)))
	s.metrics.batches.Inc()
	s.shipped += uint64(len(b.texts))
	s.dirty = true
	b.reset()
	if cap(s.body) > 4*s.opts.BatchBytes {
		s.body = nil // an outsized batch (long lines): do not keep its buffer
	}
	return nil
}

// retry runs op until it succeeds or ctx ends, with a doubling backoff.
func (s *Saver) retry(ctx context.Context, what string, op func() error) error {
	backoff := s.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			if attempt > 1 {
				s.log.Info("succeeded after retries", "op", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		s.metrics.retries.Inc()
		s.log.Warn("failed, retrying", "op", what, "attempt", attempt, "backoff", backoff.String(), "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, err)
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

func (s *Saver) saveIfDirty() error {
	if !s.dirty {
		return nil
	}
	return s.save(nil)
}

// save writes the state: every file's acknowledged offset, and pending, the batch about to be
// sent, if any.
func (s *Saver) save(pending *batch) error {
	st := &State{NextSeq: s.nextSeq}
	files := make([]*tracked, 0, len(s.files))
	for _, t := range s.files {
		files = append(files, t)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].seen < files[j].seen })
	idx := make(map[*tracked]int, len(files))
	for i, t := range files {
		idx[t] = i
		st.Files = append(st.Files, FileState{Path: t.path, Dev: t.id.dev, Ino: t.id.ino, FPLen: t.fpLen, FP: t.fp, Offset: t.acked})
	}
	if pending != nil && !pending.empty() {
		p := &Pending{FirstSeq: pending.firstSeq, MaxLineBytes: s.opts.MaxLineBytes}
		for _, seg := range pending.segs {
			p.Segments = append(p.Segments, Segment{File: idx[seg.t], From: seg.from, To: seg.to, Lines: seg.lines})
		}
		st.Pending = p
	}
	if err := SaveState(s.opts.StateDir, st); err != nil {
		return err
	}
	s.metrics.stateWrites.Inc()
	s.dirty = false
	return nil
}

// recover loads the state file: finds each file again by its identity (where it was, or
// renamed beside it or elsewhere under the globs), and rebuilds the batch that was pending.
func (s *Saver) recover() error {
	st, err := LoadState(s.opts.StateDir)
	if err != nil {
		return fmt.Errorf("%w (remove it to start over: every file is then shipped again from its start)", err)
	}
	if st == nil {
		// A fresh start numbers from the clock (microseconds), above any number a lost state
		// file used unless it shipped more than a line a microsecond, so that a collector
		// dropping numbers it has seen does not drop these. (Below 2^53: exact in JSON for
		// JavaScript readers too.)
		s.nextSeq = uint64(time.Now().UnixMicro())
		s.log.Info("no state: reading every file from its start", "state_dir", s.opts.StateDir)
		return nil
	}
	s.nextSeq = st.NextSeq
	var candidates []string
	listed := false
	byIndex := make([]*tracked, len(st.Files))
	for i, fs := range st.Files {
		t := s.open(fs, fs.Path)
		if t == nil {
			if !listed {
				candidates, listed = s.candidates(st), true
			}
			for _, p := range candidates {
				if t = s.open(fs, p); t != nil {
					break
				}
			}
		}
		if t == nil {
			s.log.Warn("a followed file is gone", "file", fs.Path, "acknowledged_bytes", fs.Offset)
			continue
		}
		s.seen++
		t.seen = s.seen
		s.files[t.id] = t
		byIndex[i] = t
	}
	s.log.Info("state loaded", "files", len(s.files), "next_seq", s.nextSeq)
	if st.Pending != nil {
		s.replay(st.Pending, byIndex)
	}
	return nil
}

// open opens path if it is the file fs describes.
func (s *Saver) open(fs FileState, path string) *tracked {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || !sameID(fi, fileID{dev: fs.Dev, ino: fs.Ino}) {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	if ofi, err := f.Stat(); err != nil || !sameID(ofi, fileID{dev: fs.Dev, ino: fs.Ino}) {
		f.Close()
		return nil
	}
	if fp, short, err := readFingerprint(f, fs.FPLen); err != nil || short || fp != fs.FP {
		f.Close() // the inode was reused by another file
		return nil
	}
	return &tracked{id: fileID{dev: fs.Dev, ino: fs.Ino}, path: path, f: f, fpLen: fs.FPLen, fp: fs.FP, acked: fs.Offset, readOff: fs.Offset}
}

// candidates are where a file renamed by a rotation may be: the globs' files and every file in
// the folders of the globs and of the state's files.
func (s *Saver) candidates(st *State) []string {
	dirs := map[string]bool{}
	for _, fs := range st.Files {
		dirs[filepath.Dir(fs.Path)] = true
	}
	for _, g := range s.opts.Globs {
		if d, fixed := globDir(g); fixed {
			dirs[d] = true
		}
	}
	out := matches(s.opts.Globs)
	for d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Type().IsRegular() {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

// replay rebuilds the pending batch from the files: the same bytes, cut the same way, with the
// same sequence numbers.
func (s *Saver) replay(p *Pending, byIndex []*tracked) {
	b := &s.b
	b.reset()
	b.fixedSeq = true
	now := time.Now()
	seq := p.FirstSeq
	for _, seg := range p.Segments {
		first := seq
		seq += uint64(seg.Lines)
		t := byIndex[seg.File]
		if t == nil || t.readOff != seg.From {
			s.lost(seg, "file gone")
			continue
		}
		buf := make([]byte, seg.To-seg.From)
		if _, err := t.f.ReadAt(buf, seg.From); err != nil {
			s.lost(seg, err.Error())
			continue
		}
		off := seg.From
		n := uint64(0)
		cutLines(buf, p.MaxLineBytes, true, func(line []byte, used int) bool {
			b.add(t, off, off+int64(used), line, now)
			b.seqs = append(b.seqs, first+n)
			off += int64(used)
			n++
			return true
		})
		t.readOff = seg.To
	}
	if !b.empty() {
		s.log.Info("sending again the batch in flight at the last stop", "lines", len(b.texts), "first_seq", p.FirstSeq)
	}
	s.dirty = true // the state file's pending goes with the next write, even if nothing was left of it
}

func (s *Saver) lost(seg Segment, why string) {
	s.metrics.linesLost.Add(float64(seg.Lines))
	s.log.Error("lines of the batch in flight at the last stop cannot be read again", "lines", seg.Lines, "reason", why)
}

// deliverPending sends the replayed batch, if any.
func (s *Saver) deliverPending(ctx context.Context) error {
	return s.deliver(ctx)
}
