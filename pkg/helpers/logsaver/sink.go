package logsaver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// sdID is the structured-data element every syslog message carries: podd's name at the private
// enterprise number that RFC 5612 reserves for documentation and examples (32473).
const sdID = "podd@32473"

// message is one line to ship.
type message struct {
	path string // the file it was read from
	app  string // its syslog APP-NAME
	text []byte // the line, without its newline
	ts   time.Time
	seq  uint64
}

// sink is a collector: encode makes a batch's body once, send delivers it (the same body on
// every retry) and returns nil only when the collector acknowledged all of it.
type sink interface {
	encode(dst []byte, msgs []message) []byte
	send(ctx context.Context, body []byte) error
	String() string
}

// target is a parsed --to.
type target struct {
	scheme string // "syslog+tcp" or "http"
	addr   string // host:port
	url    string // the whole URL, for http
}

// parseTarget checks a --to value.
func parseTarget(s string) (target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("--to: %w", err)
	}
	switch u.Scheme {
	case "syslog+tcp":
		if u.Path != "" || u.RawQuery != "" || u.User != nil {
			return target{}, fmt.Errorf("--to: %q: syslog+tcp takes host:port only", s)
		}
	case "http":
	default:
		return target{}, fmt.Errorf("--to: %q: the scheme must be syslog+tcp:// or http://", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return target{}, fmt.Errorf("--to: %q: needs host:port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return target{}, fmt.Errorf("--to: %q: port %q is not within 1..65535", s, port)
	}
	return target{scheme: u.Scheme, addr: u.Host, url: s}, nil
}

// printable replaces what RFC 5424 does not allow in a header field (PRINTUSASCII, %d33-126)
// and cuts to max; empty becomes the nil value "-".
func printable(s string, max int) string {
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// appendSyslog appends one RFC 5424 message in RFC 6587 octet-counting framing:
// "LEN <PRI>1 TIMESTAMP HOSTNAME APP-NAME - - [podd@32473 seq="N"] MSG", N in 20 digits, zero
// padded, so that comparing them as strings compares the numbers (rsyslog's RainerScript
// compares numbers by the low 32 bits of their difference: wrong for numbers this large).
// hostname and app must already be printable (see printable).
func appendSyslog(dst []byte, pri int, hostname string, m message) []byte {
	var hdr [128]byte
	h := hdr[:0]
	h = append(h, '<')
	h = strconv.AppendInt(h, int64(pri), 10)
	h = append(h, ">1 "...)
	h = m.ts.UTC().AppendFormat(h, "2006-01-02T15:04:05.000000Z07:00")
	n := len(h) + 1 + len(hostname) + 1 + len(m.app) + len(` - - [`+sdID+` seq="`) +
		seqDigits + len(`"] `) + len(m.text)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ' ')
	dst = append(dst, h...)
	dst = append(dst, ' ')
	dst = append(dst, hostname...)
	dst = append(dst, ' ')
	dst = append(dst, m.app...)
	dst = append(dst, ` - - [`+sdID+` seq="`...)
	dst = appendSeq(dst, m.seq)
	dst = append(dst, `"] `...)
	return append(dst, m.text...)
}

// seqDigits: a uint64 has at most 20.
const seqDigits = 20

func appendSeq(dst []byte, seq uint64) []byte {
	var d [seqDigits]byte
	for i := seqDigits - 1; i >= 0; i-- {
		d[i] = byte('0' + seq%10)
		seq /= 10
	}
	return append(dst, d[:]...)
}

// syslogSink ships over TCP to a syslog server (rsyslog's imtcp, syslog-ng's network()).
//
// Plain TCP has no acknowledgement of its own, and a write that returned only means the bytes
// are in this host's send buffer. So every batch goes over its own connection: write it,
// half-close (FIN), and wait for the server's close. A server closes a connection after it
// read up to its end: when our read sees EOF, the server has read every frame of the batch and
// handed it on. Only then is the batch acknowledged. A reset or a deadline instead of EOF is a
// failure: the batch is sent again, whole.
type syslogSink struct {
	addr     string
	hostname string
	pri      int
	timeout  time.Duration
}

func (s *syslogSink) String() string { return "syslog+tcp://" + s.addr }

func (s *syslogSink) encode(dst []byte, msgs []message) []byte {
	for _, m := range msgs {
		dst = appendSyslog(dst, s.pri, s.hostname, m)
	}
	return dst
}

func (s *syslogSink) send(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(body); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := conn.CloseWrite(); err != nil {
		return fmt.Errorf("half-close: %w", err)
	}
	// The server sends nothing; wait for its close.
	if _, err := io.Copy(io.Discard, conn); err != nil {
		return fmt.Errorf("waiting for the server to close (its acknowledgement): %w", err)
	}
	// Both sides are done: close without lingering in TIME_WAIT, one connection per batch.
	conn.SetLinger(0)
	return nil
}

// httpSink POSTs newline-delimited JSON objects; any 2xx acknowledges the whole batch.
type httpSink struct {
	url    string
	client *http.Client
}

func (s *httpSink) String() string { return s.url }

// httpLine is one line of an HTTP batch.
type httpLine struct {
	File string `json:"file"`
	Line string `json:"line"`
	TS   string `json:"ts"`
	Seq  uint64 `json:"seq"`
}

func (s *httpSink) encode(dst []byte, msgs []message) []byte {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	for _, m := range msgs {
		// Encode cannot fail on these types; invalid UTF-8 becomes U+FFFD.
		_ = enc.Encode(httpLine{File: m.path, Line: string(m.text), TS: m.ts.UTC().Format(time.RFC3339Nano), Seq: m.seq})
	}
	return buf.Bytes()
}

func (s *httpSink) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("collector answered " + resp.Status)
	}
	return nil
}
