package contentsync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Source is where the content comes from.
type Source interface {
	// Fetch writes the content into a Builder from stage when it may differ from the version
	// current (its id, "" for none); it returns nil, nil when it knows nothing changed.
	Fetch(ctx context.Context, current string, stage func() (*Builder, error)) (*Builder, error)
	// Settle tells the source the outcome of what Fetch returned (published, unchanged or
	// refused), so that the same content is not fetched again; after a failure it is not called.
	Settle()
	// String names the source in logs.
	String() string
}

// ParseSource reads --source: http(s)://… or dir:///path.
func ParseSource(raw, kind, fileName string, limits Limits, timeout time.Duration) (Source, error) {
	switch kind {
	case KindAuto, KindTar, KindFile:
	default:
		return nil, fmt.Errorf("--source-kind: %q must be auto, tar or file", kind)
	}
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil, fmt.Errorf("--source: %q is not a URL (http://host:port/path or dir:///path)", raw)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("--source: %q has no host", raw)
		}
		if fileName == "" {
			fileName = path.Base(u.Path)
			if fileName == "/" || fileName == "." || fileName == "" {
				fileName = "content"
			}
		}
		if _, err := cleanName(fileName); err != nil || strings.Contains(fileName, "/") {
			return nil, fmt.Errorf("--file-name: %q must be a plain file name", fileName)
		}
		return &HTTPSource{URL: u.String(), Kind: kind, FileName: fileName, Client: &http.Client{Timeout: timeout}}, nil
	case "dir":
		if u.Host != "" || !path.IsAbs(u.Path) {
			return nil, fmt.Errorf("--source: %q: a folder is dir:///absolute/path (three slashes)", raw)
		}
		if kind != KindAuto {
			return nil, fmt.Errorf("--source-kind: %q is for http sources only", kind)
		}
		return &DirSource{Dir: u.Path, Limits: limits}, nil
	}
	return nil, fmt.Errorf("--source: %q: the scheme must be http, https or dir", raw)
}

// HTTPSource fetches a tar archive or a file over HTTP with conditional requests: the ETag
// (If-None-Match) and Last-Modified (If-Modified-Since) of the last content published or
// refused are sent, and a 304 Not Modified means nothing to do.
type HTTPSource struct {
	URL      string
	Kind     string
	FileName string
	Client   *http.Client

	etag, lastModified         string // of the content settled
	pendingTag, pendingModTime string // of the content last fetched
}

func (s *HTTPSource) String() string { return s.URL }

// Settle keeps the validators of the content last fetched.
func (s *HTTPSource) Settle() { s.etag, s.lastModified = s.pendingTag, s.pendingModTime }

func (s *HTTPSource) Fetch(ctx context.Context, current string, stage func() (*Builder, error)) (*Builder, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, err
	}
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	if s.lastModified != "" {
		req.Header.Set("If-Modified-Since", s.lastModified)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		// Still the content settled last: keep its validators (not those of a fetch that
		// failed since).
		s.pendingTag, s.pendingModTime = s.etag, s.lastModified
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: %s", s.URL, resp.Status)
	}
	s.pendingTag, s.pendingModTime = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	b, err := stage()
	if err != nil {
		return nil, err
	}
	if err := s.write(resp.Body, b); err != nil {
		b.Discard()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return b, nil
}

func (s *HTTPSource) write(body io.Reader, b *Builder) error {
	br := bufio.NewReaderSize(transportReader{body}, peekSize)
	isTar, gz, err := detect(br, s.Kind)
	if err != nil {
		return err
	}
	if isTar {
		if err := extractTar(br, gz, b); err != nil {
			return err
		}
		// What follows the archive's end (padding) is read so that a truncated body is
		// noticed, and bounded.
		if _, err := io.Copy(io.Discard, io.LimitReader(br, 1<<20)); err != nil {
			return err
		}
		return nil
	}
	mtime, _ := http.ParseTime(s.pendingModTime) // zero without a Last-Modified
	return b.File(s.FileName, 0o644, mtime, br)
}

// DirSource copies a folder: a mounted ConfigMap or Secret volume (whose files are published by
// the kubelet's, and podd's, swap of a ..data symlink) or any folder. Of a ConfigMap volume it
// copies the version ..data points to, as one whole: when ..data moved during the copy, the copy
// is made again. Names starting with ".." at the top (the volume's own bookkeeping) are skipped.
type DirSource struct {
	Dir    string
	Limits Limits
}

func (s *DirSource) String() string { return "dir://" + s.Dir }

func (s *DirSource) Settle() {}

// dataLink is the symlink through which the kubelet (and podd) publish a ConfigMap volume.
const dataLink = "..data"

func (s *DirSource) Fetch(ctx context.Context, current string, stage func() (*Builder, error)) (*Builder, error) {
	for try := 0; try < 5; try++ {
		base, err := s.base()
		if err != nil {
			return nil, err
		}
		h := NewHasher(s.Limits)
		if err := copyTree(ctx, base, h); err != nil {
			if s.moved(base) {
				continue
			}
			return nil, err
		}
		if h.ID() == current {
			return nil, nil
		}
		b, err := stage()
		if err != nil {
			return nil, err
		}
		if err := copyTree(ctx, base, b); err != nil {
			b.Discard()
			if s.moved(base) {
				continue
			}
			return nil, err
		}
		if s.moved(base) {
			b.Discard()
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: its ..data link moved during each of 5 copies", s.Dir)
}

// base is the folder to copy: ..data's target when there is one, else the folder itself.
func (s *DirSource) base() (string, error) {
	t, err := os.Readlink(filepath.Join(s.Dir, dataLink))
	switch {
	case err == nil:
		if path.IsAbs(t) || strings.Contains(t, "/") {
			return "", fmt.Errorf("--source: %s/%s -> %q: not a folder beside it", s.Dir, dataLink, t)
		}
		return filepath.Join(s.Dir, t), nil
	case errors.Is(err, fs.ErrNotExist):
		if fi, err := os.Stat(s.Dir); err != nil {
			return "", fmt.Errorf("--source: %w", err)
		} else if !fi.IsDir() {
			return "", fmt.Errorf("--source: %s is not a folder", s.Dir)
		}
		return s.Dir, nil
	}
	return "", fmt.Errorf("--source: %w", err)
}

// moved reports whether base is no longer what the source shows.
func (s *DirSource) moved(base string) bool {
	now, err := s.base()
	return err != nil || now != base
}

// copyTree adds the tree under base to b, in lexical order.
func copyTree(ctx context.Context, base string, b *Builder) error {
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if !strings.Contains(rel, "/") && strings.HasPrefix(rel, "..") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return b.Dir(rel, fi.Mode(), fi.ModTime())
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return b.File(rel, fi.Mode(), fi.ModTime(), f)
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return b.Symlink(rel, t)
		}
		return refused("%s: not a file, folder or symlink (%v)", rel, fi.Mode().Type())
	})
}
