package logs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Request is what a client asks of a container's log: kubectl logs' options, and a cursor to
// resume.
type Request struct {
	// Container is the container (an init container too); "" is the pod's first container.
	Container string
	// Follow writes the log as the container writes it, across rotations and restarts of the
	// container, until the pod is removed or the container has ended for good.
	Follow bool
	// Previous writes the log of the container's previous instance.
	Previous bool
	// TailLines, if set, starts with the last TailLines lines.
	TailLines *int64
	// SinceTime, if set, skips the lines written before it.
	SinceTime *time.Time
	// Timestamps puts each line's timestamp (RFC 3339, nanoseconds) and a space before it.
	Timestamps bool
	// Cursor frames the output so that a client can resume it (see Cursor): every line is
	// "<cursor> F <text>" (text then a newline) or "<cursor> P <text>" (text without a newline:
	// the output stopped there), and a bare "<cursor>" line moves the position without output.
	Cursor bool
	// After resumes after a cursor that a framed output gave; TailLines and SinceTime do not
	// apply then.
	After string
}

// Cursor is a position in a container's log: after the line of instance Attempt whose
// timestamp is Time, or before the instance's first line when Time is "". The logger gives the
// lines of an instance strictly increasing timestamps, so a cursor names one line exactly.
type Cursor struct {
	Attempt int
	Time    string
}

// String is the cursor as it travels: "<attempt>/<time>", e.g. 3/2024-05-01T10:00:00.000000000Z.
func (c Cursor) String() string { return strconv.Itoa(c.Attempt) + "/" + c.Time }

// ParseCursor reads a cursor's String.
func ParseCursor(s string) (Cursor, error) {
	a, t, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(a)
	bad := !ok || err != nil || n < 0 || strconv.Itoa(n) != a
	if !bad && t != "" {
		_, err := time.Parse(time.RFC3339Nano, t)
		bad = err != nil || len(t) != len(FormatTime(time.Time{}))
	}
	if bad {
		return Cursor{}, fmt.Errorf("log cursor %q: want <attempt>/<timestamp> as a log stream gave it: %w", s, errdefs.ErrInvalidArgument)
	}
	return Cursor{Attempt: n, Time: t}, nil
}
