package logs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watcher wakes a follower when anything happens in an instance's folder: a write, a rotation, a
// new file. It uses inotify; the events are not looked at, a wake-up only makes the follower
// read again.
type watcher struct {
	f      *os.File
	events chan struct{}
}

// newWatcher watches dir; it fails when inotify is not available (no instances left:
// fs.inotify.max_user_instances), and Read then polls.
func newWatcher(dir string) (*watcher, error) {
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
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), events: make(chan struct{}, 1)}
	go w.loop()
	return w, nil
}

func (w *watcher) loop() {
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

func (w *watcher) close() {
	if w != nil {
		w.f.Close()
	}
}
