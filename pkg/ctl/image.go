package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// ImageImportOptions are podctl image import's.
type ImageImportOptions struct {
	// File is the archive's path, or "-" for stdin.
	File   string
	Output Format
}

// ImageImport imports the images of an archive and prints their names.
func ImageImport(ctx context.Context, c *api.Client, o ImageImportOptions, s Streams) error {
	r := s.In
	if o.File != "-" {
		f, err := os.Open(o.File)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	imported, err := c.ImportImage(ctx, r)
	if err != nil {
		return err
	}
	return printImageNames(s.Out, o.Output, imported)
}

func printImageNames(w io.Writer, f Format, images []pod.Image) error {
	if f.structured() {
		return Print(w, f, api.ImageList{Items: nonNilImages(images)}, nil)
	}
	for _, img := range images {
		fmt.Fprintln(w, img.Name)
	}
	return nil
}

func nonNilImages(images []pod.Image) []pod.Image {
	if images == nil {
		return []pod.Image{}
	}
	return images
}

// ImageListOptions are podctl image ls'.
type ImageListOptions struct {
	Output Format
}

// ImageList lists images: NAME DIGEST SIZE CREATED.
func ImageList(ctx context.Context, c *api.Client, o ImageListOptions, s Streams) error {
	images, err := c.ListImages(ctx)
	if err != nil {
		return err
	}
	return Print(s.Out, o.Output, api.ImageList{Items: nonNilImages(images)}, func(wide bool) Table {
		t := Table{Header: []string{"NAME", "DIGEST", "SIZE", "CREATED"}}
		for _, img := range images {
			t.Rows = append(t.Rows, []string{img.Name, img.Digest, humanSize(img.Size), createdString(img.CreatedAt)})
		}
		return t
	})
}

func createdString(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return age(&t) + " ago"
}

// ImagePullOptions are podctl image pull's.
type ImagePullOptions struct {
	Ref    string
	Output Format
}

// ImagePull pulls an image and prints its name.
func ImagePull(ctx context.Context, c *api.Client, o ImagePullOptions, s Streams) error {
	img, err := c.PullImage(ctx, o.Ref)
	if err != nil {
		return err
	}
	if o.Output.structured() {
		return Print(s.Out, o.Output, img, nil)
	}
	_, err = fmt.Fprintln(s.Out, img.Name)
	return err
}

// ImageRemoveOptions are podctl image rm's.
type ImageRemoveOptions struct {
	Refs []string
}

// ImageRemove removes images; it goes on past one that fails and reports every failure.
func ImageRemove(ctx context.Context, c *api.Client, o ImageRemoveOptions, s Streams) error {
	if len(o.Refs) == 0 {
		return Usagef("image rm: missing REF argument")
	}
	var errs []error
	for _, ref := range o.Refs {
		if err := c.RemoveImage(ctx, ref); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(s.Out, "image/%s removed\n", ref)
	}
	return errors.Join(errs...)
}
