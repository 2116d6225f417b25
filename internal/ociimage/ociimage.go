// Package ociimage writes container image archives from files on the host, without Docker or a
// registry: an OCI image layout tar, or a `docker save` tar, holding one image of one gzip'd layer.
// podd's tests and the README's quick start build their images with it, because this project must
// work where no registry is reachable.
//
// Archives are deterministic: every timestamp is Spec.Created (the Unix epoch by default), entries
// are sorted and owned by the IDs the Spec gives, so one Spec built twice with the same Go toolchain
// yields the same bytes and the same digests.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format is the layout of an image archive.
type Format string

const (
	// FormatOCI is an OCI image layout (oci-layout, index.json, blobs/sha256/…) in a tar.
	FormatOCI Format = "oci"
	// FormatDocker is the tar that `docker save` writes: manifest.json with RepoTags, the config
	// as <hex>.json and the layer, uncompressed, as <hex>/layer.tar.
	FormatDocker Format = "docker"
)

// ParseFormat parses "oci" or "docker".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatOCI, FormatDocker:
		return f, nil
	}
	return "", fmt.Errorf("unknown archive format %q (want %q or %q)", s, FormatOCI, FormatDocker)
}

// AnnotationImageName is the annotation containerd's importer names an image by
// (images.AnnotationImageName); declared here so that this package needs no containerd import.
const AnnotationImageName = "io.containerd.image.name"

// File is a regular file in the image.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Source is the host file to copy. When empty, Content is the file's content.
	Source  string
	Content []byte
	// Mode holds the permission bits, plus fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky (or
	// their Unix values 0o4000, 0o2000, 0o1000). Zero means the source file's permissions, or 0644 for Content.
	Mode     fs.FileMode
	UID, GID int
}

// Symlink is a symbolic link in the image.
type Symlink struct {
	Path   string // absolute path in the image
	Target string // as stored in the link: relative to the link's directory, or absolute
}

// Dir is a directory in the image. Parents of every entry are created with mode 0755 and owner 0
// unless a Dir says otherwise.
type Dir struct {
	Path     string
	Mode     fs.FileMode // zero means 0755
	UID, GID int
}

// Spec describes one image.
type Spec struct {
	// Name is the image's reference. It is normalized as Docker does (busybox becomes
	// docker.io/library/busybox:latest); it must carry no digest.
	Name   string
	Format Format // zero means FormatOCI

	// The layer. When a path appears more than once, Files win over Symlinks, Symlinks over Dirs,
	// and within one list the last entry wins, so options can replace what a helper put there.
	Files    []File
	Symlinks []Symlink
	Dirs     []Dir

	// The image config, with the meaning of the Dockerfile instructions of the same names.
	Entrypoint   []string
	Cmd          []string
	Env          []string // KEY=VALUE
	WorkingDir   string
	User         string
	StopSignal   string
	ExposedPorts []string // "8080/tcp", "53/udp"; a bare number means tcp
	Labels       map[string]string

	// Created is the config's creation time and every file's mtime; zero means the Unix epoch.
	Created time.Time
	// Architecture is the image's GOARCH; empty means the one this program was built for.
	Architecture string
}

// Option changes a Spec; the With… functions below mirror the Dockerfile instructions.
type Option func(*Spec)

// Apply applies options in order.
func (s *Spec) Apply(opts ...Option) {
	for _, o := range opts {
		o(s)
	}
}

// WithFormat sets the archive format.
func WithFormat(f Format) Option { return func(s *Spec) { s.Format = f } }

// WithFile copies the host file src to dst in the image (mode 0: the host file's permissions).
func WithFile(src, dst string, mode fs.FileMode) Option {
	return func(s *Spec) { s.Files = append(s.Files, File{Path: dst, Source: src, Mode: mode}) }
}

// WithContent writes data to dst in the image (mode 0: 0644).
func WithContent(dst string, data []byte, mode fs.FileMode) Option {
	return func(s *Spec) { s.Files = append(s.Files, File{Path: dst, Content: data, Mode: mode}) }
}

// WithSymlink adds a symbolic link at path pointing to target.
func WithSymlink(path, target string) Option {
	return func(s *Spec) { s.Symlinks = append(s.Symlinks, Symlink{Path: path, Target: target}) }
}

// WithDir adds a directory.
func WithDir(path string, mode fs.FileMode, uid, gid int) Option {
	return func(s *Spec) { s.Dirs = append(s.Dirs, Dir{Path: path, Mode: mode, UID: uid, GID: gid}) }
}

// WithEntrypoint sets ENTRYPOINT and, as a Dockerfile's ENTRYPOINT does over a base image, clears
// CMD: add WithCmd after it to set one.
func WithEntrypoint(args ...string) Option {
	return func(s *Spec) { s.Entrypoint, s.Cmd = slices.Clone(args), nil }
}

// WithCmd sets CMD.
func WithCmd(args ...string) Option { return func(s *Spec) { s.Cmd = slices.Clone(args) } }

// WithWorkingDir sets WORKDIR.
func WithWorkingDir(dir string) Option { return func(s *Spec) { s.WorkingDir = dir } }

