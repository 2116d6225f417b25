package runtime

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killTree SIGKILLs a process and every descendant, so that an exec probe or hook that timed out
// leaves no stray process behind (killing only the exec'd shell would orphan its children).
func killTree(pid int) {
	if pid <= 0 {
		return
	}
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: the fields start after the last ')'.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
	}
	// Stop the whole tree first so nothing forks while we walk it, then kill.
	var tree []int
	var walk func(int)
	walk = func(p int) {
		tree = append(tree, p)
		syscall.Kill(p, syscall.SIGSTOP)
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	for _, p := range tree {
		syscall.Kill(p, syscall.SIGKILL)
	}
}
