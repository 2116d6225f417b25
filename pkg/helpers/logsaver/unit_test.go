package logsaver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCutLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		eof  bool
		want []string
		used int
	}{
		{"whole lines", "a\nbb\n", 10, false, []string{"a", "bb"}, 5},
		{"unfinished last line waits", "a\nbb", 10, false, []string{"a"}, 2},
		{"unfinished last line at eof", "a\nbb", 10, true, []string{"a", "bb"}, 4},
		{"crlf", "a\r\nb\n", 10, false, []string{"a", "b"}, 5},
		{"empty lines", "\n\n", 10, false, []string{"", ""}, 2},
		{"long line cut", "abcdefg\n", 3, false, []string{"abc", "def", "g"}, 8},
		{"line of exactly max", "abc\n", 3, false, []string{"abc"}, 4},
		{"unfinished line of exactly max waits", "abc", 3, false, nil, 0},
		{"unfinished line longer than max", "abcd", 3, false, []string{"abc"}, 3},
		{"nothing", "", 3, false, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			used := cutLines([]byte(tc.in), tc.max, tc.eof, func(l []byte, _ int) bool {
				got = append(got, string(l))
				return true
			})
			if !reflect.DeepEqual(got, tc.want) || used != tc.used {
				t.Fatalf("cutLines(%q, %d, %v) = %q used %d, want %q used %d", tc.in, tc.max, tc.eof, got, used, tc.want, tc.used)
			}
		})
	}
}

// A cut stopped by emit reports the bytes up to that message, and the per-message byte counts
// add up: the replay after a crash cuts a segment's bytes into the same messages.
func TestCutLinesStopAndReplay(t *testing.T) {
	in := []byte("one\ntwo\r\nthree-long-line\nfour\n")
	var ns []int
	used := cutLines(in, 5, false, func(_ []byte, n int) bool {
		ns = append(ns, n)
		return len(ns) < 3
	})
	if want := []int{4, 5, 5}; !reflect.DeepEqual(ns, want) || used != 14 {
		t.Fatalf("stopped after 3: sizes %v used %d, want %v used 14", ns, used, want)
	}
	var first, again []string
	cutLines(in, 5, false, func(l []byte, _ int) bool { first = append(first, string(l)); return true })
	// The replay reads exactly the bytes the first cut used, with eof set.
	cutLines(in, 5, true, func(l []byte, _ int) bool { again = append(again, string(l)); return true })
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("replay cut %q, first cut %q", again, first)
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		size, readOff, acked int64
		fpSame               bool
		want                 action
	}{
		{"grown", 100, 50, 50, true, readOn},
		{"unchanged", 50, 50, 50, true, readOn},
		{"lines in flight, grown", 100, 80, 50, true, readOn},
		{"copytruncate", 10, 50, 50, true, restart},
		{"truncated to 0", 0, 50, 50, true, restart},
		{"truncated and rewritten past the offset", 100, 50, 50, false, restart},
		{"truncated with lines not acknowledged", 10, 80, 50, true, waitAcked},
		{"rewritten with lines not acknowledged", 100, 80, 50, false, waitAcked},
	} {
		if got := decide(tc.size, tc.readOff, tc.acked, tc.fpSame); got != tc.want {
			t.Errorf("%s: decide(%d, %d, %d, %v) = %s, want %s", tc.name, tc.size, tc.readOff, tc.acked, tc.fpSame, got, tc.want)
		}
	}
}

