package contentsync

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Source kinds (--source-kind).
const (
	KindAuto = "auto"
	KindTar  = "tar"
	KindFile = "file"
)

// peekSize is how much of a body is looked at to tell a tar archive (maybe gzipped) from a file.
const peekSize = 64 << 10

var gzipMagic = []byte{0x1f, 0x8b}

// isTarHeader reports whether block (at least 512 bytes) is a tar header: a name and a valid
// checksum (the sum of the header's bytes, its checksum field counted as spaces), which every
// tar format has (v7, ustar, GNU, PAX). An all-zero block is an empty archive's end.
func isTarHeader(block []byte) bool {
	if len(block) < 512 {
		return false
	}
	block = block[:512]
	if bytes.Equal(block, make([]byte, 512)) {
		return true
	}
	field := strings.Trim(string(block[148:156]), " \x00")
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil || block[0] == 0 {
		return false
	}
	var sum uint64
	for i, c := range block {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += uint64(c)
	}
	return sum == want
}

// detect looks at the start of br and tells whether it is a tar archive and whether it is
// gzipped, per kind: KindTar wants a tar (maybe gzipped), KindFile takes the bytes as they are,
// KindAuto a tar when the (gunzipped) start is a tar header, a file otherwise.
func detect(br *bufio.Reader, kind string) (isTar, gz bool, err error) {
	if kind == KindFile {
		return false, false, nil
	}
	head, err := br.Peek(peekSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return false, false, err
	}
	gz = bytes.HasPrefix(head, gzipMagic)
	block := head
	if gz {
		block = nil
		if zr, err := gzip.NewReader(bytes.NewReader(head)); err == nil {
			block, _ = io.ReadAll(io.LimitReader(zr, 512))
		}
	}
	isTar = isTarHeader(block) || (len(head) == 0 && kind == KindTar)
	if kind == KindTar && !isTar {
		return false, false, refused("--source-kind tar: the content is not a tar archive (plain or gzip)")
	}
	return isTar, gz && isTar, nil
}

// extractTar writes the archive's entries into b. Only folders, regular files, symlinks and
// hard links are taken; anything else (devices, FIFOs) refuses the whole archive.
func extractTar(r io.Reader, gz bool, b *Builder) error {
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return refused("gzip: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return badArchive(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = b.Dir(h.Name, h.FileInfo().Mode(), h.ModTime)
		case tar.TypeReg, tar.TypeGNUSparse: // the reader reports an old-style file (TypeRegA) as TypeReg and expands a sparse one
			if b.limits.MaxBytes > 0 && h.Size > b.limits.MaxBytes-b.bytes {
				return refused("entry %q: %d bytes: more than %d bytes of files (--max-bytes)", h.Name, h.Size, b.limits.MaxBytes)
			}
			err = b.File(h.Name, h.FileInfo().Mode(), h.ModTime, tr)
		case tar.TypeSymlink:
			err = b.Symlink(h.Name, h.Linkname)
		case tar.TypeLink:
			err = b.Hardlink(h.Name, h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			return refused("entry %q: a device file", h.Name)
		case tar.TypeXGlobalHeader:
			continue // git archive's commit id: metadata, no file
		case tar.TypeFifo:
			return refused("entry %q: a FIFO", h.Name)
		default:
			return refused("entry %q: unsupported tar entry type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			return badArchive(err)
		}
	}
}

// badArchive makes a broken archive (truncated, bad header, bad gzip) a refusal; a failure to
// read the body (network) or to write (disk) stays a failure.
func badArchive(err error) error {
	var te *transportError
	if IsRefused(err) || errors.As(err, &te) {
		return err
	}
	switch {
	case errors.Is(err, tar.ErrHeader), errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, tar.ErrFieldTooLong), errors.Is(err, tar.ErrInsecurePath):
		return refused("broken archive: %v", err)
	}
	return fmt.Errorf("archive: %w", err)
}

// transportError is a failure to read the source (a dropped connection), never the content's
// fault: it is retried at the next period.
type transportError struct{ err error }

func (e *transportError) Error() string { return "read: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// transportReader marks r's read errors as transport errors.
type transportReader struct{ r io.Reader }

func (t transportReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = &transportError{err}
	}
	return n, err
}
