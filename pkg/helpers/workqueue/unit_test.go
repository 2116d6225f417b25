package workqueue

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestLineIDs(t *testing.T) {
	ids, lines := LineIDs("/src/urls.txt", []byte("a\n\n  \nb\nc"))
	// "c" has no newline yet: it may be being written.
	if strings.Join(ids, ",") != "urls-000001,urls-000004" || string(lines[1]) != "b\n" {
		t.Fatalf("ids %v lines %q", ids, lines)
	}
	ids, _ = LineIDs("my list.v2.txt", []byte("x\n"))
	if ids[0] != "my_list_v2-000001" {
		t.Fatalf("ids %v", ids)
	}
}

// TestBadFlags: each bad flag is refused by name before the helper starts.
func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--spool", "rel/dir"}, "--spool"},
		{[]string{"--spool", "/s", "--work-dir", "w"}, "--work-dir"},
		{[]string{"--spool", "/s", "--max-attempts", "0"}, "--max-attempts"},
		{[]string{"--spool", "/s", "--backoff", "2m", "--max-backoff", "1m"}, "--max-backoff"},
		{[]string{"--spool", "/s", "--poison-exit-code", "0"}, "--poison-exit-code"},
		{[]string{"--spool", "/s", "--until", "never"}, "--until"},
		{[]string{"--spool", "/s", "--poll", "1ms"}, "--poll"},
		{[]string{"--spool", "/s", "--source-url", "ftp://x/y"}, "--source-url[0]"},
		{[]string{"--spool", "/s", "--source-url", "http:///nohost"}, "--source-url[0]"},
		{[]string{}, "--spool: required with --backend spool"},
		{[]string{"--backend", "redis", "--spool", "/s"}, `--backend: "redis" is not available`},
		{[]string{"--spool", "/s", "--queue", "q"}, "--queue: only with --backend etcd"},
		{[]string{"--spool", "/s", "--etcd-endpoints", "e:2379"}, "--etcd-endpoints: only with --backend etcd"},
		{[]string{"--spool", "/s", "--lease-ttl", "5s"}, "--lease-ttl: only with --backend etcd"},
		{[]string{"--spool", "/s", "--etcd-ca-file", "/ca.pem"}, "--etcd-ca-file: only with --backend etcd"},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "q", "--etcd-ca-file", "/nonexistent/ca.pem"}, "--etcd-ca-file: open /nonexistent/ca.pem"},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "q", "--etcd-cert-file", "/c.pem"}, "--etcd-cert-file and --etcd-key-file: give both or neither"},
		{[]string{"--backend", "etcd", "--queue", "q"}, "--etcd-endpoints: required with --backend etcd"},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379"}, "--queue: required with --backend etcd"},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "q", "--spool", "/s"}, "--spool: only with --backend spool"},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "ftp://e:2379", "--queue", "q"}, `--etcd-endpoints: "ftp://e:2379": the scheme must be http or https`},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "a/b"}, `--queue: "a/b": want 1 to 200 letters`},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "q", "--lease-ttl", "1s"}, "--lease-ttl: 1s is out of range [2s, 1h0m0s]"},
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "q", "--lease-ttl", "2500ms"}, "--lease-ttl: 2.5s is not a whole number of seconds"},
		// This package's build has no etcd backend (the image variant links package etcdqueue).
		{[]string{"--backend", "etcd", "--etcd-endpoints", "e:2379", "--queue", "q", "--work-dir", "/tmp/wq-nonexistent-test"}, "this build of the helpers has no etcd backend: the image localhost/podd/patterns-etcd has it"},
	} {
		app := &cli.App{Name: "podd-patterns", Commands: []*cli.Command{Command()}, ExitErrHandler: func(*cli.Context, error) {}}
		err := app.Run(append([]string{"podd-patterns", "workqueue"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.args, err, c.want)
		}
	}
}
