package helper

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// TrimAfter drops, once, after delay, this process's mappings of its own binary's read-only
// segments (text and rodata): madvise(MADV_DONTNEED) on private file mappings that were never
// written. The pages stay in the host's page cache, shared by every helper of every pod (one
// image, one file); a page the helper uses again is mapped back by a minor fault, without I/O.
//
// Why: the helpers are one binary of some 13 MB, and Go's start-up (every package's init, spread
// over the whole text) together with the kernel's fault-around leave about 80 % of it mapped,
// so an idle helper showed 12–13 MiB of RSS of which 10 MiB were file pages it no longer
// touched. After the trim its RSS is what it uses: its heap and stacks and the pages of its idle
// loop. Under load the pages it needs come back (measured in specs/patterns/README.md).
func TrimAfter(delay time.Duration) {
	time.AfterFunc(delay, func() { _, _ = TrimSelf() })
}

// TrimSelf drops the mappings now and returns how many bytes of mappings it advised.
func TrimSelf() (int64, error) {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	regions, err := readOnlyMappings(f, self)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range regions {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED); errno != 0 {
			return n, fmt.Errorf("madvise %#x-%#x: %w", r[0], r[1], errno)
		}
		n += int64(r[1] - r[0])
	}
	return n, nil
}

// readOnlyMappings returns the [start, end) of the private mappings of path that are neither
// writable nor anonymous, from a /proc/PID/maps listing: only those can be dropped and read back
// from the file unchanged.
func readOnlyMappings(maps io.Reader, path string) ([][2]uintptr, error) {
	var out [][2]uintptr
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[5] != path {
			continue
		}
		perms := f[1]
		if len(perms) != 4 || perms[1] == 'w' || perms[3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		out = append(out, [2]uintptr{uintptr(a), uintptr(b)})
	}
	return out, sc.Err()
}
