package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/content/local"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/images/archive"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// entry is one entry of a tar, as read back.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// readTar reads every entry of a tar, in order.
func readTar(t *testing.T, b []byte) ([]string, map[string]entry) {
	t.Helper()
	var names []string
	entries := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names, entries
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar entry %s: %v", hdr.Name, err)
		}
		if _, dup := entries[hdr.Name]; dup {
			t.Errorf("tar entry %s appears twice", hdr.Name)
		}
		names = append(names, hdr.Name)
		entries[hdr.Name] = entry{hdr: hdr, data: data}
	}
}

func decodeJSON(t *testing.T, name string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v\n%s", name, err, b)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gunzip layer: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip layer: %v", err)
	}
	return out
}

func build(t *testing.T, s Spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(&buf, s); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return buf.Bytes()
}

// testSpec is an image of a host file, inline files, a symlink and directories, with every
// config field set.
func testSpec(t *testing.T) Spec {
	t.Helper()
	src := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho tool\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Name: "localhost/podd/test:1.0",
		Files: []File{
			{Path: "/usr/local/bin/tool", Source: src},
			{Path: "/etc/motd", Content: []byte("hello\n")},
			{Path: "/srv/data/secret", Content: []byte("s3cret"), Mode: 0o600, UID: 1000, GID: 1000},
		},
		Symlinks:     []Symlink{{Path: "/bin/tool", Target: "/usr/local/bin/tool"}},
		Dirs:         []Dir{{Path: "/tmp", Mode: 0o1777}, {Path: "/srv/data", Mode: 0o700, UID: 1000, GID: 1000}},
		Entrypoint:   []string{"/bin/tool"},
		Cmd:          []string{"--flag"},
		Env:          []string{"PATH=/bin", "FOO=bar"},
		WorkingDir:   "/srv",
		User:         "1000:1000",
		StopSignal:   "SIGUSR1",
		ExposedPorts: []string{"8080", "53/udp"},
		Labels:       map[string]string{"org.example": "yes"},
	}
}

func TestBuildOCI(t *testing.T) {
	archiveBytes := build(t, testSpec(t))
	names, entries := readTar(t, archiveBytes)

	layout, ok := entries[ocispec.ImageLayoutFile]
	if !ok {
		t.Fatalf("no %s in %v", ocispec.ImageLayoutFile, names)
	}
	var il ocispec.ImageLayout
	decodeJSON(t, "oci-layout", layout.data, &il)
	if il.Version != ocispec.ImageLayoutVersion {
		t.Errorf("oci-layout version = %q, want %q", il.Version, ocispec.ImageLayoutVersion)
	}

	// Every blob is stored under its own digest.
	blob := func(d ocispec.Descriptor) []byte {
		t.Helper()
		e, ok := entries["blobs/sha256/"+d.Digest.Encoded()]
		if !ok {
			t.Fatalf("blob %s missing from archive %v", d.Digest, names)
		}
		if got := digest.FromBytes(e.data); got != d.Digest {
			t.Fatalf("blob %s has digest %s", d.Digest, got)
		}
		if int64(len(e.data)) != d.Size {
			t.Fatalf("blob %s has size %d, descriptor says %d", d.Digest, len(e.data), d.Size)
		}
		return e.data
	}
	for name, e := range entries {
		if strings.HasPrefix(name, "blobs/sha256/") && e.hdr.Typeflag == tar.TypeReg {
			if got := digest.FromBytes(e.data).Encoded(); "blobs/sha256/"+got != name {
				t.Errorf("blob %s has digest %s", name, got)
			}
		}
	}

	var idx ocispec.Index
	decodeJSON(t, "index.json", entries["index.json"].data, &idx)
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) != 1 {
		t.Fatalf("index.json = %+v, want one manifest in a schema 2 index", idx)
	}
	md := idx.Manifests[0]
	for _, key := range []string{AnnotationImageName, ocispec.AnnotationRefName} {
		if got := md.Annotations[key]; got != "localhost/podd/test:1.0" {
			t.Errorf("index.json annotation %s = %q, want the full reference", key, got)
		}
	}
	if md.MediaType != ocispec.MediaTypeImageManifest || md.Platform == nil || md.Platform.OS != "linux" {
		t.Errorf("manifest descriptor = %+v, want an OCI manifest for linux", md)
	}

	var m ocispec.Manifest
	decodeJSON(t, "manifest", blob(md), &m)
	if m.Config.MediaType != ocispec.MediaTypeImageConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("manifest = %+v, want an OCI config and one gzip'd layer", m)
	}

	var cfg ocispec.Image
	decodeJSON(t, "config", blob(m.Config), &cfg)
	layer := gunzip(t, blob(m.Layers[0]))
	if want := []digest.Digest{digest.FromBytes(layer)}; !slices.Equal(cfg.RootFS.DiffIDs, want) {
		t.Errorf("diff_ids = %v, want %v (the uncompressed layer's digest)", cfg.RootFS.DiffIDs, want)
	}
	checkConfig(t, cfg)
	checkLayer(t, layer)
}

