package api

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// The API's request parsing: every input gets an answer or an invalid-argument error, never a
// panic, and what is accepted reads back the same.

func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	writeFrame(&b, StreamStdin, []byte("hello"))
	writeFrame(&b, StreamResize, []byte(`{"width":80,"height":24}`))
	writeFrame(&b, StreamStdinEOF, nil)
	f.Add(b.Bytes())
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0, 3, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			stream, payload, err := readFrame(r)
			if err != nil {
				return
			}
			if len(payload) > maxFramePayload {
				t.Fatalf("a payload of %d bytes", len(payload))
			}
			var again bytes.Buffer
			if err := writeFrame(&again, stream, payload); err != nil {
				t.Fatal(err)
			}
			s2, p2, err := readFrame(&again)
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
		req, err := decodeExecRequest(body)
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
		if _, err := decodePatch(body); err != nil && !errdefs.IsInvalidArgument(err) {
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
		if _, err := logOptions(q, now); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("logOptions: not an invalid argument: %v", err)
		}
		r := &http.Request{URL: &url.URL{RawQuery: rawQuery}}
		g, err := grace(r)
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("grace: not an invalid argument: %v", err)
		}
		if g != nil && *g < 0 {
			t.Fatalf("grace %v", *g)
		}
	})
}
