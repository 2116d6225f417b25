// Package dirwatch wakes its user when anything happens in a folder: a write, a new, removed or
// renamed file. It uses inotify; the events themselves are not looked at — a wake-up only tells
// the user to look again — so one pending wake-up stands for any number of changes.
package dirwatch

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Watcher watches one folder.
type Watcher struct {
	f      *os.File
	events chan struct{}
}

// New watches dir. It fails when inotify is not available (no instances left:
// fs.inotify.max_user_instances) or dir does not exist; callers fall back to polling.
func New(dir string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	const mask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_DELETE |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking descriptor makes an *os.File that the runtime poller serves, so Close
	// interrupts the pending Read.
	w := &Watcher{f: os.NewFile(uintptr(fd), "inotify"), events: make(chan struct{}, 1)}
	go w.loop()
	return w, nil
}

func (w *Watcher) loop() {
	buf := make([]byte, 4096)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return
		}
		select {
		case w.events <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Events delivers a wake-up after changes. A removed folder delivers no more: callers that
// must see the folder come back look again from time to time.
func (w *Watcher) Events() <-chan struct{} { return w.events }

// Close stops watching. A nil Watcher may be closed.
func (w *Watcher) Close() {
	if w != nil {
		w.f.Close()
	}
}
