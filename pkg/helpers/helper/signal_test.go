package helper

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFindProcesses: by comm (cut to 15 bytes as the kernel does) or argv[0]'s base name.
func TestFindProcesses(t *testing.T) {
	proc := t.TempDir()
	mk := func(pid int, comm, cmdline string) {
		d := filepath.Join(proc, fmt.Sprint(pid))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "comm"), []byte(comm+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "cmdline"), []byte(strings.ReplaceAll(cmdline, " ", "\x00")+"\x00"), 0o644)
	}
	mk(10, "nginx", "nginx: master process nginx")
	mk(11, "sh", "/bin/sh /usr/local/bin/reload-me")
	mk(12, "a-very-long-pro", "/opt/a-very-long-process-name --flag")
	mk(13, "busybox", "/usr/sbin/httpd -f")
	mk(os.Getpid(), "nginx", "nginx")
	os.MkdirAll(filepath.Join(proc, "self"), 0o755)
	cases := []struct {
		name string
		want string
	}{
		{"nginx", "[10]"},
		{"reload-me", "[]"}, // a script run as "sh script": its argv[0] is sh
		{"a-very-long-process-name", "[12]"},
		{"httpd", "[13]"},
		{"sh", "[11]"},
		{"nothing", "[]"},
	}
	for _, tc := range cases {
		pids, err := FindProcesses(proc, tc.name)
		if err != nil || fmt.Sprint(pids) != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.name, pids, err, tc.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for _, s := range []struct {
		in   string
		want syscall.Signal
	}{{"HUP", syscall.SIGHUP}, {"sigusr1", syscall.SIGUSR1}, {"15", syscall.SIGTERM}} {
		if got, err := ParseSignal(s.in); err != nil || got != s.want {
			t.Errorf("ParseSignal(%q) = %v, %v", s.in, got, err)
		}
	}
	for _, bad := range []string{"NOPE", "0", "99", ""} {
		if _, err := ParseSignal(bad); err == nil || !strings.HasPrefix(err.Error(), "--signal: ") {
			t.Errorf("ParseSignal(%q): %v, want a refusal naming --signal", bad, err)
		}
	}
}
