package contentsync

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// entry is one tar entry of a test archive.
type entry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) entry          { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry  { return entry{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }

func mkTar(t testing.TB, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// tree lists what a published folder holds: path → "f:content", "d", "l:target".
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got[rel] = "l:" + l
		case d.IsDir():
			got[rel] = "d"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = "f:" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// server serves one body at a time, with an optional ETag and Last-Modified, answering
// conditional requests as a web server does; it records the requests' validators.
type server struct {
	mu       sync.Mutex
	body     []byte
	etag     string
	modTime  time.Time
	status   int
	cut      bool // send half the body, then close the connection
	requests []http.Header
}

func (s *server) set(body []byte, etag string, mod time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.modTime, s.status, s.cut = body, etag, mod, 0, false
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Header.Clone())
	body, etag, mod, status, cut := s.body, s.etag, s.modTime, s.status, s.cut
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, "down", status)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if etag != "" && r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if !mod.IsZero() {
		w.Header().Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
		if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !mod.Truncate(time.Second).After(ims) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if cut {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		return // the server closes the connection: the client reads an unexpected EOF
	}
	w.Write(body)
}

func (s *server) last() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHTTPSyncer is a Syncer of an httptest server's content into a fresh root.
func newHTTPSyncer(t testing.TB, url, kind string, limits Limits) (*Syncer, string) {
	t.Helper()
	root := t.TempDir()
	src, err := ParseSource(url, kind, "", limits, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Publisher: &Publisher{Root: root, Link: "current"}, Source: src, Limits: limits,
		Period: time.Second, HealthPeriods: 3, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

var defaultLimits = Limits{MaxBytes: 1 << 20, MaxEntries: 100}

// TestTarSafety: each archive is published as it is, or refused with a reason that names what is
// wrong; a refused archive changes nothing: the link still shows the version before, whose files
// are as they were, and no folder of the refused one is left under .versions.
func TestTarSafety(t *testing.T) {
	good := []entry{file("index.html", "v1"), dir("sub/"), file("sub/a", "a")}
	cases := []struct {
		name    string
		entries []entry
		limits  Limits
		raw     []byte // the body instead of entries
		kind    string
		refuse  string // "" → published
		want    map[string]string
	}{
		{name: "files, folders, links inside", entries: []entry{
			dir("./"), file("./index.html", "v2"), dir("sub"), file("sub/a", "A"), symlink("sub/up", "../index.html"),
			symlink("top", "sub"), hardlink("sub/hard", "index.html"), file("implicit/deep/f", "x"),
		}, want: map[string]string{
			"index.html": "f:v2", "sub": "d", "sub/a": "f:A", "sub/up": "l:../index.html", "top": "l:sub",
			"sub/hard": "f:v2", "implicit": "d", "implicit/deep": "d", "implicit/deep/f": "f:x",
		}},
		{name: "absolute path", entries: []entry{file("/etc/passwd", "x")}, refuse: `entry "/etc/passwd": an absolute path`},
		{name: "dot-dot", entries: []entry{file("../escape", "x")}, refuse: `entry "../escape": '..' in the path`},
		{name: "dot-dot inside", entries: []entry{file("a/../../escape", "x")}, refuse: `'..' in the path`},
		{name: "absolute symlink", entries: []entry{symlink("etc", "/etc")}, refuse: `symlink "etc" -> "/etc": the target must be a relative path`},
		{name: "symlink out", entries: []entry{symlink("sub/out", "../../x")}, refuse: `symlink "sub/out" -> "../../x": points outside`},
		{name: "symlink chain out", entries: []entry{symlink("here", "."), symlink("out", "here/..")}, refuse: `symlink "out" -> "here/..": resolves outside the content`},
		{name: "write through a symlink", entries: []entry{dir("sub"), symlink("l", "sub"), file("l/f", "x")}, refuse: `entry "l/f": its parent "l" is a symlink`},
		{name: "char device", entries: []entry{{name: "null", typ: tar.TypeChar}}, refuse: `entry "null": a device file`},
		{name: "block device", entries: []entry{{name: "sda", typ: tar.TypeBlock}}, refuse: `entry "sda": a device file`},
		{name: "fifo", entries: []entry{{name: "pipe", typ: tar.TypeFifo}}, refuse: `entry "pipe": a FIFO`},
		{name: "duplicate file", entries: []entry{file("a", "1"), file("a", "2")}, refuse: `entry "a": a duplicate`},
		{name: "file over a symlink", entries: []entry{symlink("a", "b"), file("a", "2")}, refuse: `entry "a": a duplicate`},
		{name: "hard link to nothing", entries: []entry{hardlink("h", "missing")}, refuse: `hard link "h" -> "missing": the target is not a regular file`},
		{name: "hard link out", entries: []entry{hardlink("h", "../../etc/passwd")}, refuse: `hard link "h" -> "../../etc/passwd": entry "../../etc/passwd": '..' in the path`},
		{name: "too many bytes", entries: []entry{file("a", strings.Repeat("x", 600)), file("b", strings.Repeat("x", 600))},
			limits: Limits{MaxBytes: 1000, MaxEntries: 100}, refuse: `entry "b": 600 bytes: more than 1000 bytes of files (--max-bytes)`},
		{name: "too many entries", entries: []entry{file("a", ""), file("b", ""), file("c", ""), file("d", "")},
			limits: Limits{MaxBytes: 1000, MaxEntries: 3}, refuse: `more than 3 entries (--max-entries)`},
		{name: "truncated archive", raw: mkTar(t, false, file("a", strings.Repeat("x", 2000)))[:1500], kind: KindTar, refuse: `broken archive`},
		{name: "not a tar", raw: []byte("hello"), kind: KindTar, refuse: `--source-kind tar: the content is not a tar archive`},
		{name: "gzip of a broken tar", raw: gzipOf(t, mkTar(t, false, file("a", strings.Repeat("x", 2000)))[:1500]), kind: KindTar, refuse: `broken archive`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				srv := &server{}
				ts := httptest.NewServer(srv)
				defer ts.Close()
				limits := tc.limits
				if limits == (Limits{}) {
					limits = defaultLimits
				}
				kind := tc.kind
				if kind == "" {
					kind = KindAuto
				}
				s, root := newHTTPSyncer(t, ts.URL+"/site.tar", kind, limits)
				srv.set(mkTar(t, gz, good...), "", time.Time{})
				if out, err := s.SyncOnce(context.Background()); out != Published {
					t.Fatalf("the good archive: %s, %v", out, err)
				}
				before, v1 := tree(t, filepath.Join(root, "current")), s.Current()

				body := tc.raw
				if body == nil {
					body = mkTar(t, gz, tc.entries...)
				}
				srv.set(body, "", time.Time{})
				out, err := s.SyncOnce(context.Background())
				if tc.refuse == "" {
					if out != Published || err != nil {
						t.Fatalf("gzip %v: %s, %v; want published", gz, out, err)
					}
					if got := tree(t, filepath.Join(root, "current")); !equalMaps(got, tc.want) {
						t.Errorf("gzip %v: published %v, want %v", gz, got, tc.want)
					}
					if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 || got[0] != s.Current() {
						t.Errorf("gzip %v: .versions holds %v, want only %s (the previous version removed)", gz, got, s.Current())
					}
					continue
				}
				if out != Refused || err == nil || !strings.Contains(err.Error(), tc.refuse) {
					t.Errorf("gzip %v: %s, %v; want refused with %q", gz, out, err, tc.refuse)
				}
				if got := tree(t, filepath.Join(root, "current")); !equalMaps(got, before) || s.Current() != v1 {
					t.Errorf("gzip %v: a refused archive changed the published tree: %v (version %s), want %v (version %s)", gz, got, s.Current(), before, v1)
				}
				if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 || got[0] != v1 {
					t.Errorf("gzip %v: .versions holds %v after a refusal, want only %s", gz, got, v1)
				}
				if tc.raw != nil {
					break // the raw body is what it is
				}
			}
		})
	}
}

func gzipOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestDetect: --source-kind auto tells a tar (plain or gzip) from a file by the content, not by
// a name; a gzipped file that is not a tar is published as it came; --source-kind file never
// unpacks.
func TestDetect(t *testing.T) {
	tarBody := mkTar(t, false, file("a", "1"))
	cases := []struct {
		name string
		body []byte
		kind string
		want map[string]string
	}{
		{"tar", tarBody, KindAuto, map[string]string{"a": "f:1"}},
		{"gzip tar", gzipOf(t, tarBody), KindAuto, map[string]string{"a": "f:1"}},
		{"text", []byte("hello"), KindAuto, map[string]string{"site.tar": "f:hello"}},
		{"empty", []byte{}, KindAuto, map[string]string{"site.tar": "f:"}},
		{"gzip text", gzipOf(t, []byte("hello")), KindAuto, map[string]string{"site.tar": "f:" + string(gzipOf(t, []byte("hello")))}},
		{"tar as a file", tarBody, KindFile, map[string]string{"site.tar": "f:" + string(tarBody)}},
		{"tar forced", gzipOf(t, tarBody), KindTar, map[string]string{"a": "f:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := &server{}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			s, root := newHTTPSyncer(t, ts.URL+"/site.tar", tc.kind, defaultLimits)
			srv.set(tc.body, "", time.Time{})
			if out, err := s.SyncOnce(context.Background()); out != Published {
				t.Fatalf("%s, %v", out, err)
			}
			if got := tree(t, filepath.Join(root, "current")); !equalMaps(got, tc.want) {
				t.Errorf("published %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPublisher: the swap's cases, from the folder's state before to after.
func TestPublisher(t *testing.T) {
	stage := func(t *testing.T, p *Publisher, files ...string) *Builder {
		t.Helper()
		b, err := p.Stage(defaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := b.File(f, 0o644, time.Time{}, strings.NewReader(f)); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	cases := []struct {
		name string
		run  func(t *testing.T, p *Publisher)
	}{
		{"first version: the link appears", func(t *testing.T, p *Publisher) {
			id, changed, err := p.Commit(stage(t, p, "a"))
			if err != nil || !changed {
				t.Fatalf("%s %v %v", id, changed, err)
			}
			if l, _ := os.Readlink(filepath.Join(p.Root, "current")); l != ".versions/"+id {
				t.Errorf("link -> %q, want a relative .versions/%s (valid wherever the volume is mounted)", l, id)
			}
		}},
		{"new version: swapped, the old one removed, no temporary left", func(t *testing.T, p *Publisher) {
			id1, _, _ := p.Commit(stage(t, p, "a"))
			id2, changed, err := p.Commit(stage(t, p, "b"))
			if err != nil || !changed || id2 == id1 {
				t.Fatalf("%s %v %v", id2, changed, err)
			}
			if got := listDir(t, filepath.Join(p.Root, ".versions")); len(got) != 1 || got[0] != id2 {
				t.Errorf(".versions = %v, want [%s]", got, id2)
			}
			if got := listDir(t, p.Root); strings.Join(got, ",") != ".versions,current" {
				t.Errorf("root = %v, want .versions and current only", got)
			}
		}},
		{"same content: nothing rewritten", func(t *testing.T, p *Publisher) {
			id1, _, _ := p.Commit(stage(t, p, "a"))
			fi1, _ := os.Stat(filepath.Join(p.Root, ".versions", id1, "a"))
			id2, changed, err := p.Commit(stage(t, p, "a"))
			if err != nil || changed || id2 != id1 {
				t.Fatalf("%s %v %v, want %s unchanged", id2, changed, err, id1)
			}
			fi2, _ := os.Stat(filepath.Join(p.Root, ".versions", id1, "a"))
			if !os.SameFile(fi1, fi2) {
				t.Error("the file of the unchanged version was replaced")
			}
			if got := listDir(t, filepath.Join(p.Root, ".versions")); len(got) != 1 {
				t.Errorf(".versions = %v after an unchanged commit, want one", got)
			}
		}},
		{"discarded stage leaves nothing", func(t *testing.T, p *Publisher) {
			stage(t, p, "a").Discard()
			if got := listDir(t, filepath.Join(p.Root, ".versions")); len(got) != 0 {
				t.Errorf(".versions = %v", got)
			}
		}},
		{"restart: leftovers of a killed run removed, the current kept", func(t *testing.T, p *Publisher) {
			id, _, _ := p.Commit(stage(t, p, "a"))
			stage(t, p, "half-written") // never committed nor discarded: a kill -9
			os.Mkdir(filepath.Join(p.Root, ".versions", "0123456789abcdef"), 0o755)
			os.Symlink("x", filepath.Join(p.Root, ".current.tmp"))
			cur, err := p.Init()
			if err != nil || cur != id {
				t.Fatalf("Init = %q, %v; want %s", cur, err, id)
			}
			if got := listDir(t, filepath.Join(p.Root, ".versions")); len(got) != 1 || got[0] != id {
				t.Errorf(".versions = %v, want [%s]", got, id)
			}
			if _, err := os.Lstat(filepath.Join(p.Root, ".current.tmp")); err == nil {
				t.Error("the temporary link is left")
			}
		}},
		{"the link is a folder: refused by name", func(t *testing.T, p *Publisher) {
			os.Mkdir(filepath.Join(p.Root, "current"), 0o755)
			if _, err := p.Init(); err == nil || !strings.Contains(err.Error(), "--link: ") || !strings.Contains(err.Error(), "is not a symlink") {
				t.Errorf("Init = %v", err)
			}
		}},
		{"the link points elsewhere: refused by name", func(t *testing.T, p *Publisher) {
			os.Symlink("/etc", filepath.Join(p.Root, "current"))
			if _, err := p.Init(); err == nil || !strings.Contains(err.Error(), `points to "/etc", not to a version`) {
				t.Errorf("Init = %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Publisher{Root: t.TempDir(), Link: "current"}
			if _, err := p.Init(); err != nil && !strings.Contains(tc.name, "refused") {
				t.Fatal(err)
			}
			tc.run(t, p)
		})
	}
	for _, link := range []string{"", "a/b", ".hidden", ".versions"} {
		if _, err := (&Publisher{Root: t.TempDir(), Link: link}).Init(); err == nil || !strings.Contains(err.Error(), "--link: ") {
			t.Errorf("link %q: %v, want an error naming --link", link, err)
		}
	}
}

// TestConditionalRequests: the validators of the last content are sent back; a 304 publishes
// nothing and rewrites nothing; a server without validators that sends the same bytes rewrites
// nothing either; a failure keeps the validators (the next look fetches again), a refusal takes
// them (the same bad archive is not fetched again).
func TestConditionalRequests(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v1, v2 := mkTar(t, true, file("a", "1")), mkTar(t, true, file("a", "2"))
	bad := mkTar(t, true, file("/abs", "x"))
	type step struct {
		body    []byte
		etag    string
		mod     time.Time
		status  int
		cut     bool
		outcome string
		ifNone  string // the If-None-Match the request must carry
		ifMod   string
		content string // of current/a afterwards
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"etag", []step{
			{body: v1, etag: `"v1"`, outcome: Published, content: "1"},
			{body: v1, etag: `"v1"`, outcome: Unchanged, ifNone: `"v1"`, content: "1"},
			{body: v2, etag: `"v2"`, outcome: Published, ifNone: `"v1"`, content: "2"},
			{body: v2, etag: `"v2"`, outcome: Unchanged, ifNone: `"v2"`, content: "2"},
		}},
		{"last-modified", []step{
			{body: v1, mod: mod, outcome: Published, content: "1"},
			{body: v1, mod: mod, outcome: Unchanged, ifMod: mod.Format(http.TimeFormat), content: "1"},
			{body: v2, mod: mod.Add(time.Minute), outcome: Published, ifMod: mod.Format(http.TimeFormat), content: "2"},
		}},
		{"no validators: same bytes, nothing rewritten", []step{
			{body: v1, outcome: Published, content: "1"},
			{body: v1, outcome: Unchanged, content: "1"},
			{body: v2, outcome: Published, content: "2"},
		}},
		{"a failure keeps the validators", []step{
			{body: v1, etag: `"v1"`, outcome: Published, content: "1"},
			{status: 503, outcome: Failed, ifNone: `"v1"`, content: "1"},
			{body: v1, etag: `"v1"`, outcome: Unchanged, ifNone: `"v1"`, content: "1"},
		}},
		{"a body cut by the network is a failure, and its validators are not kept", []step{
			{body: v1, etag: `"v1"`, outcome: Published, content: "1"},
			{body: v2, etag: `"v2"`, cut: true, outcome: Failed, ifNone: `"v1"`, content: "1"},
			{body: v1, etag: `"v1"`, outcome: Unchanged, ifNone: `"v1"`, content: "1"},
			{body: v2, etag: `"v2"`, outcome: Published, ifNone: `"v1"`, content: "2"},
		}},
		{"a refusal takes the bad archive's validators", []step{
			{body: v1, etag: `"v1"`, outcome: Published, content: "1"},
			{body: bad, etag: `"bad"`, outcome: Refused, ifNone: `"v1"`, content: "1"},
			{body: bad, etag: `"bad"`, outcome: Unchanged, ifNone: `"bad"`, content: "1"},
			{body: v2, etag: `"v2"`, outcome: Published, ifNone: `"bad"`, content: "2"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := &server{}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			s, root := newHTTPSyncer(t, ts.URL+"/site.tgz", KindAuto, defaultLimits)
			var fi os.FileInfo
			for i, st := range tc.steps {
				srv.set(st.body, st.etag, st.mod)
				srv.mu.Lock()
				srv.status, srv.cut = st.status, st.cut
				srv.mu.Unlock()
				out, err := s.SyncOnce(context.Background())
				if out != st.outcome {
					t.Fatalf("step %d: %s (%v), want %s", i, out, err, st.outcome)
				}
				h := srv.last()
				if got := h.Get("If-None-Match"); got != st.ifNone {
					t.Errorf("step %d: If-None-Match %q, want %q", i, got, st.ifNone)
				}
				if got := h.Get("If-Modified-Since"); got != st.ifMod {
					t.Errorf("step %d: If-Modified-Since %q, want %q", i, got, st.ifMod)
				}
				data, err := os.ReadFile(filepath.Join(root, "current", "a"))
				if err != nil || string(data) != st.content {
					t.Errorf("step %d: current/a = %q, %v; want %q", i, data, err, st.content)
				}
				now, err := os.Stat(filepath.Join(root, "current", "a"))
				if err != nil {
					t.Fatal(err)
				}
				if st.outcome != Published && fi != nil && !os.SameFile(fi, now) {
					t.Errorf("step %d: %s, yet the file was rewritten", i, st.outcome)
				}
				fi = now
				if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 {
					t.Errorf("step %d: .versions = %v, want one version", i, got)
				}
			}
		})
	}
}

// TestFileSourceLimit: a single file larger than --max-bytes is refused while it is read (no
// header to believe), and nothing of it stays.
func TestFileSourceLimit(t *testing.T) {
	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, root := newHTTPSyncer(t, ts.URL+"/big.bin", KindFile, Limits{MaxBytes: 1000, MaxEntries: 10})
	srv.set([]byte(strings.Repeat("x", 1000)), "", time.Time{})
	if out, err := s.SyncOnce(context.Background()); out != Published {
		t.Fatalf("1000 bytes: %s, %v", out, err)
	}
	srv.set([]byte(strings.Repeat("y", 1001)), "", time.Time{})
	out, err := s.SyncOnce(context.Background())
	if out != Refused || err == nil || !strings.Contains(err.Error(), "more than 1000 bytes of files (--max-bytes)") {
		t.Errorf("1001 bytes: %s, %v; want refused naming --max-bytes", out, err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "current", "big.bin")); string(data) != strings.Repeat("x", 1000) {
		t.Errorf("current/big.bin changed after a refusal: %d bytes", len(data))
	}
	if got := listDir(t, filepath.Join(root, ".versions")); len(got) != 1 {
		t.Errorf(".versions = %v after a refusal", got)
	}
}
