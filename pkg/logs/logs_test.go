package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseEntry(t *testing.T) {
	const ts = "2016-10-06T00:17:09.669794202Z"
	tests := []struct {
		name    string
		line    string
		time    string
		stream  string
		partial bool
		content string
	}{
		{"full", ts + " stdout F log line", ts, Stdout, false, "log line"},
		{"partial", ts + " stderr P part", ts, Stderr, true, "part"},
		{"empty content", ts + " stdout F ", ts, Stdout, false, ""},
		{"empty content without space", ts + " stdout F", ts, Stdout, false, ""},
		{"spaces kept", ts + " stdout F  two  spaces ", ts, Stdout, false, " two  spaces "},
		{"other RFC 3339 normalized", "2016-10-06T02:17:09.5+02:00 stdout F x", "2016-10-06T00:17:09.500000000Z", Stdout, false, "x"},
		{"unknown stream: raw", ts + " stdin F x", "", Stdout, false, ts + " stdin F x"},
		{"unknown tag: raw", ts + " stdout X x", "", Stdout, false, ts + " stdout X x"},
		{"bad time: raw", "yesterday stdout F x", "", Stdout, false, "yesterday stdout F x"},
		{"plain text: raw", "hello world", "", Stdout, false, "hello world"},
		{"empty: raw", "", "", Stdout, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseEntry([]byte(tt.line))
			if string(e.time) != tt.time || string(e.stream) != tt.stream || e.partial != tt.partial || string(e.content) != tt.content {
				t.Errorf("parseEntry(%q) = time %q stream %q partial %v content %q\nwant time %q stream %q partial %v content %q",
					tt.line, e.time, e.stream, e.partial, e.content, tt.time, tt.stream, tt.partial, tt.content)
			}
		})
	}
}

