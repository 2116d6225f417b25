package sandbox

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readChars is this process's rchar: every byte it has read through read(2) and the like.
func readChars(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no rchar in /proc/self/io")
	return 0
}

// TestSyncHostsNeverReadsBack: a container can write into its /etc/hosts (a writable bind mount).
// podd once read every hosts file whole before rewriting it, so a container that wrote 400 MB into
// its own made podd read 400 MB at the next pod creation. podd keeps what it wrote instead.
func TestSyncHostsNeverReadsBack(t *testing.T) {
	dir := t.TempDir()
	n := &cniNetwork{dir: dir}
	if err := os.MkdirAll(n.stateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	states := []*netState{
		{UID: "uid-a", Name: "a", Namespace: "default", Hostname: "a", IPs: []string{"10.1.0.2"}, HostsPath: filepath.Join(dir, "a-hosts")},
		{UID: "uid-b", Name: "b", Namespace: "default", Hostname: "b", IPs: []string{"10.1.0.3"}, HostsPath: filepath.Join(dir, "b-hosts")},
	}
	for _, st := range states {
		if err := n.writeState(st); err != nil {
			t.Fatal(err)
		}
	}
	// What a container wrote into pod a's hosts file: 256 MiB (sparse, so the test costs no disk).
	if err := os.WriteFile(states[0].HostsPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(states[0].HostsPath, 256<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(states[1].HostsPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Host{net: n, log: slog.New(slog.DiscardHandler), hostsWritten: map[string][32]byte{}}
	before := readChars(t)
	if err := r.syncHosts("uid-b"); err != nil {
		t.Fatal(err)
	}
	// The state files are read (a few hundred bytes); the hosts files must not be.
	if read := readChars(t) - before; read > 1<<20 {
		t.Errorf("syncHosts read %d bytes, want none of the hosts files (under 1 MiB in all)", read)
	}
	all := n.allStates()
	for _, st := range all {
		got, err := os.ReadFile(st.HostsPath)
		if err != nil {
			t.Fatal(err)
		}
		if want := podHosts(st, all); !bytes.Equal(got, want) {
			t.Errorf("hosts file of %s:\n%q\nwant\n%q", st.Name, got, want)
		}
	}
}

// TestLookupUserStaysInRoot: podd names the user of a container's processes from the container's
// own /etc/passwd, which the container controls: a symlink must not lead podd out of the
// container's root, and a huge file must not be read whole.
func TestLookupUserStaysInRoot(t *testing.T) {
	host := t.TempDir()
	hostPasswd := filepath.Join(host, "passwd")
	if err := os.WriteFile(hostPasswd, []byte("hostonly:x:4242:4242::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(root string) error
		uid   string
		want  string
	}{
		{"plain file", func(root string) error {
			return os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n"), 0o644)
		}, "1000", "app"},
		{"absolute symlink out of the root", func(root string) error {
			return os.Symlink(hostPasswd, filepath.Join(root, "etc/passwd"))
		}, "4242", ""},
		{"relative symlink up and out", func(root string) error {
			rel, err := filepath.Rel(filepath.Join(root, "etc"), hostPasswd)
			if err != nil {
				return err
			}
			return os.Symlink(rel, filepath.Join(root, "etc/passwd"))
		}, "4242", ""},
		{"line past the read limit", func(root string) error {
			data := append(bytes.Repeat([]byte("#\n"), maxPasswd), []byte("late:x:7:7::/:/bin/sh\n")...)
			return os.WriteFile(filepath.Join(root, "etc/passwd"), data, 0o644)
		}, "7", ""},
		{"not a regular file", func(root string) error {
			return os.Mkdir(filepath.Join(root, "etc/passwd"), 0o755)
		}, "0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(root); err != nil {
				t.Fatal(err)
			}
			if got := lookupUser(root, tc.uid); got != tc.want {
				t.Errorf("lookupUser(uid %s) = %q, want %q", tc.uid, got, tc.want)
			}
		})
	}
}
