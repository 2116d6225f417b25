package logsaver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// fingerprintMax is how many first bytes of a file identify it beside its device and inode.
const fingerprintMax = 128

// fileID is a file's identity on its filesystem.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// fingerprint hashes b (a file's first bytes).
func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// readFingerprint hashes f's first n bytes; short is true when f has fewer.
func readFingerprint(f *os.File, n int) (fp string, short bool, err error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	return fingerprint(buf[:got]), got < n, nil
}

// tracked is a followed file, open: holding it open lets a renamed or removed file be read to
// its end, and keeps its inode from being reused meanwhile.
type tracked struct {
	id      fileID
	path    string
	f       *os.File
	fpLen   int
	fp      string
	acked   int64 // the collector has every line before this offset
	readOff int64 // lines before this offset are acked, in flight or in the batch being built
	rotated bool  // no longer matched by the globs (renamed away or removed)
	// idle: since when a rotated file has had nothing new to read; it is let go after
	// --rotate-wait of that.
	idle time.Time
	seen uint64 // discovery order
	// app is the syslog APP-NAME of its lines: by default its base name when this run first
	// shipped from it (a file renamed by a rotation keeps it).
	app string
	// lastSize, idleTail and finalAt: a rotated file whose unfinished last line has not grown
	// for --rotate-wait is final at its size (finalAt): that line is shipped as it is. A file
	// that grew since is not (its new last line may be a write seen half done), nor one matched
	// by the globs again. 0: not final.
	lastSize int64
	idleTail time.Time
	finalAt  int64
}

// action is what to do with a file before reading on.
type action int

const (
	readOn    action = iota // carry on from the read offset
	restart                 // the file was truncated (copytruncate) or rewritten: read from 0
	waitAcked               // truncated, but lines read before are not acknowledged yet: wait for that
)

func (a action) String() string {
	return [...]string{"readOn", "restart", "waitAcked"}[a]
}

// decide says what to do with a followed file whose size is size and whose first fpLen bytes
// still hash to its fingerprint (fpSame), given where it was read up to and acknowledged.
// A size below the read offset is a truncation (copytruncate); so is a changed first part, for
// a file truncated and then written past the old offset before it was looked at again.
func decide(size, readOff, acked int64, fpSame bool) action {
	if size >= readOff && fpSame {
		return readOn
	}
	if readOff != acked {
		return waitAcked
	}
	return restart
}

// cutLines splits b (read from a file) into messages: whole lines without their newline, a
// trailing carriage return dropped, and lines longer than max cut into pieces of max bytes.
// It returns the messages and how many bytes of b they used; an incomplete last line is left
// unless it already has max bytes, or eof says that no more will come (a file let go).
// emit gets each message and the bytes of b it used; returning false stops the cut there.
func cutLines(b []byte, max int, eof bool, emit func(line []byte, n int) bool) (used int) {
	for used < len(b) {
		rest := b[used:]
		i := bytes.IndexByte(rest, '\n')
		switch {
		case i >= 0 && i <= max:
			line := rest[:i]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			used += i + 1
			if !emit(line, i+1) {
				return used
			}
		case i > max || (i < 0 && len(rest) > max):
			used += max
			if !emit(rest[:max], max) {
				return used
			}
		case eof:
			used += len(rest)
			if !emit(rest, len(rest)) {
				return used
			}
		default:
			return used
		}
	}
	return used
}

// globDir is the folder a glob's files are in, and whether it is fixed (no pattern in it), so
// that inotify can watch it.
func globDir(glob string) (string, bool) {
	dir := filepath.Dir(glob)
	return dir, !strings.ContainsAny(dir, `*?[\`)
}

// matches lists the regular files the globs match, each once, sorted.
func matches(globs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range globs {
		ms, _ := filepath.Glob(g) // the patterns were checked at start
		for _, m := range ms {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}
