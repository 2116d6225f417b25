// Package manifests watches podd's static pod folder (--manifests, /etc/podd/pods.d): it reads
// every manifest file there and hands the whole set to a sync function whenever something in the
// folder changes (inotify), and again at every rescan, so a missed event costs at most one
// rescan interval. It knows nothing of pods: what the files mean is the sync function's business.
package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/podd-dev/podd/pkg/dirwatch"
)

// Settle is how long a burst of changes must be quiet before the folder is read: an editor's
// save or a `cp` is several events, and reading mid-write would report a half file.
const Settle = 200 * time.Millisecond

// Wanted says whether a file name is a manifest: *.yaml, *.yml or *.json, and not hidden —
// editors' swap, backup and lock files (.web.yaml.swp, web.yaml~, .#web.yaml, #web.yaml#) and
// dotfiles such as those a `kubectl cp` or an atomic writer leaves are not.
func Wanted(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Read reads the folder's manifests: path → content. A missing folder has none. A file that
// exists but cannot be read is left out of files and named in skip, with why.
func Read(dir string) (files map[string][]byte, skip map[string]error, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return map[string][]byte{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read manifests folder %s: %w", dir, err)
	}
	files = map[string][]byte{}
	for _, e := range entries {
		if !Wanted(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path) // follows symlinks, as a file's content is what counts
		if err != nil || !info.Mode().IsRegular() {
			continue // a dangling link or a folder named x.yaml: not a manifest
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if skip == nil {
				skip = map[string]error{}
			}
			skip[path] = err
			continue
		}
		files[path] = data
	}
	return files, skip, nil
}

// Watch calls sync with the folder's manifests at once, after each change (once the changes
// settle) and every rescan, until ctx ends. An unreadable file is passed on with its last
// content seen, or not at all if it was never read, so that a permission hiccup does not remove
// a running pod; an unreadable folder is not synced at all. first is called once, after the
// first look at the folder, whatever came of it.
func Watch(ctx context.Context, dir string, rescan time.Duration, log *slog.Logger, sync func(context.Context, map[string][]byte), first func()) {
	var (
		w    *dirwatch.Watcher
		ino  uint64
		last = map[string][]byte{}
	)
	defer func() { w.Close() }()
	tick := time.NewTicker(rescan)
	defer tick.Stop()
	for {
		// (Re)watch the folder when it appeared or was replaced since the last look.
		if cur := inode(dir); cur != ino {
			w.Close()
			w, ino = nil, cur
			if cur != 0 {
				var err error
				if w, err = dirwatch.New(dir); err != nil {
					log.Warn("watch manifests folder: changes are seen at each rescan only", "dir", dir, "rescan", rescan, "err", err)
				}
			}
		}
		files, skip, err := Read(dir)
		if err != nil {
			log.Warn("read manifests", "err", err)
		} else {
			for path, err := range skip {
				log.Warn("read manifest: keeping what was last read", "file", path, "err", err)
				if data, ok := last[path]; ok {
					files[path] = data
				}
			}
			last = files
			sync(ctx, files)
		}
		if first != nil {
			first()
			first = nil
		}

		var events <-chan struct{}
		if w != nil {
			events = w.Events()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-events:
			if !settle(ctx, events) {
				return
			}
		}
	}
}

// settle waits until no change came for Settle; false when ctx ended.
func settle(ctx context.Context, events <-chan struct{}) bool {
	t := time.NewTimer(Settle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-events:
			t.Reset(Settle)
		case <-t.C:
			return true
		}
	}
}

func inode(dir string) uint64 {
	info, err := os.Stat(dir)
	if err != nil {
		return 0
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 1
}
