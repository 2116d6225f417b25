package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
)

// Pauses between attempts to reconnect a log follower.
const (
	resumeFirstPause = 100 * time.Millisecond
	resumeMaxPause   = time.Second
)

// LogsOptions are a logs request's (the query parameters of specs/api.md), and how a follower
// survives a restart of podd.
type LogsOptions struct {
	// Container is the container; "" is the pod's first.
	Container  string
	Follow     bool
	Previous   bool
	Timestamps bool
	// TailLines, if set, starts with the last lines.
	TailLines *int64
	// SinceSeconds or SinceTime, if set, skip older lines.
	SinceSeconds *int64
	SinceTime    *time.Time
	// Resume: with Follow, how long Logs keeps trying to reconnect after the connection to podd
	// broke (podd restarting, say). It resumes right after the last line it wrote, so that no
	// line is lost or written twice. 0: it does not reconnect.
	Resume time.Duration
	// Notify, if set, is told when the connection broke and when the log resumed: messages for
	// people.
	Notify func(msg string)
}

func (o *LogsOptions) query() url.Values {
	q := url.Values{}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	for _, b := range []struct {
		name string
		set  bool
	}{{"follow", o.Follow}, {"previous", o.Previous}, {"timestamps", o.Timestamps}} {
		if b.set {
			q.Set(b.name, "true")
		}
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != nil {
		q.Set("sinceTime", o.SinceTime.UTC().Format(time.RFC3339Nano))
	}
	return q
}

func (o *LogsOptions) notify(format string, args ...any) {
	if o.Notify != nil {
		o.Notify(fmt.Sprintf(format, args...))
	}
}

// Logs copies a container's log to w as it arrives. With Follow and Resume, it asks for the framed
// stream (every line with its cursor) and, when the connection breaks, reconnects and asks for
// what comes after the last line it wrote.
func (c *Client) Logs(ctx context.Context, namespace, name string, opts LogsOptions, w io.Writer) error {
	q := opts.query()
	if !opts.Follow || opts.Resume <= 0 {
		resp, err := c.send(ctx, request{method: http.MethodGet, path: podPath(namespace, name, "logs"), query: q})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := copyLog(ctx, resp.Body, w); err != nil {
			return err
		}
		return logTrailerError(resp)
	}
	q.Set("cursor", "true")
	cursor := ""
	var lostAt time.Time // when the connection broke; zero while it holds
	var lost error
	pause := resumeFirstPause
	for {
		if cursor != "" {
			q.Set("after", cursor)
		}
		resp, err := c.send(ctx, request{method: http.MethodGet, path: podPath(namespace, name, "logs"), query: q})
		if err == nil {
			if !lostAt.IsZero() {
				opts.notify("reconnected to podd; the log resumes after the last line")
				lostAt, pause = time.Time{}, resumeFirstPause
			}
			err = copyFramed(ctx, resp.Body, w, &cursor)
			if err == nil {
				err = logTrailerError(resp)
			}
			resp.Body.Close()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errdefs.IsUnavailable(err) {
			return err
		}
		if lostAt.IsZero() {
			lostAt, lost = time.Now(), err
			opts.notify("lost the connection to podd (%v); reconnecting for up to %v", err, opts.Resume)
		}
		if time.Since(lostAt) >= opts.Resume {
			return &Error{Class: ClassUnavailable, Message: fmt.Sprintf("lost the connection to podd (%v) and could not resume the log within %v: %v", lost, opts.Resume, err)}
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return ctx.Err()
		}
		pause = min(2*pause, resumeMaxPause)
	}
}

// readError classifies an error reading a log response: the connection broke.
func readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &Error{Class: ClassUnavailable, Message: fmt.Sprintf("read the log: %v", err)}
}

// copyLog copies a plain log response.
func copyLog(ctx context.Context, body io.Reader, w io.Writer) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("write the log: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readError(ctx, err)
		}
	}
}

// copyFramed copies a framed log response (specs/api.md): it writes each line's text to w and
// keeps the cursor of the last line written. A line cut short by a broken connection is not
// written: it comes again after the cursor.
func copyFramed(ctx context.Context, body io.Reader, w io.Writer, cursor *string) error {
	br := bufio.NewReaderSize(body, 64<<10)
	bw := bufio.NewWriterSize(w, 32<<10)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		if err != nil {
			if ferr := bw.Flush(); ferr != nil {
				return fmt.Errorf("write the log: %w", ferr)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return readError(ctx, err)
		}
		rec := chunk
		if len(long) > 0 {
			rec = append(long, chunk...)
			long = long[:0]
		}
		rec = rec[:len(rec)-1]
		cur, rest, framed := bytes.Cut(rec, []byte(" "))
		if !framed {
			*cursor = string(cur) // a position without a line
			continue
		}
		if len(rest) < 2 || rest[1] != ' ' || rest[0] != 'F' && rest[0] != 'P' {
			return &Error{Class: ClassInternal, Message: fmt.Sprintf("podd sent a log line that is not framed: %.80q", rec)}
		}
		bw.Write(rest[2:])
		if rest[0] == 'F' {
			bw.WriteByte('\n')
		}
		// Write what is here before waiting for more: a follower sees lines as they come.
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write the log: %w", err)
			}
		}
		*cursor = string(cur)
	}
}

// logTrailerError returns the error that a log response ended with, after its body was read.
func logTrailerError(resp *http.Response) error {
	t := resp.Trailer.Get(logTrailer)
	if t == "" {
		return nil
	}
	var e Error
	if json.Unmarshal([]byte(t), &e) == nil && e.Class != "" {
		return &e
	}
	return &Error{Class: ClassInternal, Message: t}
}