func checkConfig(t *testing.T, cfg ocispec.Image) {
	t.Helper()
	c := cfg.Config
	checks := []struct {
		field     string
		got, want any
	}{
		{"Entrypoint", c.Entrypoint, []string{"/bin/tool"}},
		{"Cmd", c.Cmd, []string{"--flag"}},
		{"Env", c.Env, []string{"PATH=/bin", "FOO=bar"}},
		{"WorkingDir", c.WorkingDir, "/srv"},
		{"User", c.User, "1000:1000"},
		{"StopSignal", c.StopSignal, "SIGUSR1"},
		{"ExposedPorts", c.ExposedPorts, map[string]struct{}{"8080/tcp": {}, "53/udp": {}}},
		{"Labels", c.Labels, map[string]string{"org.example": "yes"}},
		{"OS", cfg.OS, "linux"},
		{"RootFS.Type", cfg.RootFS.Type, "layers"},
	}
	for _, ch := range checks {
		gotJSON, _ := json.Marshal(ch.got)
		wantJSON, _ := json.Marshal(ch.want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("config %s = %s, want %s", ch.field, gotJSON, wantJSON)
		}
	}
	if cfg.Created == nil || !cfg.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("config created = %v, want the Unix epoch", cfg.Created)
	}
}

func checkLayer(t *testing.T, layer []byte) {
	t.Helper()
	names, entries := readTar(t, layer)
	want := []string{
		"bin/", "bin/tool", "etc/", "etc/motd", "srv/", "srv/data/", "srv/data/secret", "tmp/",
		"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/tool",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("layer entries = %q, want %q", names, want)
	}
	tests := []struct {
		name     string
		typ      byte
		mode     int64
		uid      int
		linkname string
		data     string
	}{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/tool", typ: tar.TypeSymlink, mode: 0o777, linkname: "/usr/local/bin/tool"},
		{name: "etc/motd", typ: tar.TypeReg, mode: 0o644, data: "hello\n"},
		{name: "srv/data/", typ: tar.TypeDir, mode: 0o700, uid: 1000},
		{name: "srv/data/secret", typ: tar.TypeReg, mode: 0o600, uid: 1000, data: "s3cret"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "usr/local/bin/tool", typ: tar.TypeReg, mode: 0o750, data: "#!/bin/sh\necho tool\n"},
	}
	for _, tc := range tests {
		e := entries[tc.name]
		h := e.hdr
		if h.Typeflag != tc.typ || h.Mode != tc.mode || h.Uid != tc.uid || h.Gid != tc.uid || h.Linkname != tc.linkname || string(e.data) != tc.data {
			t.Errorf("layer entry %s = type %c mode %o uid %d gid %d link %q data %q, want type %c mode %o uid/gid %d link %q data %q",
				tc.name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, e.data, tc.typ, tc.mode, tc.uid, tc.linkname, tc.data)
		}
	}
	for _, name := range names {
		if mt := entries[name].hdr.ModTime; !mt.Equal(time.Unix(0, 0)) {
			t.Errorf("layer entry %s has mtime %v, want the Unix epoch", name, mt)
		}
	}
}

