package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/podd-dev/podd/pkg/api/wire"
)

// Exec runs a command in a container of a running pod and returns its exit code. With req.Stdin it
// sends what it reads from stdin (EOF closes the command's stdin); with req.TTY it forwards the
// sizes that arrive on resize (may be nil). stdout and stderr may be nil to discard.
//
// Exec returns when the command has exited and all its output is written, or when ctx ends (the
// server then cancels the command). A reader of stdin that blocks is left to the caller: Exec does
// not wait for it.
func (c *Client) Exec(ctx context.Context, namespace, name string, req ExecRequest, stdin io.Reader, stdout, stderr io.Writer, resize <-chan TermSize) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return -1, &Error{Class: ClassInvalid, Message: "encode exec request: " + err.Error()}
	}
	hreq, err := c.newRequest(ctx, request{
		method: http.MethodPost, path: podPath(namespace, name, "exec"),
		body: bytes.NewReader(body), contentType: "application/json",
		header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {wire.ExecUpgrade}},
	})
	if err != nil {
		return -1, err
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return -1, c.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return -1, &Error{Class: ClassInternal, Message: "podd answered exec with " + resp.Status + " instead of switching protocols"}
		}
		return -1, responseError(resp)
	}
	// net/http hands over the connection of a 101 response as a writable body.
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return -1, &Error{Class: ClassInternal, Message: "exec: the upgraded connection is not writable"}
	}
	defer conn.Close()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			conn.Close() // unblocks the read below
		case <-done:
		}
	}()

	var wmu sync.Mutex
	send := func(stream byte, payload []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return wire.WriteFrame(conn, stream, payload)
	}
	if req.Stdin {
		if stdin == nil {
			// Nothing will come: say so, or a command that reads stdin waits for ever.
			if err := send(wire.StreamStdinEOF, nil); err != nil {
				return -1, &Error{Class: ClassUnavailable, Message: fmt.Sprintf("exec in %s/%s: %v", namespace, name, err)}
			}
		} else {
			go copyStdin(stdin, wire.NewFrameWriter(&wmu, conn, wire.StreamStdin), send)
		}
	}
	if resize != nil && req.TTY {
		go func() {
			for {
				select {
				case size, ok := <-resize:
					if !ok {
						return
					}
					b, _ := json.Marshal(size)
					if send(wire.StreamResize, b) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}

	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	br := bufio.NewReader(conn)
	for {
		stream, payload, err := wire.ReadFrame(br)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return -1, &Error{Class: ClassUnavailable, Message: fmt.Sprintf("exec in %s/%s: podd closed the connection before the command's exit status", namespace, name)}
			}
			return -1, &Error{Class: ClassUnavailable, Message: fmt.Sprintf("exec in %s/%s: %v", namespace, name, err)}
		}
		switch stream {
		case wire.StreamStdout, wire.StreamStderr:
			w := stdout
			if stream == wire.StreamStderr {
				w = stderr
			}
			if _, err := w.Write(payload); err != nil {
				return -1, fmt.Errorf("exec in %s/%s: write output: %w", namespace, name, err)
			}
		case wire.StreamExit:
			if len(payload) != 4 {
				return -1, &Error{Class: ClassInternal, Message: fmt.Sprintf("exec: exit frame of %d bytes", len(payload))}
			}
			return int(int32(binary.BigEndian.Uint32(payload))), nil
		case wire.StreamError:
			var e Error
			if json.Unmarshal(payload, &e) != nil || e.Class == "" {
				return -1, &Error{Class: ClassInternal, Message: string(payload)}
			}
			return -1, &e
		default:
			// Unknown streams are skipped, so that a newer server may add some.
		}
	}
}

func copyStdin(stdin io.Reader, w io.Writer, send func(byte, []byte) error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// A failing stdin ends the command's input as EOF would.
			send(wire.StreamStdinEOF, nil)
			return
		}
	}
}
