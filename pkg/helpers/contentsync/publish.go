package contentsync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The published tree, as git-sync publishes a checkout:
//
//	<root>/.versions/<id>/...     one folder per version, written once, never changed after
//	<root>/<link> -> .versions/<id> replaced by rename(2) of a new symlink: atomic
//
// A reader that opens <root>/<link>/a and then <root>/<link>/b may see two versions (each file
// whole), as with git-sync; a reader that resolves the link once (cd <root>/<link>, or
// readlink) sees one version throughout. The previous version's folder is removed after the
// swap; a file a reader holds open stays readable until it closes it.
const (
	versionsDir = ".versions"
	stagePrefix = ".tmp-"
	// idLen is how many hex digits of the content's SHA-256 name a version.
	idLen = 16
)

// RefusedError is content that the safety rules or the limits refuse: nothing of it is
// published, and the same content is not fetched again until the source changes.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// IsRefused tells a refusal (bad content) from a failure (network, disk).
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Limits bound one version.
type Limits struct {
	MaxBytes   int64 // regular files' bytes, all together
	MaxEntries int   // files, folders and links
}

// Publisher publishes versions under Root.
type Publisher struct {
	Root string
	Link string
}

func (p *Publisher) versions() string { return filepath.Join(p.Root, versionsDir) }

// Current is the id of the version <root>/<link> points to, "" when there is none yet.
func (p *Publisher) Current() (string, error) {
	link := filepath.Join(p.Root, p.Link)
	t, err := os.Readlink(link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		if fi, serr := os.Lstat(link); serr == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return "", fmt.Errorf("--link: %s exists and is not a symlink: move it away (content-sync publishes through a symlink)", link)
		}
		return "", err
	}
	dir, id := path.Split(t)
	if path.Clean(dir) != versionsDir || id == "" {
		return "", fmt.Errorf("--link: %s points to %q, not to a version under %s/", link, t, versionsDir)
	}
	return id, nil
}

// Init makes <root>/.versions and removes what a killed run left there: every folder but the
// current version (a half-written version is never the current one).
func (p *Publisher) Init() (string, error) {
	if p.Link == "" || strings.Contains(p.Link, "/") || strings.HasPrefix(p.Link, ".") {
		return "", fmt.Errorf("--link: %q must be a plain name (no '/', not starting with '.')", p.Link)
	}
	if err := os.MkdirAll(p.versions(), 0o755); err != nil {
		return "", fmt.Errorf("--root: %w", err)
	}
	cur, err := p.Current()
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(p.versions())
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() != cur {
			if err := os.RemoveAll(filepath.Join(p.versions(), e.Name())); err != nil {
				return "", err
			}
		}
	}
	os.Remove(filepath.Join(p.Root, "."+p.Link+".tmp"))
	return cur, nil
}

