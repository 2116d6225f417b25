// Package logs writes and reads container logs in the CRI log format, the kubelet's:
//
//	2016-10-06T00:17:09.669794202Z stdout F log line
//	2016-10-06T00:17:09.669794203Z stderr P the first 16 KiB of a longer line
//
// one line per line of output: a timestamp (RFC 3339, UTC, always nine digits of nanoseconds, so
// that timestamps compare as strings), the stream, a tag (F: the line ends here; P: a part of a
// longer line, or the last output of a stream that did not end with a newline) and the content
// without its newline.
//
// One container instance writes one file, <path>, rotated by size: when a line would make it larger
// than the maximum, <path> becomes <path>.1, <path>.1 becomes <path>.2 and so on, and the oldest
// beyond the maximum number of files is removed. Rotated files are plain and stay readable.
//
// The Writer (used by the logger process, see Serve) gives every line of a file a timestamp later
// than the one before it, so that a timestamp names one line of an instance exactly: that is what
// lets a reader resume after a given line (ReadOptions.After) with nothing lost or repeated.
//
// Read reads an instance's files oldest first, reassembles partial lines, applies tail and since,
// and follows the file as it grows and rotates: it keeps reading a renamed file to its end before
// it moves on to the next, found by inode, so nothing is skipped however the rotation and the
// reader interleave. It waits with inotify on the instance's folder.
//
// The package imports nothing of podd's: file names of instances, attempts and pods are pkg/pod's.
package logs

import (
	"bytes"
	"time"
)

// Streams of a container.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// TimeLayout is the layout of the timestamps the Writer writes: RFC 3339 in UTC with nine digits of
// nanoseconds, fixed width, so that comparing two as strings compares the times.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// timeLen is the length of a timestamp in TimeLayout, in UTC: 2016-10-06T00:17:09.669794202Z.
const timeLen = 30

// MaxLineSize is the longest content of one file line: a longer line is cut into partial lines
// (tag P) of this size, as the kubelet's CRI runtimes do by default.
const MaxLineSize = 16 << 10

// maxAssembled bounds a reassembled line: a stream that never writes a newline is delivered in
// pieces of about this size rather than held in memory.
const maxAssembled = 1 << 20

// FormatTime formats t as the Writer does; strings of it compare as the times do.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeLayout)
}

// Line is one line of a container's output, as Read delivers it: partial lines reassembled.
type Line struct {
	// Time is the timestamp of the line's first part, as in the file (TimeLayout).
	Time string
	// End is the timestamp of its last part: the line's position in the instance's log. "After End"
	// is where a reader that delivered this line resumes.
	End    string
	Stream string
	// Content is the line without its newline. It is valid only during the callback.
	Content []byte
	// Partial: the output stopped here without a newline (the container exited, or a line longer
	// than the reassembly limit); the next Line of the stream continues it.
	Partial bool
}

// entry is one line of a log file.
type entry struct {
	time    []byte
	stream  []byte
	partial bool
	content []byte
}

var (
	tagFull    = []byte("F")
	tagPartial = []byte("P")
)

// parseEntry parses one line of a log file, without its newline. It is lenient: a line that is not
// in the CRI format (a file written before podd used it, say) is one full stdout line with no
// timestamp, so nothing of the output is hidden.
func parseEntry(line []byte) entry {
	raw := entry{stream: []byte(Stdout), content: line}
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return raw
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok || !(string(stream) == Stdout || string(stream) == Stderr) {
		return raw
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		// "ts stream F" with empty content and no trailing space: accept it.
		tag, content = rest, nil
	}
	if !bytes.Equal(tag, tagFull) && !bytes.Equal(tag, tagPartial) {
		return raw
	}
	t, ok := normalTime(ts)
	if !ok {
		return raw
	}
	return entry{time: t, stream: stream, partial: bytes.Equal(tag, tagPartial), content: content}
}

// normalTime returns a timestamp in TimeLayout; one written otherwise (another writer's RFC 3339)
// is converted.
func normalTime(ts []byte) ([]byte, bool) {
	if len(ts) == timeLen && ts[timeLen-1] == 'Z' && ts[10] == 'T' && ts[19] == '.' {
		return ts, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return nil, false
	}
	return []byte(FormatTime(t)), true
}

// appendEntry appends what follows the timestamp in a file line, newline included.
func appendEntry(b []byte, stream string, partial bool, content []byte) []byte {
	b = append(b, ' ')
	b = append(b, stream...)
	if partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, content...)
	return append(b, '\n')
}
