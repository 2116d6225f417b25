package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/object"
)

// ApplyOptions are podctl apply's.
type ApplyOptions struct {
	// Files are manifests, folders of manifests (*.yaml, *.yml, *.json) or "-" for stdin.
	Files []string
	// Recursive walks folders' subfolders too.
	Recursive bool
	Output    Format
}

// manifestFile is one manifest read from the command line.
type manifestFile struct {
	name string
	data []byte
}

// readManifests reads every manifest the -f arguments name, folders in name order, as kubectl
// does. A folder with no manifest is an error, so is an unreadable file.
func readManifests(files []string, recursive bool, stdin io.Reader) ([]manifestFile, error) {
	if len(files) == 0 {
		return nil, Usagef("want -f FILE|DIR|- (one or more)")
	}
	var out []manifestFile
	for _, f := range files {
		if f == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, err
			}
			out = append(out, manifestFile{"-", data})
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, manifestFile{f, data})
			continue
		}
		var found []string
		err = filepath.WalkDir(f, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != f && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("error reading %s: recognized file extensions are [.json .yaml .yml]", f)
		}
		slices.Sort(found)
		for _, path := range found {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			out = append(out, manifestFile{path, data})
		}
	}
	return out, nil
}

// Apply creates or updates the objects of each manifest. Each file is applied all or none; a
// refused file is reported and the others still applied, as kubectl does, and the command fails.
func Apply(ctx context.Context, c *api.Client, o ApplyOptions, s Streams) error {
	files, err := readManifests(o.Files, o.Recursive, s.In)
	if err != nil {
		return err
	}
	var (
		errs    []error
		results []controller.Result
	)
	for _, f := range files {
		rs, err := c.Apply(ctx, f.data)
		if err != nil {
			errs = append(errs, fileError(f.name, len(files), err))
			continue
		}
		results = append(results, rs...)
		if !o.Output.structured() {
			printResults(s.Out, rs)
		}
	}
	if o.Output.structured() {
		if err := Print(s.Out, o.Output, api.ApplyResponse{Results: results}, nil); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// fileError names the file when there are several.
func fileError(name string, files int, err error) error {
	if files == 1 {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// printResults writes kubectl's lines: "deployment.apps/web created".
func printResults(w io.Writer, rs []controller.Result) {
	for _, r := range rs {
		fmt.Fprintf(w, "%s/%s %s\n", qualifiedKind(r.Kind), r.Name, r.Action)
	}
}

// qualifiedKind is how kubectl names a kind in its messages: lower case, with its API group.
func qualifiedKind(kind string) string {
	k, ok := object.KindOf(kind)
	if !ok || !strings.Contains(k.APIVersion, "/") {
		return strings.ToLower(kind)
	}
	group, _, _ := strings.Cut(k.APIVersion, "/")
	return strings.ToLower(kind) + "." + group
}
