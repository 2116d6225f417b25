// Command podd-logger is a container's logger: containerd's shim starts it (the binary log
// driver) with the container's stdout and stderr, and it writes them to the container's log file
// in the CRI format, rotated. It is podd's logger mode (`podd logger`) in a binary of its own,
// a tenth of podd's size: it starts in half the time, before every container start, and costs a
// fraction of the memory, once per running container.
package main

import (
	"fmt"
	"os"

	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pidinit"
)

func main() {
	// It is also PID 1 of the pods' shared PID namespaces: small, and installed beside podd.
	if len(os.Args) == 2 && os.Args[1] == pidinit.Arg {
		os.Exit(pidinit.Main())
	}
	if len(os.Args) != 3 || os.Args[1] != logs.LoggerArg {
		fmt.Fprintf(os.Stderr, "usage: %s %s CONFIG (containerd's shim starts it; see podd)\n", os.Args[0], logs.LoggerArg)
		os.Exit(2)
	}
	os.Exit(logs.LoggerMain(os.Args[2], os.Stderr))
}
