package elector

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func flagContext(t *testing.T, args []string) *cli.Context {
	t.Helper()
	set := flag.NewFlagSet("elector", flag.ContinueOnError)
	for _, f := range Command().Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cli.NewContext(cli.NewApp(), set, nil)
}

// TestEtcdFlags: the etcd backend's flags, each refusal naming its flag and its limit.
func TestEtcdFlags(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	etcd := []string{"--election", "e", "--backend", "etcd", "--name", "pod-1"}
	for _, tc := range []struct {
		args     []string
		want     string
		ttl      time.Duration
		margin   time.Duration
		eps      []string
		selfName string
	}{
		{args: etcd, ttl: 5 * time.Second, margin: 0, eps: []string{"http://127.0.0.1:2379"}, selfName: "pod-1"},
		{args: append(etcd, "--ttl", "2s", "--etcd-endpoints", "http://10.0.0.1:2379, https://e2:2379,e3:2379"), ttl: 2 * time.Second,
			eps: []string{"http://10.0.0.1:2379", "https://e2:2379", "e3:2379"}, selfName: "pod-1"},
		{args: append(etcd, "--ttl", "1s"), want: "--ttl: 1s is out of range [2s, 1h0m0s] on etcd"},
		{args: append(etcd, "--ttl", "2500ms"), want: "--ttl: 2.5s is not a whole number of seconds"},
		{args: append(etcd, "--ttl", "2h"), want: "--ttl: 2h0m0s is out of range [2s, 1h0m0s] on etcd"},
		{args: append(etcd, "--margin", "2s"), want: "--margin: 2s must be at least 0 and below a third of --ttl (1.666666666s)"},
		{args: append(etcd, "--etcd-endpoints", ""), want: "--etcd-endpoints: at least one endpoint is required"},
		{args: append(etcd, "--etcd-endpoints", "ftp://e1:2379"), want: `--etcd-endpoints: "ftp://e1:2379": the scheme must be http or https`},
		{args: append(etcd, "--etcd-endpoints", "e1"), want: `--etcd-endpoints: "e1": want host:port`},
		{args: append(etcd, "--etcd-endpoints", "http://e1:2379/v3"), want: `--etcd-endpoints: "http://e1:2379/v3": an endpoint has no path`},
		{args: append(etcd, "--etcd-prefix", "podd/"), want: `--etcd-prefix: "podd/" must start with /`},
		{args: append(etcd, "--etcd-ca-file", missing), want: "--etcd-ca-file: open " + missing},
		{args: append(etcd, "--etcd-ca-file", garbage), want: "--etcd-ca-file: " + garbage + ": no PEM certificate in it"},
		{args: append(etcd, "--etcd-cert-file", garbage), want: "--etcd-cert-file and --etcd-key-file: give both or neither"},
		{args: append(etcd, "--etcd-cert-file", missing, "--etcd-key-file", garbage), want: "--etcd-cert-file: stat " + missing},
		{args: append(etcd, "--etcd-cert-file", garbage, "--etcd-key-file", missing), want: "--etcd-key-file: stat " + missing},
		{args: append(etcd, "--etcd-cert-file", garbage, "--etcd-key-file", garbage), want: "--etcd-cert-file and --etcd-key-file: tls: "},
		// On etcd the socket and the guarded containers are where the readiness gate reads.
		{args: append(etcd, "--socket", "/run/x.sock", "--app-container", "app"), ttl: 5 * time.Second, eps: []string{"http://127.0.0.1:2379"}, selfName: "pod-1"},
		{args: []string{"--election", "e", "--etcd-endpoints", "e1:2379"}, want: "--etcd-endpoints: only with --backend etcd"},
		{args: []string{"--election", "e", "--name", "x"}, want: "--name: only with --backend etcd"},
		// The local backend keeps its own ttl default and range.
		{args: []string{"--election", "e", "--ttl", "500ms"}, ttl: 500 * time.Millisecond},
	} {
		cfg, ecfg, err := configFromFlags(flagContext(t, tc.args))
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if cfg.TTL != tc.ttl {
			t.Errorf("%v: ttl %s, want %s", tc.args, cfg.TTL, tc.ttl)
		}
		if tc.eps == nil {
			if ecfg != nil {
				t.Errorf("%v: an etcd config %+v with the local backend", tc.args, ecfg)
			}
			continue
		}
		if ecfg == nil || strings.Join(ecfg.Endpoints, " ") != strings.Join(tc.eps, " ") || ecfg.Name != tc.selfName || ecfg.TTL != tc.ttl || ecfg.Prefix != DefaultEtcdPrefix {
			t.Errorf("%v: %+v, want endpoints %v, name %s, ttl %s, prefix %s", tc.args, ecfg, tc.eps, tc.selfName, tc.ttl, DefaultEtcdPrefix)
		}
	}
}

// TestEtcdNameDefault: without --name the candidate is the host's name (a pod's hostname is
// its name).
func TestEtcdNameDefault(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	_, ecfg, err := configFromFlags(flagContext(t, []string{"--election", "e", "--backend", "etcd"}))
	if err != nil || ecfg.Name != host {
		t.Fatalf("%+v %v, want the name %q", ecfg, err, host)
	}
}

// TestEtcdNotLinked: a build of the helpers without the etcd backend (the base image) refuses
// --backend etcd at start, naming the image that has it.
func TestEtcdNotLinked(t *testing.T) {
	if newEtcd != nil {
		t.Fatal("the elector package's tests link the etcd backend: this test needs a build without it")
	}
	app := &cli.App{Name: "podd-patterns", Commands: []*cli.Command{Command()}}
	err := app.Run([]string{"podd-patterns", "elector", "--election", "e", "--backend", "etcd", "--name", "p", "--socket", filepath.Join(t.TempDir(), "none.sock")})
	if err == nil || !strings.Contains(err.Error(), "--backend etcd: this build of the helpers has no etcd backend: the image "+EtcdImageHint) {
		t.Fatalf("%v, want the refusal naming %s", err, EtcdImageHint)
	}
}
