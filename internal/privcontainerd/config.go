// Package privcontainerd describes a private containerd, as the integration tests and the bench
// start one: everything under one folder of its own, beside (never in place of) the host's.
package privcontainerd

import (
	"fmt"
	"path/filepath"
)

// config is the private containerd's configuration: its own root, state, temp directory and
// sockets, no debug or metrics listeners, and none of the plugins podd does not use (CRI above
// all, which would otherwise start a streaming server and a CNI setup). The v1 runtime
// (io.containerd.runtime.v1.linux) stays although podd uses only runc v2: containerd 1.6's tasks
// service fails to load without it, and every task call then answers "not implemented".
const config = `version = 2
root = %[1]q
state = %[2]q
temp = %[3]q
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = %[4]q

[ttrpc]
  address = %[5]q

[debug]
  address = ""
  level = %[6]q

[metrics]
  address = ""
`

// Config is the config.toml of a containerd that keeps root, state and temp files under dir and
// serves its gRPC API on address (ttrpc beside it), logging at level (debug, info, ...).
func Config(dir, address, level string) string {
	return fmt.Sprintf(config, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "tmp"),
		address, address+".ttrpc", level)
}