func TestAppendSyslog(t *testing.T) {
	ts := time.Date(2026, 12, 5, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		m    message
		pri  int
		want string
	}{
		{"plain", message{app: "access.log", text: []byte("GET / 200"), ts: ts, seq: 7}, 14,
			`<14>1 2026-12-05T11:00:00.123456Z web access.log - - [podd@32473 seq="00000000000000000007"] GET / 200`},
		{"empty line", message{app: "a", text: nil, ts: ts, seq: 1}, 134,
			`<134>1 2026-12-05T11:00:00.123456Z web a - - [podd@32473 seq="00000000000000000001"] `},
		{"utf-8", message{app: "a", text: []byte("héllo"), ts: ts, seq: 18446744073709551615}, 14,
			`<14>1 2026-12-05T11:00:00.123456Z web a - - [podd@32473 seq="18446744073709551615"] héllo`},
	} {
		got := string(appendSyslog(nil, tc.pri, "web", tc.m))
		sp := strings.IndexByte(got, ' ')
		if got[sp+1:] != tc.want {
			t.Errorf("%s: message %q, want %q", tc.name, got[sp+1:], tc.want)
		}
		// RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG, the length in octets.
		if got[:sp] != strconv.Itoa(len(tc.want)) {
			t.Errorf("%s: length %s, want %d", tc.name, got[:sp], len(tc.want))
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "-",
		"access.log":            "access.log",
		"a b\tc":                "a_b_c",
		"héllo":                 "h__llo",
		strings.Repeat("x", 60): strings.Repeat("x", 48),
	} {
		if got := printable(in, 48); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTTPEncode(t *testing.T) {
	s := &httpSink{}
	ts := time.Date(2026, 12, 5, 12, 0, 0, 5, time.UTC)
	got := string(s.encode(nil, []message{
		{path: "/var/log/app/a.log", text: []byte(`say "<hi>"`), ts: ts, seq: 3},
		{path: "/var/log/app/b.log", text: []byte{0xff}, ts: ts, seq: 4},
	}))
	want := `{"file":"/var/log/app/a.log","line":"say \"<hi>\"","ts":"2026-12-05T12:00:00.000000005Z","seq":3}` + "\n" +
		`{"file":"/var/log/app/b.log","line":"\ufffd","ts":"2026-12-05T12:00:00.000000005Z","seq":4}` + "\n"
	if got != want {
		t.Fatalf("encode:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, scheme, addr, err string
	}{
		{"syslog+tcp://127.0.0.1:514", "syslog+tcp", "127.0.0.1:514", ""},
		{"syslog+tcp://[::1]:514", "syslog+tcp", "[::1]:514", ""},
		{"http://10.0.0.1:8080/logs", "http", "10.0.0.1:8080", ""},
		{"syslog+udp://h:514", "", "", "scheme must be"},
		{"https://h:443/x", "", "", "scheme must be"},
		{"syslog+tcp://h", "", "", "needs host:port"},
		{"syslog+tcp://h:0", "", "", "not within 1..65535"},
		{"syslog+tcp://h:514/x", "", "", "host:port only"},
		{"http://:80/x", "", "", "needs host:port"},
	} {
		got, err := parseTarget(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "--to: ") {
				t.Errorf("parseTarget(%q) = %v, want an error about %q naming --to", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.scheme != tc.scheme || got.addr != tc.addr {
			t.Errorf("parseTarget(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestParseGlobsAndStateDir(t *testing.T) {
	for _, tc := range []struct {
		in    string
		globs []string
		state string
		err   string
	}{
		{"/var/log/app/*.log, /var/log/app/err-*.log", []string{"/var/log/app/*.log", "/var/log/app/err-*.log"}, "/var/log/app/.podd-log-saver", ""},
		{"/logs/x.log", []string{"/logs/x.log"}, "/logs/.podd-log-saver", ""},
		{"/var/*/a.log", []string{"/var/*/a.log"}, "", "--state-dir: required"},
		{"logs/*.log", nil, "", "not an absolute path"},
		{"/logs/[.log", nil, "", "syntax error"},
		{" , ", nil, "", "--paths: required"},
	} {
		globs, err := parseGlobs(tc.in)
		if err == nil {
			var dir string
			dir, err = defaultStateDir(globs)
			if err == nil && (!reflect.DeepEqual(globs, tc.globs) || dir != tc.state) {
				t.Errorf("%q: globs %q state %q, want %q %q", tc.in, globs, dir, tc.globs, tc.state)
			}
		}
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		fac, sev string
		want     int
		err      string
	}{
		{"user", "info", 14, ""},
		{"kern", "emerg", 0, ""},
		{"local0", "info", 134, ""},
		{"local7", "debug", 191, ""},
		{"local8", "info", 0, "--facility"},
		{"user", "loud", 0, "--severity"},
	} {
		got, err := priority(tc.fac, tc.sev)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || got != tc.want {
			t.Errorf("priority(%s, %s) = %d, %v; want %d, %q", tc.fac, tc.sev, got, err, tc.want, tc.err)
		}
	}
}

func TestStateRoundTripAndValidate(t *testing.T) {
	st := &State{NextSeq: 110, Files: []FileState{
		{Path: "/l/a.log", Dev: 1, Ino: 2, FPLen: 128, FP: "00aa", Offset: 4096},
		{Path: "/l/b.log", Dev: 1, Ino: 3, FPLen: 5, FP: "bb", Offset: 5},
	}, Pending: &Pending{FirstSeq: 100, MaxLineBytes: 65536, Segments: []Segment{
		{File: 0, From: 4096, To: 5000, Lines: 6}, {File: 1, From: 5, To: 50, Lines: 4},
	}}}
	b, err := EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeState(b)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		edit func(*State)
		err  string
	}{
		{"version", func(s *State) { s.Version = 2 }, "version 2"},
		{"negative offset", func(s *State) { s.Files[1].Offset = -1 }, "files[1].offset"},
		{"fingerprint too long", func(s *State) { s.Files[0].FPLen = 129 }, "files[0].fpLen"},
		{"segment names no file", func(s *State) { s.Pending.Segments[1].File = 2 }, "segments[1].file"},
		{"segment backwards", func(s *State) { s.Pending.Segments[0].To = 1 }, "segments[0]"},
		{"sequence beyond next", func(s *State) { s.NextSeq = 105 }, "beyond nextSeq"},
		{"no max line", func(s *State) { s.Pending.MaxLineBytes = 0 }, "maxLineBytes"},
	} {
		var s State
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		tc.edit(&s)
		b2, _ := json.Marshal(&s)
		if _, err := DecodeState(b2); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.err)
		}
	}
}

func TestSaveStateAtomic(t *testing.T) {
	dir := t.TempDir()
	if s, err := LoadState(dir); s != nil || err != nil {
		t.Fatalf("no file: %v %v", s, err)
	}
	for i := uint64(1); i <= 3; i++ {
		if err := SaveState(dir, &State{NextSeq: i}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := LoadState(dir)
	if err != nil || s.NextSeq != 3 {
		t.Fatalf("load: %+v %v", s, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != stateFile {
		t.Fatalf("left in the folder: %v", entries)
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version":1,"nextSeq":1,"files":[{"offset":-5}]}`), 0o644)
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Fatalf("a bad state file: %v, want an error naming it", err)
	}
}

func TestBatchSegments(t *testing.T) {
	a, b := &tracked{path: "a"}, &tracked{path: "b"}
	var bt batch
	now := time.Now()
	bt.add(a, 0, 4, []byte("one"), now)
	bt.add(a, 4, 8, []byte("two"), now)
	bt.add(b, 0, 2, []byte("x"), now)
	bt.add(a, 8, 12, []byte("thr"), now)
	var got []string
	for _, s := range bt.segs {
		got = append(got, s.t.path+":"+itoa(int(s.from))+"-"+itoa(int(s.to))+"/"+itoa(s.lines))
	}
	if want := []string{"a:0-8/2", "b:0-2/1", "a:8-12/1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	if !bytes.Equal(bt.arena[bt.texts[3].from:bt.texts[3].to], []byte("thr")) {
		t.Fatalf("arena %q", bt.arena)
	}
}

// TestHTTPRetriesThenShips: an HTTP collector (a real server on loopback) that answers 503
// twice: the batch is sent again, whole, until a 2xx, and every line arrives once; the state
// file then holds the acknowledged offset.
func TestHTTPRetriesThenShips(t *testing.T) {
	dir := t.TempDir()
	var lines []httpLine
	var mu sync.Mutex
	posts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		posts++
		if posts <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		dec := json.NewDecoder(r.Body)
		for {
			var l httpLine
			if err := dec.Decode(&l); err != nil {
				break
			}
			lines = append(lines, l)
		}
	}))
	defer srv.Close()
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Globs: []string{filepath.Join(dir, "*.log")}, StateDir: filepath.Join(dir, ".state"),
		BatchLines: 100, BatchBytes: 1 << 20, BatchWait: 0, FlushTimeout: time.Second, MaxLineBytes: 1024,
		RotateWait: time.Second, PollInterval: 50 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		&httpSink{url: srv.URL + "/logs", client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(lines)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines arrived", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 3 || lines[0].Line != "one" || lines[2].Line != "three" || lines[0].File != path ||
		lines[1].Seq != lines[0].Seq+1 || posts != 3 {
		t.Fatalf("posts %d, lines %+v", posts, lines)
	}
	st, err := LoadState(filepath.Join(dir, ".state"))
	if err != nil || st == nil || len(st.Files) != 1 || st.Files[0].Offset != 14 || st.Pending != nil {
		t.Fatalf("state %+v %v", st, err)
	}
}
