package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// The kubelet's AtomicWriter scheme, so that a container that has the volume's folder mounted
// sees either the old set of files or the new one, never a mix or a half-written file:
//
//	<dir>/..2025_01_02_15_04_05.123456789/labels   the files, in a folder made for this version
//	<dir>/..data -> ..2025_01_02_15_04_05.123456789 swapped by rename(2), which is atomic
//	<dir>/labels -> ..data/labels                    what the user sees, through ..data
//
// A rename over a bind-mounted file would be invisible inside the container; here only the
// ..data link inside the mounted folder changes, which the container sees at once. A subPath
// mount of one file resolves the links when the container starts and so never sees an update
// (as in Kubernetes).
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
)

// writeAtomic makes dir hold exactly files (relative path → content), atomically. It does
// nothing when the content is already there. Callers serialize writes to one dir.
func writeAtomic(dir string, files map[string]pod.VolumeFile) error {
	tops := map[string]bool{}
	for p := range files {
		clean := path.Clean(p)
		if p == "" || path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") || strings.HasPrefix(clean, "..") {
			return fmt.Errorf("volume file %q: must be a relative path without '..': %w", p, errdefs.ErrInvalidArgument)
		}
		tops[strings.SplitN(clean, "/", 2)[0]] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", dataLink, err)
	}
	if old != "" && sameContent(filepath.Join(dir, old), files) {
		return ensureUserLinks(dir, tops)
	}

	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if err := writeFiles(ts, files); err != nil {
		os.RemoveAll(ts)
		return err
	}
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(ts)
		return err
	}
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		os.RemoveAll(ts)
		return fmt.Errorf("link new data: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		os.Remove(tmp)
		os.RemoveAll(ts)
		return fmt.Errorf("swap %s: %w", dataLink, err)
	}
	if err := ensureUserLinks(dir, tops); err != nil {
		return err
	}
	// The previous version (and any left by a writer that died before its swap) goes last, once
	// nothing points at it.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() && strings.HasPrefix(name, "..") && name != filepath.Base(ts) {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("remove old data %s: %w", name, err)
			}
		}
	}
	return nil
}

func writeFiles(root string, files map[string]pod.VolumeFile) error {
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		target := filepath.Join(root, filepath.FromSlash(path.Clean(p)))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, f.Data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		// Explicitly, whatever the umask.
		if err := os.Chmod(target, fs.FileMode(f.Mode)&fs.ModePerm); err != nil {
			return err
		}
	}
	return nil
}

// ensureUserLinks makes each top-level name a link through ..data and removes the links of names
// that are gone.
func ensureUserLinks(dir string, tops map[string]bool) error {
	for name := range tops {
		link := filepath.Join(dir, name)
		want := filepath.Join(dataLink, name)
		if cur, err := os.Readlink(link); err == nil && cur == want {
			continue
		}
		if err := os.RemoveAll(link); err != nil {
			return err
		}
		if err := os.Symlink(want, link); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || tops[name] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if cur, err := os.Readlink(filepath.Join(dir, name)); err == nil && strings.HasPrefix(cur, dataLink+"/") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameContent reports whether the data folder holds exactly files, with their modes.
func sameContent(root string, files map[string]pod.VolumeFile) bool {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		f, ok := files[filepath.ToSlash(rel)]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// Never read more than podd wrote: the folder may be a container's to write into.
		if !info.Mode().IsRegular() || info.Size() != int64(len(f.Data)) {
			return fs.ErrInvalid
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, f.Data) || info.Mode().Perm() != fs.FileMode(f.Mode)&fs.ModePerm {
			return fs.ErrInvalid
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}
