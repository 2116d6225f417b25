package ambassador

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The RESP (redis serialization protocol) parsers. Both work on a buffer that holds what was read
// so far and answer how many bytes one complete element takes, or 0 when more bytes are needed;
// neither allocates. See https://redis.io/docs/latest/develop/reference/protocol-spec/.

// errIncomplete is never returned to callers: 0 bytes consumed says it.
var (
	errProtocol = errors.New("protocol error")
)

// protoError is a malformed request or reply; its text is sent to the client.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

func protoErrorf(format string, a ...any) error { return &protoError{fmt.Sprintf(format, a...)} }

const (
	maxArgs      = 1 << 20 // arguments of one command (redis-server's own limit is 1024*1024)
	maxReplyNest = 64      // nesting of reply arrays
	maxLineBytes = 64 << 10
)

// parseInt parses a RESP length or integer: an optional '-' and decimal digits.
func parseInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg, b = true, b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// line returns the length of the line at the start of b without its CRLF, and the bytes the line
// takes with it; 0, 0 when b holds no complete line yet.
func line(b []byte) (int, int) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return 0, 0
	}
	if i > 0 && b[i-1] == '\r' {
		return i - 1, i + 1
	}
	return i, i + 1
}

// parseRESPRequest parses one command at the start of b into args (slices of b, appended to
// args[:0]) and returns the bytes it takes, 0 when b holds only part of it. maxBytes bounds a
// bulk argument. Inline commands (a line of words, as telnet and redis-benchmark's PING_INLINE
// send) are accepted too.
func parseRESPRequest(b []byte, args [][]byte, maxBytes int) (int, [][]byte, error) {
	args = args[:0]
	if len(b) == 0 {
		return 0, args, nil
	}
	if b[0] != '*' {
		n, adv := line(b)
		if adv == 0 {
			if len(b) > maxLineBytes {
				return 0, args, protoErrorf("Protocol error: too big inline request")
			}
			return 0, args, nil
		}
		l := b[:n]
		for len(l) > 0 {
			for len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
				l = l[1:]
			}
			j := 0
			for j < len(l) && l[j] != ' ' && l[j] != '\t' {
				j++
			}
			if j > 0 {
				args = append(args, l[:j])
			}
			l = l[j:]
		}
		return adv, args, nil
	}
	n, adv := line(b)
	if adv == 0 {
		if len(b) > 32 {
			return 0, args, protoErrorf("Protocol error: invalid multibulk length")
		}
		return 0, args, nil
	}
	count, ok := parseInt(b[1:n])
	if !ok || count > maxArgs {
		return 0, args, protoErrorf("Protocol error: invalid multibulk length")
	}
	pos := adv
	for i := 0; i < count; i++ {
		rest := b[pos:]
		if len(rest) == 0 {
			return 0, args, nil
		}
		if rest[0] != '$' {
			return 0, args, protoErrorf("Protocol error: expected '$', got '%c'", rest[0])
		}
		n, adv := line(rest)
		if adv == 0 {
			if len(rest) > 32 {
				return 0, args, protoErrorf("Protocol error: invalid bulk length")
			}
			return 0, args, nil
		}
		size, ok := parseInt(rest[1:n])
		if !ok || size < 0 || size > maxBytes {
			return 0, args, protoErrorf("Protocol error: invalid bulk length")
		}
		if len(rest) < adv+size+2 {
			return 0, args, nil
		}
		if rest[adv+size] != '\r' || rest[adv+size+1] != '\n' {
			return 0, args, protoErrorf("Protocol error: bulk argument not followed by CRLF")
		}
		args = append(args, rest[adv:adv+size])
		pos += adv + size + 2
	}
	if count <= 0 {
		// "*0\r\n" or "*-1\r\n": redis-server ignores it; so does the caller (no args).
		return pos, args, nil
	}
	return pos, args, nil
}

// parseRESPReply returns the bytes the reply at the start of b takes, 0 when incomplete.
func parseRESPReply(b []byte) (int, error) {
	return replyLen(b, 0)
}

func replyLen(b []byte, depth int) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if depth > maxReplyNest {
		return 0, errProtocol
	}
	n, adv := line(b)
	if adv == 0 {
		return 0, nil
	}
	switch b[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return adv, nil
	case '$', '!', '=':
		size, ok := parseInt(b[1:n])
		if !ok {
			return 0, errProtocol
		}
		if size < 0 {
			return adv, nil
		}
		if len(b) < adv+size+2 {
			return 0, nil
		}
		return adv + size + 2, nil
	case '*', '~', '>', '%', '|':
		count, ok := parseInt(b[1:n])
		if !ok {
			return 0, errProtocol
		}
		if b[0] == '%' || b[0] == '|' {
			count *= 2
		}
		pos := adv
		for i := 0; i < count; i++ {
			m, err := replyLen(b[pos:], depth+1)
			if m == 0 || err != nil {
				return 0, err
			}
			pos += m
		}
		return pos, nil
	}
	return 0, errProtocol
}

// appendBulk appends arg as a RESP bulk string.
func appendBulk(dst, arg []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(arg)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, arg...)
	return append(dst, '\r', '\n')
}

// appendArrayHeader appends "*n\r\n".
func appendArrayHeader(dst []byte, n int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// appendRESPError appends a "-ERR msg" reply; CR and LF in msg become spaces.
func appendRESPError(dst []byte, msg string) []byte {
	dst = append(dst, "-ERR "...)
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\r', '\n')
}
