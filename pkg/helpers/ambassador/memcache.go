package ambassador

import (
	"bytes"
)

// The memcache text protocol parsers (https://github.com/memcached/memcached/blob/master/doc/protocol.txt).
// Like the RESP ones they answer how many bytes one complete request or response takes, 0 when
// more bytes are needed, and do not allocate.

// mcKind says how a memcache request is routed and how its response is read.
type mcKind uint8

const (
	mcRetrieval mcKind = iota + 1 // get, gets, gat, gats: keys after the command (and gat's exptime); VALUE blocks then END
	mcStorage                     // set, add, replace, append, prepend, cas: a data block follows the line
	mcKeyed                       // delete, incr, decr, touch: one key, one line back
	mcVersion                     // answered by the ambassador
	mcQuit                        // closes the connection
	mcUnknown                     // answered "ERROR", as memcached does
)

const mcMaxKey = 250 // memcached's KEY_MAX_LENGTH

// mcRequest is one parsed memcache request; its slices point into the client's buffer.
type mcRequest struct {
	kind    mcKind
	cmd     []byte   // the command word
	prefix  []byte   // gat/gats: the exptime before the keys
	keys    [][]byte // one key, or the keys of a retrieval
	noreply bool     // the request expects no response
}

// fields splits a line at spaces into words (appended to dst[:0]).
func fields(dst [][]byte, l []byte) [][]byte {
	dst = dst[:0]
	for len(l) > 0 {
		for len(l) > 0 && l[0] == ' ' {
			l = l[1:]
		}
		j := 0
		for j < len(l) && l[j] != ' ' {
			j++
		}
		if j > 0 {
			dst = append(dst, l[:j])
		}
		l = l[j:]
	}
	return dst
}

func mcIs(word []byte, s string) bool { return string(word) == s }

// parseMCRequest parses one request at the start of b into req (whose keys slice is reused) and
// returns the bytes it takes, 0 when incomplete. words is scratch space. maxBytes bounds a data
// block.
func parseMCRequest(b []byte, req *mcRequest, words [][]byte, maxBytes int) (int, [][]byte, error) {
	n, adv := line(b)
	if adv == 0 {
		if len(b) > 2048 {
			return 0, words, protoErrorf("CLIENT_ERROR line too long")
		}
		return 0, words, nil
	}
	words = fields(words, b[:n])
	req.keys = req.keys[:0]
	req.prefix, req.noreply = nil, false
	if len(words) == 0 {
		req.kind, req.cmd = mcUnknown, nil
		return adv, words, nil
	}
	req.cmd = words[0]
	last := words[len(words)-1]
	switch cmd := words[0]; {
	case mcIs(cmd, "get") || mcIs(cmd, "gets"):
		if len(words) < 2 {
			req.kind = mcUnknown
			return adv, words, nil
		}
		req.kind = mcRetrieval
		req.keys = append(req.keys, words[1:]...)
	case mcIs(cmd, "gat") || mcIs(cmd, "gats"):
		if len(words) < 3 {
			req.kind = mcUnknown
			return adv, words, nil
		}
		req.kind = mcRetrieval
		req.prefix = words[1]
		req.keys = append(req.keys, words[2:]...)
	case mcIs(cmd, "set") || mcIs(cmd, "add") || mcIs(cmd, "replace") || mcIs(cmd, "append") ||
		mcIs(cmd, "prepend") || mcIs(cmd, "cas"):
		want := 5
		if mcIs(cmd, "cas") {
			want = 6
		}
		if len(words) != want && !(len(words) == want+1 && mcIs(last, "noreply")) {
			return 0, words, protoErrorf("CLIENT_ERROR bad command line format")
		}
		size, ok := parseInt(words[4])
		if !ok || size < 0 {
			return 0, words, protoErrorf("CLIENT_ERROR bad command line format")
		}
		if size > maxBytes {
			return 0, words, protoErrorf("SERVER_ERROR object too large for cache")
		}
		if len(b) < adv+size+2 {
			return 0, words, nil
		}
		if b[adv+size] != '\r' || b[adv+size+1] != '\n' {
			return 0, words, protoErrorf("CLIENT_ERROR bad data chunk")
		}
		req.kind = mcStorage
		req.keys = append(req.keys, words[1])
		req.noreply = len(words) == want+1
		adv += size + 2
	case mcIs(cmd, "delete") || mcIs(cmd, "incr") || mcIs(cmd, "decr") || mcIs(cmd, "touch"):
		if len(words) < 2 {
			req.kind = mcUnknown
			return adv, words, nil
		}
		req.kind = mcKeyed
		req.keys = append(req.keys, words[1])
		req.noreply = len(words) > 2 && mcIs(last, "noreply")
	case mcIs(cmd, "version"):
		req.kind = mcVersion
	case mcIs(cmd, "quit"):
		req.kind = mcQuit
	default:
		req.kind = mcUnknown
	}
	for _, k := range req.keys {
		if len(k) > mcMaxKey {
			return 0, words, protoErrorf("CLIENT_ERROR key longer than %d bytes", mcMaxKey)
		}
		// The protocol forbids control characters in keys (a CR inside a line ended by a bare LF
		// would otherwise reach the server as part of a key).
		for _, c := range k {
			if c < 0x20 || c == 0x7f {
				return 0, words, protoErrorf("CLIENT_ERROR key with a control character")
			}
		}
	}
	return adv, words, nil
}

var mcEnd = []byte("END")

// parseMCResponse returns the bytes the response to a request of kind takes at the start of b,
// 0 when incomplete. A retrieval's response is its VALUE blocks and END (or an error line); every
// other response is one line. values, when not nil, receives the extent of the VALUE blocks
// (everything before END) so that a split get can be merged.
func parseMCResponse(b []byte, kind mcKind) (n int, values int, err error) {
	if kind != mcRetrieval {
		_, adv := line(b)
		return adv, 0, nil
	}
	pos := 0
	for {
		l, adv := line(b[pos:])
		if adv == 0 {
			return 0, 0, nil
		}
		ln := b[pos : pos+l]
		if bytes.HasPrefix(ln, []byte("VALUE ")) {
			var w [6][]byte
			ws := fields(w[:0], ln)
			if len(ws) < 4 {
				return 0, 0, errProtocol
			}
			size, ok := parseInt(ws[3])
			if !ok || size < 0 {
				return 0, 0, errProtocol
			}
			if len(b) < pos+adv+size+2 {
				return 0, 0, nil
			}
			pos += adv + size + 2
			continue
		}
		if bytes.Equal(ln, mcEnd) {
			return pos + adv, pos, nil
		}
		// An error line (ERROR, CLIENT_ERROR …, SERVER_ERROR …) ends the response.
		return pos + adv, -1, nil
	}
}
