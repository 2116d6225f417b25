package wire

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// The API's request parsing: every input gets an answer or an invalid-argument error, never a
// panic, and what is accepted reads back the same.

func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	WriteFrame(&b, StreamStdin, []byte("hello"))
	WriteFrame(&b, StreamResize, []byte(`{"width":80,"height":24}`))
	WriteFrame(&b, StreamStdinEOF, nil)
	f.Add(b.Bytes())
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0, 3, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			stream, payload, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(payload) > MaxFramePayload {
				t.Fatalf("a payload of %d bytes", len(payload))
			}
			var again bytes.Buffer
			if err := WriteFrame(&again, stream, payload); err != nil {
				t.Fatal(err)
			}
			s2, p2, err := ReadFrame(&again)
			if err != nil || s2 != stream || !bytes.Equal(p2, payload) {
				t.Fatalf("frame does not read back: %v", err)
			}
		}
	})
}

func FuzzExecRequest(f *testing.F) {
	f.Add([]byte(`{"container":"app","command":["sh","-c","echo hi"],"stdin":true,"tty":true}`))
	f.Add([]byte(`{"command":[]}`))
	f.Add([]byte(`{"command":["a"],"bogus":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeExecRequest(body)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("not an invalid argument: %v", err)
			}
			return
		}
		if len(req.Command) == 0 {
			t.Fatal("accepted without a command")
		}
	})
}

func FuzzMetadataPatch(f *testing.F) {
	f.Add([]byte(`{"labels":{"a":"b","gone":null},"annotations":{"x":"y"},"overwrite":true}`))
	f.Add([]byte(`{"labels":{"a":1}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := DecodePatch(body); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("not an invalid argument: %v", err)
		}
	})
}

func FuzzQuery(f *testing.F) {
	f.Add("container=app&follow=true&tailLines=10&sinceSeconds=5&timestamps=1")
	f.Add("sinceTime=2024-01-02T03:04:05Z&previous=false&cursor=true")
	f.Add("after=bogus&grace=30")
	f.Add("grace=-1&sinceSeconds=9223372036854775807")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		if _, err := LogRequest(q, now); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("LogRequest: not an invalid argument: %v", err)
		}
		g, err := Grace(q)
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("grace: not an invalid argument: %v", err)
		}
		if g != nil && *g < 0 {
			t.Fatalf("grace %v", *g)
		}
	})
}