// clock is a fake clock that advances by step on every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), step: step}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func newTestWriter(t *testing.T, path string, maxSize int64, maxFiles int, c *clock) *Writer {
	t.Helper()
	w, err := NewWriter(path, WriterOptions{MaxSize: maxSize, MaxFiles: maxFiles, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func copyString(t *testing.T, w *Writer, stream, s string) {
	t.Helper()
	if err := w.Copy(stream, strings.NewReader(s)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriterFormat(t *testing.T) {
	long := strings.Repeat("a", MaxLineSize) + "bcd"
	exact := strings.Repeat("e", MaxLineSize)
	tests := []struct {
		name   string
		stream string
		in     string
		want   []string // stream tag content, one per file line
	}{
		{"lines", Stdout, "one\ntwo\n", []string{"stdout F one", "stdout F two"}},
		{"empty lines", Stdout, "\n\nx\n", []string{"stdout F ", "stdout F ", "stdout F x"}},
		{"no newline at the end", Stderr, "a\nlast", []string{"stderr F a", "stderr P last"}},
		{"long line split", Stdout, long + "\n", []string{"stdout P " + long[:MaxLineSize], "stdout F bcd"}},
		{"line of exactly the maximum", Stdout, exact + "\nz\n", []string{"stdout P " + exact, "stdout F ", "stdout F z"}},
		{"carriage return kept", Stdout, "dos\r\n", []string{"stdout F dos\r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			w := newTestWriter(t, path, 0, 0, newClock(time.Millisecond))
			copyString(t, w, tt.stream, tt.in)
			w.Close()
			lines := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
			var got []string
			prev := ""
			for _, l := range lines {
				ts, rest, _ := strings.Cut(l, " ")
				if len(ts) != timeLen || ts <= prev {
					t.Errorf("timestamp %q: want %d characters, later than %q", ts, timeLen, prev)
				}
				prev = ts
				got = append(got, rest)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("file lines (without timestamps):\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestWriterTimestampsStrictlyIncrease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	frozen := newClock(0) // the clock never moves
	w := newTestWriter(t, path, 0, 0, frozen)
	copyString(t, w, Stdout, "a\nb\nc\n")
	w.Close()
	// A new writer of the same file (a recreated instance) continues after the last timestamp,
	// even with a clock behind it.
	w = newTestWriter(t, path, 0, 0, newClock(0))
	copyString(t, w, Stderr, "d\n")
	w.Close()
	var times []string
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, path)), "\n") {
		times = append(times, l[:timeLen])
	}
	want := []string{
		"2024-05-01T10:00:00.000000000Z", "2024-05-01T10:00:00.000000001Z",
		"2024-05-01T10:00:00.000000002Z", "2024-05-01T10:00:00.000000003Z",
	}
	if !slices.Equal(times, want) {
		t.Errorf("timestamps %q, want %q", times, want)
	}
}

func TestWriterOptions(t *testing.T) {
	for _, o := range []WriterOptions{{MaxFiles: 1}, {MaxSize: -1}} {
		if _, err := NewWriter(filepath.Join(t.TempDir(), "0.log"), o); err == nil {
			t.Errorf("NewWriter(%+v) succeeded, want an error", o)
		}
	}
	// A file that cannot be opened is no error of NewWriter: the logger keeps draining.
	w, err := NewWriter(filepath.Join(t.TempDir(), "missing", "0.log"), WriterOptions{})
	if err != nil || w.Err() == nil {
		t.Fatalf("NewWriter in a missing folder = %v, Err %v; want no error, then Err", err, w.Err())
	}
	copyString(t, w, Stdout, "lost\n")
	if n, err := w.Dropped(); n != 1 || err == nil {
		t.Errorf("Dropped = %d, %v; want 1 and the error", n, err)
	}
}

// numbered makes "line 1\n"... "line n\n".
func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// lineLen is the size of a file line of "line N" with N of digits digits.
func lineLen(digits int) int { return timeLen + len(" stdout F line ") + digits + 1 }

func TestWriterRotation(t *testing.T) {
	tests := []struct {
		name      string
		maxSize   int64
		maxFiles  int
		lines     int
		wantFiles map[string][2]int // file → first and last line number in it
	}{
		{
			name: "no rotation when it fits", maxSize: int64(9 * lineLen(1)), maxFiles: 3, lines: 9,
			wantFiles: map[string][2]int{"0.log": {1, 9}},
		},
		{
			name: "rotates before the line that does not fit", maxSize: int64(3 * lineLen(1)), maxFiles: 5, lines: 7,
			wantFiles: map[string][2]int{"0.log.2": {1, 3}, "0.log.1": {4, 6}, "0.log": {7, 7}},
		},
		{
			name: "oldest files removed", maxSize: int64(3 * lineLen(1)), maxFiles: 2, lines: 9,
			wantFiles: map[string][2]int{"0.log.1": {4, 6}, "0.log": {7, 9}},
		},
		{
			name: "a line larger than the maximum gets a file of its own", maxSize: 10, maxFiles: 3, lines: 3,
			wantFiles: map[string][2]int{"0.log.2": {1, 1}, "0.log.1": {2, 2}, "0.log": {3, 3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := newTestWriter(t, filepath.Join(dir, "0.log"), tt.maxSize, tt.maxFiles, newClock(time.Microsecond))
			// One line per Copy: the gathering of lines never decides where a file ends.
			for i := 1; i <= tt.lines; i++ {
				copyString(t, w, Stdout, numbered(i, i))
			}
			w.Close()
			got := map[string][2]int{}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				content := readFile(t, filepath.Join(dir, e.Name()))
				if int64(len(content)) > tt.maxSize && strings.Count(content, "\n") > 1 {
					t.Errorf("%s holds %d bytes, more than the maximum %d", e.Name(), len(content), tt.maxSize)
				}
				lines := strings.Split(strings.TrimSpace(content), "\n")
				first, _ := strconv.Atoi(lines[0][strings.LastIndexByte(lines[0], ' ')+1:])
				last, _ := strconv.Atoi(lines[len(lines)-1][strings.LastIndexByte(lines[len(lines)-1], ' ')+1:])
				got[e.Name()] = [2]int{first, last}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantFiles) {
				t.Errorf("files (first and last line): %v\nwant %v", got, tt.wantFiles)
			}
		})
	}
}

// writeLog writes lines (stream tag content, without timestamps) as a log file, timestamps
// from the clock.
func writeLog(t *testing.T, path string, c *clock, lines ...string) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(FormatTime(c.now()) + " " + l + "\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readAll reads with Read and renders each line as "stream content" (+ "(partial)"), and the
// position Start was given.
func readAll(t *testing.T, path string, opts ReadOptions) (lines []string, start string) {
	t.Helper()
	start = "<not called>"
	opts.Start = func(after string) error { start = after; return nil }
	err := Read(context.Background(), path, opts, func(l Line) error {
		s := l.Stream + " " + string(l.Content)
		if l.Partial {
			s += " (partial)"
		}
		lines = append(lines, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, start
}

func ts(sec int) string {
	return FormatTime(time.Date(2024, 5, 1, 10, 0, sec, 0, time.UTC))
}

// TestRead reads a log of three files, written a line a second from 10:00:00 on.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	c := newClock(time.Second)
	writeLog(t, path+".2", c, "stdout F one", "stdout P tw") // 0s, 1s
	writeLog(t, path+".1", c, "stderr P err-", "stdout F o", "stderr F 1", "stdout F three")
	writeLog(t, path, c, "stdout F four", "stderr P unfinished")
	writeLog(t, filepath.Join(dir, "1.log"), c, "stdout F another instance")
	writeLog(t, path+".x", c, "stdout F not a rotated file")
	all := []string{"stdout one", "stdout two", "stderr err-1", "stdout three", "stdout four", "stderr unfinished (partial)"}

	tests := []struct {
		name      string
		opts      ReadOptions
		want      []string
		wantStart string
	}{
		{"all, partial lines reassembled across files", ReadOptions{Tail: -1}, all, ""},
		// A line not finished yet is no line for tail: it comes on top.
		{"tail 3", ReadOptions{Tail: 3}, all[2:], ts(3)},
		{"tail spans the rotated files", ReadOptions{Tail: 4}, all[1:], ts(0)},
		{"tail more than there is", ReadOptions{Tail: 100}, all, ""},
		{"tail 0", ReadOptions{Tail: 0}, all[5:], ts(6)},
		{"since", ReadOptions{Tail: -1, Since: time.Date(2024, 5, 1, 10, 0, 5, 0, time.UTC)}, all[3:], ts(4)},
		{"since and tail", ReadOptions{Tail: 1, Since: time.Date(2024, 5, 1, 10, 0, 5, 0, time.UTC)}, all[4:], ts(5)},
		{"after the err line", ReadOptions{Tail: -1, After: ts(4)}, all[3:], ts(4)},
		{"after a part's time: the line ends later", ReadOptions{Tail: -1, After: ts(3)}, all[2:], ts(3)},
		{"after the last", ReadOptions{Tail: -1, After: ts(7)}, nil, ts(7)},
		{"after everything", ReadOptions{Tail: -1, After: ts(9)}, nil, ts(9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, start := readAll(t, path, tt.opts)
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines\n%q\nwant\n%q", got, tt.want)
			}
			if start != tt.wantStart {
				t.Errorf("Start(%q), want Start(%q)", start, tt.wantStart)
			}
		})
	}

	t.Run("times of a reassembled line", func(t *testing.T) {
		var got []string
		Read(context.Background(), path, ReadOptions{Tail: -1}, func(l Line) error {
			got = append(got, l.Time+" "+l.End)
			return nil
		})
		if want := ts(2) + " " + ts(4); got[2] != want {
			t.Errorf("err-1 line: Time End = %q, want %q (its first part, its last part)", got[2], want)
		}
	})

	t.Run("missing log is empty", func(t *testing.T) {
		got, start := readAll(t, filepath.Join(dir, "9.log"), ReadOptions{Tail: -1})
		if len(got) != 0 || start != "" {
			t.Errorf("lines %q, start %q; want none", got, start)
		}
	})
}

func TestReadLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, 0, 0, newClock(time.Microsecond))
	long := strings.Repeat("x", 3*MaxLineSize+5)
	endless := strings.Repeat("y", maxAssembled+MaxLineSize)
	copyString(t, w, Stdout, long+"\nshort\n"+endless+"\nend\n")
	w.Close()
	var got []string
	Read(context.Background(), path, ReadOptions{Tail: -1}, func(l Line) error {
		got = append(got, fmt.Sprintf("%d %v", len(l.Content), l.Partial))
		return nil
	})
	want := []string{
		fmt.Sprint(len(long), " false"), "5 false",
		fmt.Sprint(maxAssembled, " true"), fmt.Sprint(MaxLineSize, " false"), // delivered in pieces
		"3 false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("line lengths %q, want %q", got, want)
	}
}

// TestReadAcrossRotations reads the first line of a file, lets the writer write and rotate (three
// lines a file), and reads on: the follower finishes the file it has open, renamed or even
// removed, and goes on with the next by inode. Only files that rotated out of existence before it
// got to them are missing.
func TestReadAcrossRotations(t *testing.T) {
	seq := func(from, to int) []int {
		var s []int
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	tests := []struct {
		name     string
		maxFiles int
		last     int // lines written in all
		want     []int
	}{
		{"no rotation", 3, 3, seq(1, 3)},
		{"the file read is renamed", 3, 5, seq(1, 5)},
		{"the file read is removed", 3, 11, seq(1, 11)},
		{"the files after it are removed too", 2, 14, append(seq(1, 3), seq(10, 14)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "0.log")
			w := newTestWriter(t, path, int64(3*lineLen(2)), tt.maxFiles, newClock(time.Microsecond))
			copyString(t, w, Stdout, numbered(1, 1))
			var got []int
			stop := errors.New("stop")
			err := Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true}, func(l Line) error {
				n, _ := strconv.Atoi(strings.TrimPrefix(string(l.Content), "line "))
				got = append(got, n)
				if n == 1 {
					// One line a Copy: the rotation happens exactly every three lines.
					for i := 2; i <= tt.last; i++ {
						copyString(t, w, Stdout, numbered(i, i))
					}
				}
				if n == tt.last {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Fatalf("Read = %v, want it stopped at line %d", err, tt.last)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFollow follows a log that a writer writes and rotates meanwhile: every line arrives once,
// in order; Done ends the follow once the log is quiet.
func TestFollow(t *testing.T) {
	tests := []struct {
		name     string
		maxSize  int64
		maxFiles int
		lines    int
		ahead    int // lines the writer may be ahead of the reader; the rotation keeps more
	}{
		{"8 KiB files", 8 << 10, 50, 20000, 2000},
		{"files of a few lines, rotated all the time", 1 << 10, 40, 5000, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testFollow(t, tt.maxSize, tt.maxFiles, tt.lines, tt.ahead)
		})
	}
}

func testFollow(t *testing.T, maxSize int64, maxFiles, n, ahead int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	w := newTestWriter(t, path, maxSize, maxFiles, newClock(time.Microsecond))
	done := make(chan struct{})
	var delivered atomic.Int64
	go func() {
		defer close(done)
		// In batches through a pipe, as a container writes. The writer never gets further ahead
		// than the rotation keeps: a follower that falls further behind loses what the rotation
		// removes, by design.
		pr, pw := io.Pipe()
		go func() {
			for i := 1; i <= n; i += 100 {
				for int64(i)-delivered.Load() > int64(ahead) {
					time.Sleep(100 * time.Microsecond)
				}
				pw.Write([]byte(numbered(i, min(i+99, n))))
			}
			pw.Close()
		}()
		w.Copy(Stdout, pr)
	}()
	next := 1
	err := Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, Done: done, Quiet: 50 * time.Millisecond}, func(l Line) error {
		if want := fmt.Sprintf("line %d", next); string(l.Content) != want {
			return fmt.Errorf("got %q, want %q", l.Content, want)
		}
		next++
		delivered.Store(int64(next - 1))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != n+1 {
		t.Errorf("read %d lines, want %d", next-1, n)
	}
	if files, _ := filepath.Glob(path + ".*"); len(files) < maxFiles-1 {
		t.Errorf("%d rotated files: the test did not rotate much", len(files))
	}
}

// TestFollowResume follows, stops, and resumes after the last line delivered while the writer
// goes on: nothing is lost or repeated.
func TestFollowResume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	w := newTestWriter(t, path, 1<<10, 100, newClock(time.Microsecond))
	var got []string
	last := ""
	stop := errors.New("stop")
	collect := func(stopAfter int) {
		count := 0
		err := Read(context.Background(), path, ReadOptions{Tail: -1, After: last, Follow: true}, func(l Line) error {
			got = append(got, string(l.Content))
			last = l.End
			if count++; count == stopAfter {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("Read = %v, want stopped", err)
		}
	}
	copyString(t, w, Stdout, numbered(1, 50))
	collect(20)
	copyString(t, w, Stdout, numbered(51, 120)) // rotates while nobody reads
	collect(60)
	copyString(t, w, Stdout, numbered(121, 130))
	collect(50)
	want := strings.Split(strings.TrimSpace(numbered(1, 130)), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("lines\n%q\nwant\n%q", got, want)
	}
}

func TestFollowWaits(t *testing.T) {
	for _, folderExists := range []bool{true, false} {
		t.Run(fmt.Sprintf("for the file to exist, folder exists %v", folderExists), func(t *testing.T) {
			testFollowWaitsForFile(t, folderExists)
		})
	}
	t.Run("done: delivers the rest and the unfinished line", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "0.log")
		w := newTestWriter(t, path, 0, 0, newClock(time.Microsecond))
		copyString(t, w, Stdout, "a\nno newline")
		done := make(chan struct{})
		close(done)
		var got []string
		err := Read(context.Background(), path, ReadOptions{Tail: 1, Follow: true, Done: done}, func(l Line) error {
			got = append(got, fmt.Sprintf("%s %v", l.Content, l.Partial))
			return nil
		})
		if err != nil || !slices.Equal(got, []string{"a false", "no newline true"}) {
			t.Errorf("Read = %v, lines %q", err, got)
		}
	})
}

func testFollowWaitsForFile(t *testing.T, folderExists bool) {
	dir := filepath.Join(t.TempDir(), "a")
	if folderExists {
		os.Mkdir(dir, 0o755)
	}
	path := filepath.Join(dir, "0.log")
	started := make(chan string, 1)
	go func() {
		<-started
		os.MkdirAll(dir, 0o755)
		w, _ := NewWriter(path, WriterOptions{})
		w.Copy(Stdout, strings.NewReader("late\n"))
		w.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got string
	err := Read(ctx, path, ReadOptions{Tail: -1, Follow: true, Start: func(after string) error {
		started <- after
		return nil
	}}, func(l Line) error {
		got = string(l.Content)
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || got != "late" {
		t.Errorf("Read = %v, line %q; want the late line", err, got)
	}
}

func TestServe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, LoggerConfig{Path: path, MaxSize: 1 << 10, MaxFiles: 3}, outR, errR, readyW.Close)
	}()
	// Readiness: the shim reads until the logger closes its end.
	if _, err := readyR.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read readiness: %v, want EOF", err)
	}
	fmt.Fprint(outW, "to stdout\n")
	fmt.Fprint(errW, "to stderr\n")
	fmt.Fprint(outW, "unfinished")
	// The shim closes its ends, then sends SIGTERM (ctx); a child of the container holding the
	// pipe open would be cut off by the drain deadline.
	outW.Close()
	errW.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, path, ReadOptions{Tail: -1})
	slices.Sort(got) // the streams are copied at once
	want := []string{"stderr to stderr", "stdout to stdout", "stdout unfinished (partial)"}
	if !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}

	t.Run("drain deadline", func(t *testing.T) {
		drainTimeout = 50 * time.Millisecond
		defer func() { drainTimeout = 5 * time.Second }()
		outR, outW, _ := os.Pipe()
		errR, errW, _ := os.Pipe()
		defer outW.Close()
		defer errW.Close()
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() {
			served <- Serve(ctx, LoggerConfig{Path: path}, outR, errR, func() error { return nil })
		}()
		fmt.Fprint(outW, "kept open\n")
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Serve did not return after the drain deadline")
		}
	})
}

func TestLoggerConfig(t *testing.T) {
	c := LoggerConfig{Path: "/var/lib/podd/logs/default_web_u/app/0.log", MaxSize: 10 << 20, MaxFiles: 5,
		Cgroups: []string{"/sys/fs/cgroup/cpu/podd/podu/podd-logs/cgroup.procs", "/sys/fs/cgroup/memory/podd/podu/podd-logs/cgroup.procs"}}
	got, err := ParseLoggerConfig(c.Encode())
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("ParseLoggerConfig(Encode()) = %+v, %v; want %+v", got, err, c)
	}
	for _, bad := range []string{"", "{}", "not json"} {
		if _, err := ParseLoggerConfig(bad); err == nil {
			t.Errorf("ParseLoggerConfig(%q) succeeded", bad)
		}
	}
}

// BenchmarkWriter measures the logger's work per line of output: splitting, timestamping,
// writing and rotating.
func BenchmarkWriter(b *testing.B) {
	w, err := NewWriter(filepath.Join(b.TempDir(), "0.log"), WriterOptions{MaxSize: 1 << 20, MaxFiles: 3})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	chunk := []byte(numbered(1, 1000))
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		w.Copy(Stdout, bytes.NewReader(chunk))
	}
}

// BenchmarkRead measures reading a full default-sized log (5 files of 10 MiB) with --tail 10:
// every line is scanned.
func BenchmarkRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "0.log")
	w, err := NewWriter(path, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("x", 60) + "\n"
	w.Copy(Stdout, strings.NewReader(strings.Repeat(line, (DefaultMaxFiles*DefaultMaxSize-DefaultMaxSize/2)/(len(line)+timeLen+10))))
	w.Close()
	for b.Loop() {
		n := 0
		Read(context.Background(), path, ReadOptions{Tail: 10}, func(Line) error { n++; return nil })
		if n != 10 {
			b.Fatalf("%d lines", n)
		}
	}
}

// TestServeWritesABegunLine: output that does not end a line reaches the log while the pipe
// stays open — the shim keeps it open until the task is deleted, long after the container
// exited — as a partial line, which the reader joins to the rest of the line when it comes.
func TestServeWritesABegunLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, LoggerConfig{Path: path}, outR, errR, func() error { return nil })
	}()
	fmt.Fprint(outW, "one\nvery")
	deadline := time.Now().Add(30 * time.Second) // a bound on a wait, not a figure
	for {
		got, _ := readAll(t, path, ReadOptions{Tail: -1})
		if slices.Equal(got, []string{"stdout one", "stdout very (partial)"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %q while the pipe is open, want one and the partial very", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprint(outW, " much\n")
	outW.Close()
	errW.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, path, ReadOptions{Tail: -1}); !slices.Equal(got, []string{"stdout one", "stdout very much"}) {
		t.Errorf("log %q, want the begun line joined to its end", got)
	}
}
