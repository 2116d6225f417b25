package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the rotation, the kubelet's (containerLogMaxSize, containerLogMaxFiles).
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 5
)

// flushSize bounds the lines the Writer gathers before it writes them out.
const flushSize = 64 << 10

// reopenEvery paces the attempts to reopen a log file that could not be opened.
const reopenEvery = time.Second

// WriterOptions configure a Writer.
type WriterOptions struct {
	// MaxSize is the size a file may reach before it is rotated; 0 is DefaultMaxSize. A file holds
	// at least one line, so a line longer than MaxSize makes a file of its own.
	MaxSize int64
	// MaxFiles is how many files are kept, the current one included, at least 2; 0 is
	// DefaultMaxFiles.
	MaxFiles int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (o *WriterOptions) setDefaults() error {
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSize < 0 {
		return fmt.Errorf("log max size %d: want more than 0 bytes", o.MaxSize)
	}
	if o.MaxFiles < 2 {
		return fmt.Errorf("log max files %d: want at least 2 (the current file and one rotated)", o.MaxFiles)
	}
	return nil
}

// Writer writes the CRI log of one container instance to path and rotates it by size. It is safe
// for concurrent use: stdout and stderr are copied into it at once.
//
// Write errors never block the container: lines that cannot be written (a full disk) are dropped
// and counted, and the Writer tries again with the next lines.
type Writer struct {
	path string
	opts WriterOptions

	mu       sync.Mutex
	f        *os.File // nil when it could not be opened
	size     int64    // of f, written
	buf      []byte   // lines not yet written
	last     int64    // the last timestamp given, in Unix nanoseconds
	openErr  error
	openedAt time.Time // of the last attempt to open
	dropped  int64     // lines lost to write errors
	lastErr  error
}

// NewWriter opens (or creates) the log file at path for appending; a file that exists already
// (the same instance's, written by an earlier writer) is continued, its timestamps too. Only
// invalid options are an error: a file that cannot be opened is reported by Err and tried again
// with the next lines, so that a logger keeps draining the container's output whatever happens.
func NewWriter(path string, opts WriterOptions) (*Writer, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{path: path, opts: opts}
	w.open()
	return w, nil
}

// Err is the error of the last attempt to open the file, nil once it is open.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.openErr
}

func (w *Writer) open() {
	w.openedAt = time.Now()
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		w.openErr = fmt.Errorf("open log: %w", err)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		w.openErr = fmt.Errorf("open log: %w", err)
		return
	}
	w.f, w.size, w.openErr = f, fi.Size(), nil
	w.last = max(w.last, lastTime(f, w.size))
}

// lastTime reads the timestamp of the last line of a file, in Unix nanoseconds; 0 if none.
func lastTime(f *os.File, size int64) int64 {
	const window = 2 * MaxLineSize
	from := max(size-window, 0)
	b := make([]byte, size-from)
	n, _ := f.ReadAt(b, from)
	lines := bytes.Split(bytes.TrimSuffix(b[:n], []byte("\n")), []byte("\n"))
	first := 0
	if from > 0 {
		first = 1 // cut by the window
	}
	for i := len(lines) - 1; i >= first; i-- {
		if e := parseEntry(lines[i]); e.time != nil {
			if t, err := time.Parse(time.RFC3339Nano, string(e.time)); err == nil {
				return t.UnixNano()
			}
		}
	}
	return 0
}

// name is the path of the file k rotations old: path, path.1, path.2...
func (w *Writer) name(k int) string {
	if k == 0 {
		return w.path
	}
	return w.path + "." + strconv.Itoa(k)
}

// Copy copies the lines read from r into the log as lines of stream, until r ends: EOF, or an
// error such as a read deadline passed (it is returned; EOF is not). What r gave without a newline
// at its end is written as a partial line, and so is a begun line that r gives up waiting for
// (errPartial, partialReader's).
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLineSize)
	for {
		line, err := br.ReadSlice('\n')
		full := err == nil
		if errors.Is(err, bufio.ErrBufferFull) || errors.Is(err, errPartial) {
			err = nil // a line longer than MaxLineSize, or one not ended yet: this part is a partial line
		}
		w.mu.Lock()
		if len(line) > 0 {
			content := line
			if full {
				content = line[:len(line)-1]
			}
			w.addLocked(stream, !full, content)
		}
		// Write out what was gathered unless another line is ready to join it: a reader must see
		// a line as soon as the container wrote it.
		if err != nil || !lineReady(br) || len(w.buf) >= flushSize {
			w.flushLocked()
		}
		w.mu.Unlock()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// lineReady tells whether br can give a line (or a full buffer) without reading.
func lineReady(br *bufio.Reader) bool {
	n := br.Buffered()
	if n == br.Size() {
		return true
	}
	b, _ := br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// addLocked gathers one line, rotating first when it would not fit in the current file.
func (w *Writer) addLocked(stream string, partial bool, content []byte) {
	lineLen := int64(timeLen + 1 + len(stream) + 3 + len(content) + 1)
	if pending := w.size + int64(len(w.buf)); pending > 0 && pending+lineLen > w.opts.MaxSize {
		w.flushLocked()
		w.rotateLocked()
	}
	n := w.opts.Now().UnixNano()
	if n <= w.last {
		// Strictly increasing, even when the clock is coarse or steps back: a timestamp names one
		// line of the instance.
		n = w.last + 1
	}
	w.last = n
	w.buf = time.Unix(0, n).UTC().AppendFormat(w.buf, TimeLayout)
	w.buf = appendEntry(w.buf, stream, partial, content)
}

// flushLocked writes the gathered lines; on failure they are dropped.
func (w *Writer) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	if w.f == nil && time.Since(w.openedAt) >= reopenEvery {
		w.open()
	}
	if w.f == nil {
		w.dropLocked(w.openErr)
		return
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		w.dropLocked(err)
		return
	}
	w.buf = w.buf[:0]
}

func (w *Writer) dropLocked(err error) {
	w.dropped += int64(bytes.Count(w.buf, []byte("\n")))
	w.lastErr = err
	w.buf = w.buf[:0]
}

// rotateLocked renames path to path.1 (path.1 to path.2, and so on, the oldest replaced) and opens
// a new path. Renames go from the oldest to the newest, so that at every instant the files that
// exist are in age order by their number: Read relies on it.
func (w *Writer) rotateLocked() {
	if w.f != nil {
		w.f.Close()
		w.f, w.size = nil, 0
	}
	for k := w.opts.MaxFiles - 1; k >= 1; k-- {
		if err := os.Rename(w.name(k-1), w.name(k)); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.lastErr = err
		}
	}
	w.open()
}

// Close writes what is gathered and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Dropped reports how many lines were lost to write errors, and the last error.
func (w *Writer) Dropped() (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped, w.lastErr
}

// Remove removes an instance's log: path and its rotated files.
func Remove(path string) error {
	rotated, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range append(rotated, path) {
		if p != path && !isRotated(p, path) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isRotated tells whether name is one of path's rotated files: path.<k>, k ≥ 1.
func isRotated(name, path string) bool {
	suffix, ok := strings.CutPrefix(name, path+".")
	if !ok {
		return false
	}
	k, err := strconv.Atoi(suffix)
	return err == nil && k >= 1 && strconv.Itoa(k) == suffix
}

// globEscape escapes the pattern characters of a path for filepath.Glob.
func globEscape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
