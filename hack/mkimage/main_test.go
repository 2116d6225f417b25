package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/podd-dev/podd/internal/ociimage"
)

func TestArgvFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `["/bin/echo","a b"]`, want: []string{"/bin/echo", "a b"}},
		{in: `/bin/echo a  b`, want: []string{"/bin/echo", "a", "b"}},
		{in: `[]`, want: []string{}},
		{in: `["unterminated"`, wantErr: true},
	}
	for _, tc := range tests {
		var a argvFlag
		err := a.Set(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && !slices.Equal(a.argv, tc.want)) || !a.set {
			t.Errorf("Set(%q) = %q, %v; want %q (error %v)", tc.in, a.argv, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseFileFlag(t *testing.T) {
	for _, bad := range []string{"a", ":b", "a:", "a:b:9", "a:b:c:d"} {
		if _, err := parseFileFlag(bad); err == nil {
			t.Errorf("parseFileFlag(%q) succeeded", bad)
		}
	}
	opt, err := parseFileFlag("/host/x:/usr/bin/x:0750")
	if err != nil {
		t.Fatal(err)
	}
	var s ociimage.Spec
	s.Apply(opt)
	if len(s.Files) != 1 || s.Files[0].Source != "/host/x" || s.Files[0].Path != "/usr/bin/x" || s.Files[0].Mode != 0o750 {
		t.Errorf("file = %+v", s.Files)
	}
}

func TestRun(t *testing.T) {
	if static, err := ociimage.IsStaticELF(ociimage.BusyboxPath); err != nil || !static {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs a static %s: %v", ociimage.BusyboxPath, err)
		}
		t.Skipf("needs a static %s", ociimage.BusyboxPath)
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	var stderr bytes.Buffer
	err := run([]string{"-name", "localhost/podd/echo:1", "-o", out, "-format", "docker",
		"-entrypoint", `["/bin/echo","ep"]`, "-cmd", "cmd", "-stopsignal", "SIGUSR1", "-env", "FOO=bar"}, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name], _ = io.ReadAll(tr)
	}
	var manifests []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &manifests); err != nil || len(manifests) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(files[manifests[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, []string{"/bin/echo", "ep"}) || !slices.Equal(c.Cmd, []string{"cmd"}) ||
		c.StopSignal != "SIGUSR1" || !slices.Contains(c.Env, "FOO=bar") || !slices.Contains(c.Env, ociimage.BusyboxPATH) {
		t.Errorf("config = %+v", c)
	}
	if !strings.Contains(stderr.String(), "wrote "+out) {
		t.Errorf("stderr = %q", stderr.String())
	}
	// No temporary file is left beside the archive.
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("output directory holds %d entries, want only the archive", len(entries))
	}
}