func TestBuildDocker(t *testing.T) {
	s := testSpec(t)
	s.Format = FormatDocker
	_, entries := readTar(t, build(t, s))

	var manifests []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	decodeJSON(t, "manifest.json", entries["manifest.json"].data, &manifests)
	if len(manifests) != 1 || len(manifests[0].Layers) != 1 {
		t.Fatalf("manifest.json = %+v, want one image of one layer", manifests)
	}
	m := manifests[0]
	if !slices.Equal(m.RepoTags, []string{"localhost/podd/test:1.0"}) {
		t.Errorf("RepoTags = %q, want [localhost/podd/test:1.0]", m.RepoTags)
	}
	configBytes, ok := entries[m.Config]
	if !ok {
		t.Fatalf("config %s missing", m.Config)
	}
	if want := digest.FromBytes(configBytes.data).Encoded() + ".json"; m.Config != want {
		t.Errorf("config file %s, want %s (named by its digest)", m.Config, want)
	}
	var cfg ocispec.Image
	decodeJSON(t, m.Config, configBytes.data, &cfg)
	checkConfig(t, cfg)
	layer, ok := entries[m.Layers[0]]
	if !ok {
		t.Fatalf("layer %s missing", m.Layers[0])
	}
	if want := []digest.Digest{digest.FromBytes(layer.data)}; !slices.Equal(cfg.RootFS.DiffIDs, want) {
		t.Errorf("diff_ids = %v, want %v", cfg.RootFS.DiffIDs, want)
	}
	checkLayer(t, layer.data)

	var repos map[string]map[string]string
	decodeJSON(t, "repositories", entries["repositories"].data, &repos)
	if repos["localhost/podd/test"]["1.0"] == "" {
		t.Errorf("repositories = %v, want localhost/podd/test 1.0", repos)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	s := testSpec(t)
	for _, f := range []Format{FormatOCI, FormatDocker} {
		s.Format = f
		if a, b := build(t, s), build(t, s); !bytes.Equal(a, b) {
			t.Errorf("%s: two builds of one spec differ", f)
		}
	}
}

// TestImportIntoContainerd feeds both formats to the importer that containerd's client.Import uses,
// with a local content store in place of a daemon, and checks that it names the image and finds the
// same config in both.
func TestImportIntoContainerd(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		format   Format
		name     string
		wantName string
	}{
		{FormatOCI, "localhost/podd/test:1.0", "localhost/podd/test:1.0"},
		{FormatDocker, "localhost/podd/test:1.0", "localhost/podd/test:1.0"},
		{FormatOCI, "busybox", "docker.io/library/busybox:latest"},
		{FormatDocker, "busybox", "docker.io/library/busybox:latest"},
	}
	configs := map[string]digest.Digest{}
	for _, tc := range tests {
		t.Run(string(tc.format)+"/"+tc.name, func(t *testing.T) {
			s := testSpec(t)
			s.Name, s.Format = tc.name, tc.format
			store, err := local.NewStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			idxDesc, err := archive.ImportIndex(ctx, store, bytes.NewReader(build(t, s)))
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			idxBytes, err := content.ReadBlob(ctx, store, idxDesc)
			if err != nil {
				t.Fatal(err)
			}
			var idx ocispec.Index
			decodeJSON(t, "index", idxBytes, &idx)
			if len(idx.Manifests) != 1 {
				t.Fatalf("imported index has %d manifests, want 1", len(idx.Manifests))
			}
			if got := idx.Manifests[0].Annotations[images.AnnotationImageName]; got != tc.wantName {
				t.Errorf("imported image name = %q, want %q", got, tc.wantName)
			}
			manifest, err := images.Manifest(ctx, store, idx.Manifests[0], platforms.Default())
			if err != nil {
				t.Fatalf("resolve manifest for %s: %v", platforms.DefaultString(), err)
			}
			configs[string(tc.format)+tc.name] = manifest.Config.Digest
			if len(manifest.Layers) != 1 {
				t.Errorf("manifest has %d layers, want 1", len(manifest.Layers))
			}
		})
	}
	if configs["ocilocalhost/podd/test:1.0"] != configs["dockerlocalhost/podd/test:1.0"] {
		t.Errorf("config digests differ between formats: %v", configs)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Spec)
		wantErr string
	}{
		{"empty name", func(s *Spec) { s.Name = "" }, "image name is empty"},
		{"digest name", func(s *Spec) {
			s.Name = "localhost/x@sha256:" + strings.Repeat("a", 64)
		}, "a digest cannot name"},
		{"bad name", func(s *Spec) { s.Name = "Upper/Case" }, `image name "Upper/Case"`},
		{"bad format", func(s *Spec) { s.Format = "tgz" }, `unknown archive format "tgz"`},
		{"relative path", func(s *Spec) { s.Files[0].Path = "etc/x" }, `path "etc/x" in image must be absolute`},
		{"missing source", func(s *Spec) { s.Files[0].Source = "/nonexistent/file" }, "/nonexistent/file"},
		{"directory source", func(s *Spec) { s.Files[0].Source = "/" }, "is not a regular file"},
		{"file as parent", func(s *Spec) {
			s.Files = append(s.Files, File{Path: "/etc/motd/inner", Content: []byte("x")})
		}, "parent /etc/motd is not a directory"},
		{"empty symlink target", func(s *Spec) { s.Symlinks[0].Target = "" }, "must not be empty"},
		{"env without =", func(s *Spec) { s.Env = []string{"FOO"} }, `env "FOO"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(t)
			tc.mutate(&s)
			err := Build(io.Discard, s)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Build error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLaterEntriesWin(t *testing.T) {
	s := Spec{
		Name:     "localhost/podd/test:1",
		Dirs:     []Dir{{Path: "/bin/x"}},
		Symlinks: []Symlink{{Path: "/bin/x", Target: "busybox"}, {Path: "/bin/y", Target: "busybox"}},
		Files:    []File{{Path: "/bin/x", Content: []byte("one")}, {Path: "/bin/x", Content: []byte("two")}},
	}
	s.Format = FormatDocker
	_, entries := readTar(t, build(t, s))
	var manifests []struct{ Layers []string }
	decodeJSON(t, "manifest.json", entries["manifest.json"].data, &manifests)
	_, layer := readTar(t, entries[manifests[0].Layers[0]].data)
	if e := layer["bin/x"]; e.hdr == nil || e.hdr.Typeflag != tar.TypeReg || string(e.data) != "two" {
		t.Errorf("/bin/x = %+v, want the last file", e)
	}
	if e := layer["bin/y"]; e.hdr == nil || e.hdr.Typeflag != tar.TypeSymlink {
		t.Errorf("/bin/y = %+v, want the symlink", e)
	}
}

func TestOptions(t *testing.T) {
	s := Spec{Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "A=1"}}
	s.Apply(
		WithEntrypoint("/bin/echo", "ep"),
		WithEnv("A=2", "B=3"),
		WithStopSignal("SIGUSR1"),
		WithWorkingDir("/tmp"),
		WithUser("podd"),
		WithLabel("k", "v"),
		WithExposedPort("80"),
		WithFile("/host/x", "/x", 0o755),
		WithFormat(FormatDocker),
	)
	if s.Cmd != nil {
		t.Errorf("Cmd = %q after WithEntrypoint, want it cleared as a Dockerfile ENTRYPOINT does", s.Cmd)
	}
	s.Apply(WithCmd("cmd"))
	if !slices.Equal(s.Entrypoint, []string{"/bin/echo", "ep"}) || !slices.Equal(s.Cmd, []string{"cmd"}) {
		t.Errorf("Entrypoint, Cmd = %q, %q", s.Entrypoint, s.Cmd)
	}
	if !slices.Equal(s.Env, []string{"PATH=/bin", "A=2", "B=3"}) {
		t.Errorf("Env = %q, want A replaced in place and B appended", s.Env)
	}
	if s.StopSignal != "SIGUSR1" || s.WorkingDir != "/tmp" || s.User != "podd" || s.Labels["k"] != "v" ||
		!slices.Equal(s.ExposedPorts, []string{"80"}) || s.Format != FormatDocker ||
		len(s.Files) != 1 || s.Files[0].Path != "/x" || s.Files[0].Source != "/host/x" || s.Files[0].Mode != 0o755 {
		t.Errorf("spec after options = %+v", s)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"oci": FormatOCI, "OCI": FormatOCI, "docker": FormatDocker} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("tar"); err == nil {
		t.Error("ParseFormat(tar) succeeded")
	}
}

func TestNormalizeName(t *testing.T) {
	tests := map[string]string{
		"busybox":                     "docker.io/library/busybox:latest",
		"busybox:1.35":                "docker.io/library/busybox:1.35",
		"localhost/podd/busybox":      "localhost/podd/busybox:latest",
		"localhost/podd/busybox:1.35": "localhost/podd/busybox:1.35",
		"registry:5000/a/b:c":         "registry:5000/a/b:c",
	}
	for in, want := range tests {
		got, err := NormalizeName(in)
		if err != nil || got.String() != want {
			t.Errorf("NormalizeName(%q) = %v, %v; want %q", in, got, err, want)
		}
	}
}

// requireBusybox skips a test that needs the host's static busybox where it is absent, except under
// CI=true, where a missing prerequisite must fail.
func requireBusybox(t *testing.T) {
	t.Helper()
	static, err := IsStaticELF(BusyboxPath)
	if err == nil && static {
		return
	}
	msg := "needs a static " + BusyboxPath + " (apt-get install busybox-static)"
	if err != nil {
		msg += ": " + err.Error()
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func TestBusybox(t *testing.T) {
	requireBusybox(t)
	s, err := Busybox("localhost/podd/busybox:1.35", WithStopSignal("SIGUSR1"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Cmd, []string{"sh"}) || !slices.Equal(s.Env, []string{BusyboxPATH}) || s.StopSignal != "SIGUSR1" {
		t.Errorf("busybox config: Cmd %q Env %q StopSignal %q", s.Cmd, s.Env, s.StopSignal)
	}
	s.Format = FormatDocker
	_, entries := readTar(t, build(t, s))
	var manifests []struct{ Layers []string }
	decodeJSON(t, "manifest.json", entries["manifest.json"].data, &manifests)
	_, layer := readTar(t, entries[manifests[0].Layers[0]].data)

	host, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if bb := layer["bin/busybox"]; bb.hdr == nil || !bytes.Equal(bb.data, host) || bb.hdr.Mode != 0o755 {
		t.Errorf("/bin/busybox is not the host's busybox with mode 0755")
	}
	for _, applet := range []string{"sh", "echo", "sleep", "id", "["} {
		if l := layer["bin/"+applet]; l.hdr == nil || l.hdr.Typeflag != tar.TypeSymlink || l.hdr.Linkname != "busybox" {
			t.Errorf("/bin/%s is not a symlink to busybox", applet)
		}
	}
	if tmp := layer["tmp/"]; tmp.hdr == nil || tmp.hdr.Mode != 0o1777 {
		t.Errorf("/tmp is not a directory with mode 1777")
	}
	for _, dir := range []string{"etc/", "root/", "var/www/", "home/podd/"} {
		if d := layer[dir]; d.hdr == nil || d.hdr.Typeflag != tar.TypeDir {
			t.Errorf("/%s is missing", dir)
		}
	}
	for file, want := range map[string][]string{
		"etc/passwd": {"root:x:0:0:", "podd:x:1000:1000:", "nobody:x:65534:65534:"},
		"etc/group":  {"root:x:0:", "podd:x:1000:", "nobody:x:65534:"},
	} {
		for _, line := range want {
			if !strings.Contains(string(layer[file].data), "\n"+line) && !strings.HasPrefix(string(layer[file].data), line) {
				t.Errorf("/%s has no line starting %q:\n%s", file, line, layer[file].data)
			}
		}
	}
}

func TestIsStaticELF(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IsStaticELF(exe); err != nil {
		t.Errorf("IsStaticELF(test binary): %v", err)
	}
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), fs.FileMode(0o755)); err != nil {
		t.Fatal(err)
	}
	if _, err := IsStaticELF(notELF); err == nil {
		t.Error("IsStaticELF(shell script) succeeded")
	}
}
