package logs

import (
	"errors"
	"os"
	"sync"
	"time"
)

// partialAfter is how long a line the container began and did not end waits for its end before
// it is written as a partial line. The shim closes its ends of the output pipes only when the
// task is deleted — for a container that exited, long after (podd keeps an exited instance's
// task) — so without it the last output of a container that exits without a newline
// (`printf done`) stays in the logger's buffer, missing from podctl logs, while Kubernetes shows
// it. A partial line costs nothing to the reader: it joins the partial lines to the rest of the
// line when that comes.
var partialAfter = 100 * time.Millisecond

// errPartial ends a read that waited partialAfter with a line begun: Copy writes out what it has.
var errPartial = errors.New("a begun line waited")

// partialReader reads one of the container's output pipes for Copy (which reads it through a
// bufio.Reader): when the data it returned last did not end a line, the next read waits at most
// partialAfter, then fails with errPartial. It also carries the drain deadline (drain), which a
// read never passes. The pipe must support read deadlines (a non-blocking file).
type partialReader struct {
	f *os.File

	mu      sync.Mutex
	drainAt time.Time // zero: none
	begun   bool      // the last data read did not end with a newline
}

func newPartialReader(f *os.File) *partialReader { return &partialReader{f: f} }

func (r *partialReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	deadline, idle := r.drainAt, false
	if r.begun {
		if d := time.Now().Add(partialAfter); deadline.IsZero() || d.Before(deadline) {
			deadline, idle = d, true
		}
	}
	err := r.f.SetReadDeadline(deadline)
	r.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := r.f.Read(p)
	if n > 0 {
		r.begun = p[n-1] != '\n'
	}
	if idle && errors.Is(err, os.ErrDeadlineExceeded) {
		// A spurious one (the buffer was cut at MaxLineSize, leaving nothing begun) finds
		// nothing to write: harmless.
		r.begun = false
		return n, errPartial
	}
	return n, err
}

// drain sets the deadline after which reads end with os.ErrDeadlineExceeded, at once for a read
// that waits.
func (r *partialReader) drain(deadline time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drainAt = deadline
	r.f.SetReadDeadline(deadline)
}
