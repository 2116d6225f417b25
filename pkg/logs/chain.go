package logs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Reading buffer: lines are at most MaxLineSize plus a header, so one buffer holds several; a
// longer line (another writer's) makes it grow up to maxReadBuf, beyond which it is cut.
const (
	readBuf    = 64 << 10
	maxReadBuf = 2 << 20
)

// fileID names a file whatever its name: rotation renames files.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// chainFile is one file of an instance's log.
type chainFile struct {
	name  string
	index int // 0 for path, k for path.k
	id    fileID
}

// chain reads the files of one instance's log in order, from one file to the next as the writer
// rotates them, whatever their names are when it gets there.
type chain struct {
	path string
	f    *os.File
	id   fileID
	buf  []byte
	n    int // bytes of buf not yet handed out: an incomplete line
}

// list lists the instance's files, oldest first.
func (c *chain) list() ([]chainFile, error) {
	dir, base := filepath.Split(c.path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []chainFile
	for _, e := range entries {
		name := e.Name()
		index := 0
		if name != base {
			if !isRotated(name, base) {
				continue
			}
			index, _ = strconv.Atoi(name[len(base)+1:])
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			continue // rotated away meanwhile
		}
		files = append(files, chainFile{name: filepath.Join(dir, name), index: index, id: idOf(fi)})
	}
	slices.SortFunc(files, func(a, b chainFile) int { return b.index - a.index })
	return files, nil
}

// stableList lists the files until two listings in a row agree and look whole — numbers without
// a gap, no file twice — so that a rotation under way, which renames the files one after the
// other while the listing stats them one after the other, shows no file twice, none missing and
// none out of order. A folder that stays odd (a file removed by hand) is taken as it is, in the
// end.
func (c *chain) stableList() ([]chainFile, error) {
	prev, err := c.list()
	if err != nil {
		return nil, err
	}
	for try := range 64 {
		if try >= 8 {
			time.Sleep(time.Millisecond)
		}
		cur, err := c.list()
		if err != nil {
			return nil, err
		}
		if slices.Equal(prev, cur) && whole(cur) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// whole tells whether a listing (oldest first) has consecutive numbers down to path or path.1
// (path is missing for an instant in each rotation) and no file twice.
func whole(files []chainFile) bool {
	seen := map[fileID]bool{}
	for i, f := range files {
		if seen[f.id] || i > 0 && files[i-1].index != f.index+1 {
			return false
		}
		seen[f.id] = true
	}
	return len(files) == 0 || files[len(files)-1].index <= 1
}

// openFile opens cf if the file under its name is still cf.
func openFile(cf chainFile) (*os.File, bool) {
	f, err := os.Open(cf.name)
	if err != nil {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || idOf(fi) != cf.id {
		f.Close()
		return nil, false
	}
	return f, true
}

// openFirst opens the oldest file; it reports false when there is none yet.
func (c *chain) openFirst() (bool, error) {
	for range 8 {
		files, err := c.stableList()
		if err != nil || len(files) == 0 {
			return false, err
		}
		if f, ok := openFile(files[0]); ok {
			c.use(f, files[0].id)
			return true, nil
		}
	}
	return false, nil
}

func (c *chain) use(f *os.File, id fileID) {
	if c.f != nil {
		c.f.Close()
	}
	c.f, c.id = f, id
	if c.buf == nil {
		c.buf = make([]byte, readBuf)
	}
}

// read reads the current file to its end, handing out each complete line without its newline;
// the lines are valid during the call only. It reports whether it read anything.
func (c *chain) read(fn func([]byte) error) (bool, error) {
	got := false
	for {
		if c.n == len(c.buf) {
			if len(c.buf) < maxReadBuf {
				c.buf = append(c.buf, make([]byte, len(c.buf))...)
			} else {
				// A line longer than any the Writer writes: hand it out cut.
				if err := fn(c.buf[:c.n]); err != nil {
					return got, err
				}
				c.n = 0
			}
		}
		k, err := c.f.Read(c.buf[c.n:])
		if k > 0 {
			got = true
			c.n += k
			start := 0
			for {
				i := bytes.IndexByte(c.buf[start:c.n], '\n')
				if i < 0 {
					break
				}
				if err := fn(c.buf[start : start+i]); err != nil {
					return got, err
				}
				start += i + 1
			}
			c.n = copy(c.buf, c.buf[start:c.n])
		}
		if errors.Is(err, io.EOF) || k == 0 && err == nil {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

// rest hands out what the current file ended with after its last newline: a write cut short.
func (c *chain) rest(fn func([]byte) error) error {
	if c.n == 0 {
		return nil
	}
	n := c.n
	c.n = 0
	return fn(c.buf[:n])
}

// advance is called at the end of the current file. When the file is no longer the newest (it was
// rotated; the Writer closes a file before it renames it, so it is complete), it reads it to its
// real end and moves on to the next file by inode: the file that was rotated right after it, or,
// when the current one was removed meanwhile, the oldest there is. It reports whether it moved.
func (c *chain) advance(fn func([]byte) error) (bool, error) {
	fi, err := os.Stat(c.path)
	if err == nil && idOf(fi) == c.id {
		return false, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if _, err := c.read(fn); err != nil {
		return false, err
	}
	for range 8 {
		files, err := c.stableList()
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(files, func(cf chainFile) bool { return cf.id == c.id })
		var next chainFile
		switch {
		case i >= 0 && i+1 < len(files):
			next = files[i+1]
		case i < 0 && len(files) > 0 && c.removed():
			// The rotation removed the current file: every file left is newer.
			next = files[0]
		case i < 0:
			continue // a listing that missed the current file: look again
		default:
			return false, nil // nothing newer yet
		}
		f, ok := openFile(next)
		if !ok {
			continue
		}
		if err := c.rest(fn); err != nil {
			f.Close()
			return false, err
		}
		c.use(f, next.id)
		return true, nil
	}
	return false, nil
}

// removed tells whether the current file has no name any more.
func (c *chain) removed() bool {
	fi, err := c.f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

func (c *chain) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}