// WithUser sets USER (name, uid, or user:group).
func WithUser(user string) Option { return func(s *Spec) { s.User = user } }

// WithStopSignal sets STOPSIGNAL (SIGUSR1, or a number).
func WithStopSignal(sig string) Option { return func(s *Spec) { s.StopSignal = sig } }

// WithEnv sets environment variables (KEY=VALUE); a key already set is replaced in place.
func WithEnv(kvs ...string) Option {
	return func(s *Spec) {
		for _, kv := range kvs {
			key, _, _ := strings.Cut(kv, "=")
			i := slices.IndexFunc(s.Env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
			if i >= 0 {
				s.Env[i] = kv
			} else {
				s.Env = append(s.Env, kv)
			}
		}
	}
}

// WithLabel sets a LABEL.
func WithLabel(key, value string) Option {
	return func(s *Spec) {
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[key] = value
	}
}

// WithExposedPort adds an EXPOSE ("8080/tcp").
func WithExposedPort(port string) Option {
	return func(s *Spec) { s.ExposedPorts = append(s.ExposedPorts, port) }
}

// Build writes the image archive that img describes to w.
func Build(w io.Writer, img Spec) error {
	named, err := NormalizeName(img.Name)
	if err != nil {
		return err
	}
	format := img.Format
	if format == "" {
		format = FormatOCI
	}
	if _, err := ParseFormat(string(format)); err != nil {
		return err
	}
	created := img.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC().Truncate(time.Second)

	layerTar, err := buildLayer(img, created)
	if err != nil {
		return err
	}
	diffID := digest.FromBytes(layerTar)

	configJSON, err := buildConfig(img, created, diffID)
	if err != nil {
		return err
	}

	out := &archiveWriter{tw: tar.NewWriter(w), mtime: created}
	switch format {
	case FormatOCI:
		err = writeOCI(out, named, img, configJSON, layerTar)
	case FormatDocker:
		err = writeDocker(out, named, configJSON, layerTar, diffID)
	}
	if err != nil {
		return err
	}
	if err := out.tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// NormalizeName returns the reference an image named name gets in containerd
// (docker.io/library/busybox:latest for busybox). A digest is refused: an archive cannot name its
// own content by a digest it does not know yet.
func NormalizeName(name string) (reference.NamedTagged, error) {
	if name == "" {
		return nil, errors.New("image name is empty")
	}
	named, err := reference.ParseDockerRef(name)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", name, err)
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("image name %q: a digest cannot name an image being built", name)
	}
	return tagged, nil
}

func platformOf(img Spec) ocispec.Platform {
	arch := img.Architecture
	if arch == "" {
		arch = runtime.GOARCH
	}
	return ocispec.Platform{OS: "linux", Architecture: arch}
}

func buildConfig(img Spec, created time.Time, diffID digest.Digest) ([]byte, error) {
	for _, kv := range img.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("env %q: want KEY=VALUE", kv)
		}
	}
	var ports map[string]struct{}
	for _, p := range img.ExposedPorts {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if ports == nil {
			ports = map[string]struct{}{}
		}
		ports[p] = struct{}{}
	}
	cfg := ocispec.Image{
		Created:  &created,
		Platform: platformOf(img),
		Config: ocispec.ImageConfig{
			User:         img.User,
			ExposedPorts: ports,
			Env:          img.Env,
			Entrypoint:   img.Entrypoint,
			Cmd:          img.Cmd,
			WorkingDir:   img.WorkingDir,
			Labels:       img.Labels,
			StopSignal:   img.StopSignal,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{
			Created:   &created,
			CreatedBy: "podd internal/ociimage",
		}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode image config: %w", err)
	}
	return b, nil
}

func writeOCI(out *archiveWriter, named reference.NamedTagged, img Spec, configJSON, layerTar []byte) error {
	layerGz, err := gzipBytes(layerTar)
	if err != nil {
		return err
	}
	configDesc := descriptorOf(ocispec.MediaTypeImageConfig, configJSON)
	layerDesc := descriptorOf(ocispec.MediaTypeImageLayerGzip, layerGz)
	manifestJSON, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	manifestDesc := descriptorOf(ocispec.MediaTypeImageManifest, manifestJSON)
	platform := platformOf(img)
	manifestDesc.Platform = &platform
	manifestDesc.Annotations = map[string]string{
		// containerd names the image by the first; other OCI tools read the second.
		AnnotationImageName:       named.String(),
		ocispec.AnnotationRefName: named.String(),
	}
	indexJSON, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	})
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("encode oci-layout: %w", err)
	}

	out.file(ocispec.ImageLayoutFile, layoutJSON)
	out.file("index.json", indexJSON)
	out.dir("blobs/")
	out.dir("blobs/sha256/")
	blobs := [][]byte{configJSON, layerGz, manifestJSON}
	slices.SortFunc(blobs, func(a, b []byte) int { return strings.Compare(hexDigest(a), hexDigest(b)) })
	for _, b := range blobs {
		out.file("blobs/sha256/"+hexDigest(b), b)
	}
	return out.err
}

