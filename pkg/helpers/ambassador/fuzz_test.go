package ambassador

import (
	"bytes"
	"testing"
)

// The parsers never panic, never claim more bytes than they were given, and a request they
// accept parses the same way when it arrives a byte at a time.

func FuzzRESPRequest(f *testing.F) {
	for _, s := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", "PING\r\n", "*1\r\n$4\r\nPING\r\n", "*-1\r\n",
		"*2\r\n$3\r\nGET\r\n$-1\r\n", "*1\r\n$99999999999\r\n", "  get  k \n", "*0\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, args, err := parseRESPRequest(b, nil, 1<<20)
		if n < 0 || n > len(b) {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		// Every prefix is incomplete (or, for inline requests ended by a bare \n, the same).
		for i := 0; i < n; i++ {
			m, _, err := parseRESPRequest(b[:i], nil, 1<<20)
			if err == nil && m != 0 {
				t.Fatalf("prefix of %d bytes parsed as %d bytes of a %d-byte request", i, m, n)
			}
		}
		again, args2, _ := parseRESPRequest(b[:n], nil, 1<<20)
		if again != n || len(args2) != len(args) {
			t.Fatalf("the request alone parses differently: %d/%d args %d/%d", again, n, len(args2), len(args))
		}
		for i := range args {
			if !bytes.Equal(args[i], args2[i]) {
				t.Fatalf("arg %d differs", i)
			}
		}
	})
}

func FuzzRESPReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "%1\r\n+a\r\n+b\r\n", "*-1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseRESPReply(b)
		if n < 0 || n > len(b) {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		if m, err := parseRESPReply(b[:n]); m != n || err != nil {
			t.Fatalf("the reply alone parses as %d bytes (%v), not %d", m, err, n)
		}
		if n > 1 {
			if m, _ := parseRESPReply(b[:n-1]); m != 0 {
				t.Fatalf("a reply cut short parsed as %d bytes", m)
			}
		}
	})
}

func FuzzMemcacheRequest(f *testing.F) {
	for _, s := range []string{"get a b c\r\n", "set k 0 0 1\r\nv\r\n", "cas k 0 0 1 5 noreply\r\nv\r\n", "gat 10 a b\r\n", "delete k noreply\r\n", "incr k 1\r\n", "bogus\r\n", "set k 0 0 -1\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req mcRequest
		n, _, err := parseMCRequest(b, &req, nil, 1<<20)
		if n < 0 || n > len(b) {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		if req.kind == mcStorage || req.kind == mcKeyed {
			if len(req.keys) != 1 {
				t.Fatalf("%d keys for a single-key command", len(req.keys))
			}
		}
		for _, k := range req.keys {
			if len(k) == 0 || len(k) > mcMaxKey || bytes.ContainsAny(k, " \r\n") {
				t.Fatalf("bad key %q", k)
			}
		}
		var req2 mcRequest
		if m, _, err := parseMCRequest(b[:n], &req2, nil, 1<<20); m != n || err != nil || req2.kind != req.kind {
			t.Fatalf("the request alone parses differently: %d/%d %v", m, n, err)
		}
	})
}

func FuzzMemcacheResponse(f *testing.F) {
	for _, s := range []string{"VALUE k 0 1\r\nv\r\nEND\r\n", "END\r\n", "SERVER_ERROR x\r\n", "VALUE k 0 5 9\r\nhello\r\nVALUE j 1 0\r\n\r\nEND\r\n", "VALUE k 0 -3\r\n"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, retrieval bool) {
		kind := mcKeyed
		if retrieval {
			kind = mcRetrieval
		}
		n, values, err := parseMCResponse(b, kind)
		if n < 0 || n > len(b) || values > n {
			t.Fatalf("took %d of %d bytes, values %d", n, len(b), values)
		}
		if err != nil || n == 0 {
			return
		}
		if m, v, _ := parseMCResponse(b[:n], kind); m != n || v != values {
			t.Fatalf("the response alone parses as %d/%d, not %d/%d", m, v, n, values)
		}
	})
}
