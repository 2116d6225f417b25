package wire

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	frames := []struct {
		stream  byte
		payload string
	}{{StreamStdin, "hello"}, {StreamStdinEOF, ""}, {StreamResize, `{"width":80,"height":24}`}}
	for _, f := range frames {
		if err := WriteFrame(&buf, f.stream, []byte(f.payload)); err != nil {
			t.Fatal(err)
		}
	}
	if got := buf.Bytes()[:10]; !bytes.Equal(got, []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}) {
		t.Errorf("wire bytes % x", got)
	}
	for _, f := range frames {
		stream, payload, err := ReadFrame(&buf)
		if err != nil || stream != f.stream || string(payload) != f.payload {
			t.Errorf("ReadFrame = %d %q %v, want %d %q", stream, payload, err, f.stream, f.payload)
		}
	}
	if _, _, err := ReadFrame(&buf); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"short header":  {[]byte{1, 0, 0}, io.ErrUnexpectedEOF},
		"short payload": {[]byte{1, 0, 0, 0, 4, 'a'}, io.ErrUnexpectedEOF},
		"no payload":    {[]byte{1, 0, 0, 0, 4}, io.ErrUnexpectedEOF},
	}
	for name, tt := range tests {
		if _, _, err := ReadFrame(bytes.NewReader(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{1, 0xff, 0, 0, 0})); err == nil {
		t.Error("a frame larger than the limit was accepted")
	}
}

func TestFrameWriterSplits(t *testing.T) {
	var buf bytes.Buffer
	fw := &FrameWriter{mu: &sync.Mutex{}, w: &buf, stream: StreamStdout}
	data := bytes.Repeat([]byte{'x'}, MaxFramePayload+10)
	if n, err := fw.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	var got []int
	for buf.Len() > 0 {
		_, p, err := ReadFrame(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, len(p))
	}
	if len(got) != 2 || got[0] != MaxFramePayload || got[1] != 10 {
		t.Errorf("frame sizes %v", got)
	}
}
