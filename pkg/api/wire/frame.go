package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// Stream ids of the exec protocol's frames. Each frame is 1 byte of stream id, 4 bytes of payload
// length (big endian) and the payload. 0, 1 and 2 follow the file descriptors they carry.
const (
	StreamStdin    byte = 0 // client → server: bytes for the command's stdin
	StreamStdout   byte = 1 // server → client: bytes the command wrote to stdout (and stderr with a TTY)
	StreamStderr   byte = 2 // server → client: bytes the command wrote to stderr
	StreamExit     byte = 3 // server → client: the exit code, 4 bytes big endian (signed); the last frame
	StreamError    byte = 4 // server → client: {"class","message"} JSON; the last frame
	StreamStdinEOF byte = 5 // client → server: stdin is finished (empty payload)
	StreamResize   byte = 6 // client → server: a TermSize as JSON {"width","height"}
)

// ExecUpgrade is the protocol name of the Upgrade header that starts an exec session.
const ExecUpgrade = "podd-exec"

// MaxFramePayload bounds one frame so that a broken peer cannot make the other allocate without
// limit; writers split larger writes.
const MaxFramePayload = 1 << 20

const frameHeaderLen = 5

// WriteFrame writes one frame in a single Write, so that frames from concurrent writers sharing w
// under a lock never interleave.
func WriteFrame(w io.Writer, stream byte, payload []byte) error {
	buf := make([]byte, frameHeaderLen+len(payload))
	buf[0] = stream
	binary.BigEndian.PutUint32(buf[1:frameHeaderLen], uint32(len(payload)))
	copy(buf[frameHeaderLen:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. It returns io.EOF only when r ends cleanly between frames.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("exec frame of %d bytes on stream %d exceeds %d", n, hdr[0], MaxFramePayload)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// FrameWriter sends whatever is written to it as frames of one stream, holding mu per frame so that
// several streams can share one connection.
type FrameWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

// NewFrameWriter writes to w as frames of stream, holding mu while it writes each one.
func NewFrameWriter(mu *sync.Mutex, w io.Writer, stream byte) *FrameWriter {
	return &FrameWriter{mu: mu, w: w, stream: stream}
}

func (fw *FrameWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxFramePayload)]
		fw.mu.Lock()
		err := WriteFrame(fw.w, fw.stream, chunk)
		fw.mu.Unlock()
		if err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}
