package hosttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartEtcd runs an etcd cluster of n members (Debian's etcd-server) on loopback ports until the
// test ends, and waits until every member is healthy; it returns their client URLs. Call
// NeedBinaries(t, "etcd-server", "etcd") first.
func StartEtcd(t testing.TB, n int) []string {
	t.Helper()
	var clients, peers, initial []string
	for i := range n {
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)))
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peers[i]))
	}
	for i := range n {
		logPath := filepath.Join(t.TempDir(), "etcd.log")
		log, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("etcd", "--name", fmt.Sprintf("m%d", i), "--data-dir", t.TempDir(),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "podd-test")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); log.Close(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			<-exited
		})
	}
	// Healthy: every member answers /health true (it has a leader).
	for _, c := range clients {
		WaitFor(t, "etcd "+c+" healthy", 90*time.Second, func() bool {
			resp, err := http.Get(c + "/health")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var h struct{ Health string }
			return json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
		})
	}
	return clients
}
