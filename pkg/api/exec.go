package api

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/podd-dev/podd/pkg/api/wire"

	"github.com/podd-dev/podd/pkg/supervisor"
)

// podExec checks the request, answers 101 and hijacks the connection, then runs the command with
// its streams carried as frames (frame.go) until it exits.
func (s *server) podExec(w http.ResponseWriter, r *http.Request) error {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", wire.ExecUpgrade) {
		return invalid("exec needs the headers Connection: Upgrade and Upgrade: " + wire.ExecUpgrade)
	}
	body, err := readBody(w, r, maxExecBodyBytes, "exec request")
	if err != nil {
		return err
	}
	req, err := wire.DecodeExecRequest(body)
	if err != nil {
		return err
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	// A missing pod is still a plain 404; what only Exec can tell arrives in an error frame.
	if _, err := s.pods.Get(r.Context(), ns, name); err != nil {
		return err
	}

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("exec: take over the connection: %w", err)
	}
	markHijacked(w, http.StatusSwitchingProtocols)
	defer conn.Close()
	// The server's read and write timeouts are for requests, not for a session that lasts as long
	// as the command.
	_ = conn.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + wire.ExecUpgrade + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		s.log.Debug("exec: write upgrade response", "pod", ns+"/"+name, "error", err)
		return nil
	}
	s.runExec(r.Context(), conn, brw.Reader, ns, name, req)
	return nil
}

func (s *server) runExec(ctx context.Context, conn net.Conn, br *bufio.Reader, ns, name string, req ExecRequest) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wmu sync.Mutex
	opts := supervisor.ExecOptions{
		Cmd:    req.Command,
		Tty:    req.TTY,
		Stdout: wire.NewFrameWriter(&wmu, conn, wire.StreamStdout),
		Stderr: wire.NewFrameWriter(&wmu, conn, wire.StreamStderr),
	}
	var stdinR *io.PipeReader
	var stdinW *io.PipeWriter
	if req.Stdin {
		stdinR, stdinW = io.Pipe()
		opts.Stdin = stdinR
	}
	// Only the latest size matters; the buffer lets the initial size wait for the runtime.
	resize := make(chan supervisor.TermSize, 4)
	if req.TTY {
		opts.Resize = resize
		if req.Size != nil {
			resize <- supervisor.TermSize(*req.Size)
		}
	}

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readExecFrames(ctx, br, stdinW, resize, req.TTY)
		// The client is gone or broke the protocol: nobody is left to read the output.
		cancel()
	}()

	code, err := s.pods.Exec(ctx, ns, name, req.Container, opts)
	if stdinR != nil {
		// Unblocks the reader if it is writing stdin that the command will never read.
		stdinR.Close()
	}
	wmu.Lock()
	if err != nil {
		body, _ := json.Marshal(toError(err))
		err = wire.WriteFrame(conn, wire.StreamError, body)
	} else {
		var buf [4]byte
		binary.BigEndian.PutUint32(buf[:], uint32(int32(code)))
		err = wire.WriteFrame(conn, wire.StreamExit, buf[:])
	}
	wmu.Unlock()
	if err != nil {
		s.log.Debug("exec: write exit status", "pod", ns+"/"+name, "error", err)
	}
	// Half-close and let the client hang up first, so that a close with unread input cannot reset
	// the connection before the client has read the last frame.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		select {
		case <-readerDone:
		case <-time.After(closeWait):
		}
	}
	conn.Close()
	<-readerDone
	// Closed only now that Exec has returned and nobody sends: a runtime that ranges over Resize
	// ends, and none can read a zero size from a closed channel while the command runs.
	close(resize)
}

// closeWait is how long the server waits for the client to hang up after the last frame.
const closeWait = 5 * time.Second

// readExecFrames delivers the client's frames until the connection ends.
func (s *server) readExecFrames(ctx context.Context, br *bufio.Reader, stdin *io.PipeWriter, resize chan supervisor.TermSize, tty bool) {
	defer func() {
		if stdin != nil {
			stdin.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	for {
		stream, payload, err := wire.ReadFrame(br)
		if err != nil {
			return
		}
		switch stream {
		case wire.StreamStdin:
			// An empty write to a pipe would wait for a reader for nothing.
			if stdin != nil && len(payload) > 0 {
				if _, err := stdin.Write(payload); err != nil {
					// The command closed its stdin; drop what else comes.
					stdin = nil
				}
			}
		case wire.StreamStdinEOF:
			if stdin != nil {
				stdin.Close()
				stdin = nil
			}
		case wire.StreamResize:
			var size supervisor.TermSize
			if err := json.Unmarshal(payload, &size); err != nil || !tty {
				continue
			}
			sendLatest(ctx, resize, size)
		default:
			// Skipped, so that a newer client may add streams.
		}
	}
}

// sendLatest queues size, dropping the oldest queued size when the runtime lags behind.
func sendLatest(ctx context.Context, ch chan supervisor.TermSize, size supervisor.TermSize) {
	for {
		select {
		case ch <- size:
			return
		case <-ctx.Done():
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