func writeDocker(out *archiveWriter, named reference.NamedTagged, configJSON, layerTar []byte, diffID digest.Digest) error {
	configName := hexDigest(configJSON) + ".json"
	layerDir := diffID.Encoded()
	familiar := reference.FamiliarString(named)
	manifestJSON, err := json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{
		Config:   configName,
		RepoTags: []string{familiar},
		Layers:   []string{layerDir + "/layer.tar"},
	}})
	if err != nil {
		return fmt.Errorf("encode manifest.json: %w", err)
	}
	repositoriesJSON, err := json.Marshal(map[string]map[string]string{
		reference.FamiliarName(named): {named.Tag(): layerDir},
	})
	if err != nil {
		return fmt.Errorf("encode repositories: %w", err)
	}
	out.file(configName, configJSON)
	out.dir(layerDir + "/")
	out.file(layerDir+"/VERSION", []byte("1.0"))
	out.file(layerDir+"/layer.tar", layerTar)
	out.file("manifest.json", manifestJSON)
	out.file("repositories", repositoriesJSON)
	return out.err
}

func descriptorOf(mediaType string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func hexDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	// A zero gzip header (no name, no mtime) keeps the digest a function of the content alone.
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	return buf.Bytes(), nil
}

// archiveWriter writes the outer archive's entries and keeps the first error.
type archiveWriter struct {
	tw    *tar.Writer
	mtime time.Time
	err   error
}

func (a *archiveWriter) dir(name string) {
	a.write(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: a.mtime}, nil)
}

func (a *archiveWriter) file(name string, data []byte) {
	a.write(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: a.mtime}, data)
}

func (a *archiveWriter) write(hdr *tar.Header, data []byte) {
	if a.err != nil {
		return
	}
	if err := a.tw.WriteHeader(hdr); err != nil {
		a.err = fmt.Errorf("write archive entry %s: %w", hdr.Name, err)
		return
	}
	if _, err := a.tw.Write(data); err != nil {
		a.err = fmt.Errorf("write archive entry %s: %w", hdr.Name, err)
	}
}

// layerEntry is one entry of the layer, keyed by its clean path without the leading slash.
type layerEntry struct {
	hdr  tar.Header
	data []byte
}

// buildLayer returns the uncompressed layer tar.
func buildLayer(img Spec, mtime time.Time) ([]byte, error) {
	entries := map[string]*layerEntry{}
	// Precedence: Dirs, then Symlinks, then Files; a later entry replaces an earlier one.
	for _, d := range img.Dirs {
		p, err := layerPath(d.Path)
		if err != nil {
			return nil, err
		}
		if p == "" { // the root itself needs no entry
			continue
		}
		mode := d.Mode
		if mode == 0 {
			mode = 0o755
		}
		entries[p] = &layerEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: tarMode(mode), Uid: d.UID, Gid: d.GID}}
	}
	for _, s := range img.Symlinks {
		p, err := layerPath(s.Path)
		if err != nil {
			return nil, err
		}
		if p == "" || s.Target == "" {
			return nil, fmt.Errorf("symlink %q -> %q: path and target must not be empty", s.Path, s.Target)
		}
		entries[p] = &layerEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: s.Target, Mode: 0o777}}
	}
	for _, f := range img.Files {
		p, err := layerPath(f.Path)
		if err != nil {
			return nil, err
		}
		if p == "" {
			return nil, fmt.Errorf("file %q: not a file path", f.Path)
		}
		data, mode := f.Content, f.Mode
		if f.Source != "" {
			fi, err := os.Stat(f.Source)
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", f.Path, err)
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("file %s: source %s is not a regular file", f.Path, f.Source)
			}
			if data, err = os.ReadFile(f.Source); err != nil {
				return nil, fmt.Errorf("file %s: %w", f.Path, err)
			}
			if mode == 0 {
				mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			}
		}
		if mode == 0 {
			mode = 0o644
		}
		entries[p] = &layerEntry{
			hdr:  tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: tarMode(mode), Size: int64(len(data)), Uid: f.UID, Gid: f.GID},
			data: data,
		}
	}
	// Every parent must exist, and be a directory, before its children.
	for _, p := range slices.Sorted(maps.Keys(entries)) {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			parent, ok := entries[dir]
			if !ok {
				entries[dir] = &layerEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}}
				continue
			}
			if parent.hdr.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("/%s: parent /%s is not a directory", p, dir)
			}
		}
	}
	// A parent is a prefix of its children, so plain sorting puts it first.
	names := slices.Sorted(maps.Keys(entries))

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := entries[p]
		e.hdr.ModTime = mtime
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, fmt.Errorf("layer entry /%s: %w", p, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry /%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// layerPath turns an absolute image path into a tar name ("" for the root).
func layerPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("path %q in image must be absolute", p)
	}
	return strings.TrimPrefix(path.Clean(p), "/"), nil
}

// tarMode converts Go's file mode bits to the Unix bits a tar header carries. Unix's own
// setuid/setgid/sticky bits (0o7000, which fs.FileMode leaves unused) are taken too, so that
// Mode: 0o1777 means what it says.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm()) | int64(m&0o7000)
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