// Stage starts a new version in a fresh folder under .versions.
func (p *Publisher) Stage(limits Limits) (*Builder, error) {
	dir, err := os.MkdirTemp(p.versions(), stagePrefix)
	if err != nil {
		return nil, fmt.Errorf("stage a version: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := newBuilder(limits)
	b.dir, b.root = dir, root
	return b, nil
}

// Commit publishes b: the folder is renamed to its id, the link swapped to it, and the previous
// version removed. It returns false, and removes b, when the link already shows that content.
// On an error nothing changed: b is removed and the link is where it was.
func (p *Publisher) Commit(b *Builder) (id string, changed bool, err error) {
	defer b.Discard() // a no-op once the folder was renamed
	if err := b.finish(); err != nil {
		return "", false, err
	}
	id = b.ID()
	cur, err := p.Current()
	if err != nil {
		return "", false, err
	}
	if id == cur {
		return id, false, nil
	}
	final := filepath.Join(p.versions(), id)
	if err := os.RemoveAll(final); err != nil { // an orphan of the same content
		return "", false, err
	}
	if err := os.Rename(b.dir, final); err != nil {
		return "", false, fmt.Errorf("name version %s: %w", id, err)
	}
	b.dir = ""
	tmp := filepath.Join(p.Root, "."+p.Link+".tmp")
	os.Remove(tmp)
	if err := os.Symlink(path.Join(versionsDir, id), tmp); err != nil {
		os.RemoveAll(final)
		return "", false, fmt.Errorf("link version %s: %w", id, err)
	}
	if err := os.Rename(tmp, filepath.Join(p.Root, p.Link)); err != nil {
		os.Remove(tmp)
		os.RemoveAll(final)
		return "", false, fmt.Errorf("swap %s: %w", p.Link, err)
	}
	if cur != "" {
		// The swap is done: a failure to remove the old version costs only disk, and the
		// next start removes it.
		os.RemoveAll(filepath.Join(p.versions(), cur))
	}
	return id, true, nil
}

// Builder writes one version: every entry is checked (a relative path without '..', no path
// through a symlink, no duplicate, links that stay inside the version, no device files) and
// counted against the limits, and hashed so that the same content gives the same id. A
// Builder without a folder (NewHasher) only checks and hashes.
type Builder struct {
	limits  Limits
	dir     string
	root    *os.Root
	h       hash.Hash
	bytes   int64
	entries int
	kinds   map[string]byte // clean path → 'd', 'f', 'l'
	links   []string
	dirMode map[string]fs.FileMode
	dirTime map[string]time.Time
	buf     []byte
}

func newBuilder(limits Limits) *Builder {
	return &Builder{limits: limits, h: sha256.New(), kinds: map[string]byte{".": 'd'}, dirMode: map[string]fs.FileMode{}, dirTime: map[string]time.Time{}}
}

// NewHasher is a Builder that writes nothing: it computes the id content would get.
func NewHasher(limits Limits) *Builder { return newBuilder(limits) }

// ID is the version's id: the first hex digits of the SHA-256 of its entries.
func (b *Builder) ID() string { return hex.EncodeToString(b.h.Sum(nil))[:idLen] }

// Bytes is the regular files' size so far.
func (b *Builder) Bytes() int64 { return b.bytes }

// Entries is the entry count so far.
func (b *Builder) Entries() int { return b.entries }

// Discard removes the staged folder (after an error, a refusal or an abort).
func (b *Builder) Discard() {
	if b.root != nil {
		b.root.Close()
		b.root = nil
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
		b.dir = ""
	}
}

// cleanName checks an entry's name and returns its clean form ("." for the top).
func cleanName(name string) (string, error) {
	n := strings.TrimSuffix(name, "/")
	if n == "" && name != "" {
		return "", refused("entry %q: an absolute path", name)
	}
	if n == "" {
		return "", refused("an entry without a name")
	}
	if strings.HasPrefix(n, "/") {
		return "", refused("entry %q: an absolute path", name)
	}
	if strings.ContainsRune(n, 0) {
		return "", refused("entry %q: a NUL byte in the name", name)
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", refused("entry %q: '..' in the path", name)
		}
	}
	return path.Clean(n), nil
}

// add checks a new entry's path and counts it.
func (b *Builder) add(name string, kind byte) (string, error) {
	n, err := cleanName(name)
	if err != nil {
		return "", err
	}
	if n == "." && kind != 'd' {
		return "", refused("entry %q: names the top folder", name)
	}
	b.entries++
	if b.limits.MaxEntries > 0 && b.entries > b.limits.MaxEntries {
		return "", refused("more than %d entries (--max-entries)", b.limits.MaxEntries)
	}
	// Every parent must be a folder of this version (made now if the archive did not list it),
	// never a symlink: writing through one could write elsewhere than the entry says.
	parts := strings.Split(n, "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		switch b.kinds[p] {
		case 0:
			if err := b.mkdir(p, 0o755); err != nil {
				return "", err
			}
		case 'd':
		case 'l':
			return "", refused("entry %q: its parent %q is a symlink", name, p)
		default:
			return "", refused("entry %q: its parent %q is a file", name, p)
		}
	}
	if old, ok := b.kinds[n]; ok {
		if kind == 'd' && old == 'd' {
			return n, nil // a folder listed again (or after its files): only its mode changes
		}
		return "", refused("entry %q: a duplicate", name)
	}
	b.kinds[n] = kind
	return n, nil
}

func (b *Builder) mkdir(n string, mode fs.FileMode) error {
	b.kinds[n] = 'd'
	b.dirMode[n] = mode
	if b.root == nil {
		return nil
	}
	if err := b.root.Mkdir(n, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", n, err)
	}
	return nil
}

func (b *Builder) record(kind byte, n string, mode fs.FileMode, extra string) {
	// Length-prefixed fields: two different trees never write the same bytes.
	for _, f := range []string{string(kind), n, strconv.FormatUint(uint64(mode), 8), extra} {
		b.h.Write([]byte(strconv.Itoa(len(f)) + ":" + f))
	}
}

// Dir adds a folder. Its mode and modification time (unless zero) are applied when the version
// is complete (so that a read-only folder can still be filled, and its time is not the time of
// its files' writing).
func (b *Builder) Dir(name string, mode fs.FileMode, mtime time.Time) error {
	existed := false
	if n, err := cleanName(name); err == nil {
		existed = b.kinds[n] == 'd'
	}
	n, err := b.add(name, 'd')
	if err != nil {
		return err
	}
	if n == "." {
		// The version's own folder stays 0755 whatever the archive says of "./" (often the
		// mode of a private temporary folder it was made from): a 0700 there would hide the
		// whole version from an application running as another user.
		return nil
	}
	mode = mode.Perm()
	b.record('d', n, mode, "")
	if !mtime.IsZero() {
		b.dirTime[n] = mtime
	}
	if existed {
		b.dirMode[n] = mode
		return nil
	}
	return b.mkdir(n, mode)
}

