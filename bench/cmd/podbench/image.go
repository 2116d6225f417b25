package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// imageSize measures an OCI image archive: its file size, and the image's size unpacked — every
// blob, gzip-compressed layers counted at their uncompressed size (what the snapshot holds).
func imageSize(path string) (archive, unpacked int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", path, err)
		}
		if hdr.Typeflag != tar.TypeReg || !strings.HasPrefix(hdr.Name, "blobs/") {
			continue
		}
		br := bufio.NewReader(tr)
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			zr, err := gzip.NewReader(br)
			if err != nil {
				return 0, 0, fmt.Errorf("%s in %s: %w", hdr.Name, path, err)
			}
			n, err := io.Copy(io.Discard, zr)
			if err != nil {
				return 0, 0, fmt.Errorf("%s in %s: %w", hdr.Name, path, err)
			}
			unpacked += n
			continue
		}
		unpacked += hdr.Size
	}
	return st.Size(), unpacked, nil
}
