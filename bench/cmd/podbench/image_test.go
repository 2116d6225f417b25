package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/podd-dev/podd/internal/ociimage"
)

// imageSize counts the layer at its uncompressed size: a file of 3 MiB of zeros compresses to a
// few KiB but is 3 MiB on the host.
func TestImageSize(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 3<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "image.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ociimage.Build(f, ociimage.Scratch("localhost/test/size:1", ociimage.WithFile(big, "/big", 0o755))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	archive, unpacked, err := imageSize(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if unpacked < 3<<20 || unpacked > 3<<20+64<<10 {
		t.Errorf("unpacked = %d, want 3 MiB and a little (the layer's tar headers, config, manifest)", unpacked)
	}
	if archive >= 1<<20 {
		t.Errorf("archive = %d bytes, want far less than the 3 MiB of zeros", archive)
	}
}