// File adds a regular file with r's content and modification time mtime (unless zero): kept,
// so that a web server's Last-Modified and ETag of an unchanged file stay the same across
// versions. Times are not part of the id.
func (b *Builder) File(name string, mode fs.FileMode, mtime time.Time, r io.Reader) error {
	n, err := b.add(name, 'f')
	if err != nil {
		return err
	}
	mode = mode.Perm()
	var w io.Writer = io.Discard
	var f *os.File
	if b.root != nil {
		f, err = b.root.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", n, err)
		}
		defer f.Close()
		w = f
	}
	fh := sha256.New()
	room := int64(-1)
	if b.limits.MaxBytes > 0 {
		room = b.limits.MaxBytes - b.bytes
	}
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	var src io.Reader = r
	if room >= 0 {
		src = io.LimitReader(r, room+1)
	}
	written, err := io.CopyBuffer(io.MultiWriter(w, fh), src, b.buf)
	b.bytes += written
	if err != nil {
		return fmt.Errorf("write %s: %w", n, err)
	}
	if room >= 0 && written > room {
		return refused("more than %d bytes of files (--max-bytes)", b.limits.MaxBytes)
	}
	if f != nil {
		if err := f.Chmod(mode); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
		if !mtime.IsZero() {
			if err := b.root.Chtimes(n, mtime, mtime); err != nil {
				return err
			}
		}
	}
	b.record('f', n, mode, hex.EncodeToString(fh.Sum(nil)))
	return nil
}

// Symlink adds a symlink; its target must be relative and stay inside the version.
func (b *Builder) Symlink(name, target string) error {
	if target == "" || path.IsAbs(target) {
		return refused("symlink %q -> %q: the target must be a relative path inside the content", name, target)
	}
	n, err := b.add(name, 'l')
	if err != nil {
		return err
	}
	if t := path.Join(path.Dir(n), target); t == ".." || strings.HasPrefix(t, "../") {
		return refused("symlink %q -> %q: points outside the content", name, target)
	}
	if b.root != nil {
		if err := b.root.Symlink(target, n); err != nil {
			return fmt.Errorf("symlink %s: %w", n, err)
		}
	}
	b.links = append(b.links, n)
	b.record('l', n, 0, target)
	return nil
}

// Hardlink adds a hard link to a regular file added before.
func (b *Builder) Hardlink(name, target string) error {
	t, err := cleanName(target)
	if err != nil {
		return refused("hard link %q -> %q: %v", name, target, err.(*RefusedError).Reason)
	}
	if b.kinds[t] != 'f' {
		return refused("hard link %q -> %q: the target is not a regular file earlier in the archive", name, target)
	}
	n, err := b.add(name, 'f')
	if err != nil {
		return err
	}
	if b.root != nil {
		if err := b.root.Link(t, n); err != nil {
			return fmt.Errorf("link %s: %w", n, err)
		}
	}
	b.record('h', n, 0, t)
	return nil
}

// finish checks every symlink as the kernel will resolve it (a chain of links can leave the
// version where each link alone looks inside) and applies the folders' modes.
func (b *Builder) finish() error {
	if b.root == nil {
		return nil
	}
	for _, l := range b.links {
		if err := resolveInside(b.dir, l); err != nil {
			return err
		}
	}
	dirs := make([]string, 0, len(b.dirMode))
	for d := range b.dirMode {
		dirs = append(dirs, d)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // children before parents
	for _, d := range dirs {
		if err := b.root.Chmod(d, b.dirMode[d]); err != nil {
			return err
		}
		if t, ok := b.dirTime[d]; ok {
			if err := b.root.Chtimes(d, t, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolveInside follows the symlink link (relative to root) component by component, following
// every link met, and refuses it when it would leave root. A missing component ends the walk:
// the kernel stops there too.
func resolveInside(root, link string) error {
	target, err := os.Readlink(filepath.Join(root, link))
	if err != nil {
		return err
	}
	cur := strings.Split(path.Dir(link), "/")
	if cur[0] == "." {
		cur = nil
	}
	rest := strings.Split(target, "/")
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return refused("symlink %q -> %q: resolves outside the content", link, target)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		p := filepath.Join(append([]string{root}, append(cur, c)...)...)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > 40 {
				return refused("symlink %q: too many levels of links", link)
			}
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if path.IsAbs(t) {
				return refused("symlink %q: resolves through an absolute link", link)
			}
			rest = append(strings.Split(t, "/"), rest...)
			continue
		}
		if !fi.IsDir() {
			return nil // a file: the walk ends (ENOTDIR if more follows)
		}
		cur = append(cur, c)
	}
	return nil
}
