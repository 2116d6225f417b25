// Command mkimage builds a busybox image archive from the host's static busybox, for machines
// where no registry is reachable: import the result with `podctl image import`.
//
//	go run ./hack/mkimage -name localhost/podd/busybox:latest -format oci -o busybox.tar
//	go run ./hack/mkimage -name localhost/podd/echo:1 -o echo.tar \
//	    -entrypoint '["/bin/echo","ep"]' -cmd '["cmd"]' -stopsignal SIGUSR1 \
//	    -file ./bin/server:/usr/local/bin/server:0755
//	go run ./hack/mkimage -base scratch -name localhost/podd/patterns:dev -o patterns.tar \
//	    -file ./bin/podd-patterns-static:/podd-patterns:0755 -entrypoint '["/podd-patterns"]'
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podd-dev/podd/internal/ociimage"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		// The flag package has already reported its own errors, with the usage.
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
		}
		os.Exit(2)
	}
}

var errReported = errors.New("usage error already reported")

// argvFlag is an argv given as a JSON array (exec form) or as words split on spaces; it remembers
// whether it was set, since an empty one is meaningful.
type argvFlag struct {
	argv []string
	set  bool
}

func (a *argvFlag) String() string {
	if a == nil || !a.set {
		return ""
	}
	b, _ := json.Marshal(a.argv)
	return string(b)
}

func (a *argvFlag) Set(s string) error {
	a.set = true
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		a.argv = nil
		if err := json.Unmarshal([]byte(s), &a.argv); err != nil {
			return fmt.Errorf("want a JSON array of strings: %w", err)
		}
		return nil
	}
	a.argv = strings.Fields(s)
	return nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func run(args []string, stderr io.Writer) error {
	fset := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var (
		name       = fset.String("name", "", "image reference, e.g. localhost/podd/busybox:latest (required)")
		format     = fset.String("format", string(ociimage.FormatOCI), "archive format: oci (OCI image layout) or docker (docker save)")
		output     = fset.String("o", "", "file to write, - for stdout (required)")
		stopSignal = fset.String("stopsignal", "", "STOPSIGNAL, e.g. SIGUSR1")
		workdir    = fset.String("workdir", "", "WORKDIR")
		user       = fset.String("user", "", "USER (name, uid or uid:gid)")
		base       = fset.String("base", "busybox", "busybox (the host's static busybox, CMD [\"sh\"]) or scratch (no shell: /etc files and /tmp only, for a static program)")
		entrypoint argvFlag
		cmd        argvFlag
		env        listFlag
		files      listFlag
		labels     listFlag
	)
	fset.Var(&entrypoint, "entrypoint", `ENTRYPOINT as a JSON array ('["/bin/echo","ep"]') or words; like a Dockerfile's, it clears CMD unless -cmd is given`)
	fset.Var(&cmd, "cmd", `CMD as a JSON array or words (default ["sh"])`)
	fset.Var(&env, "env", "KEY=VALUE added to the image's environment (repeatable)")
	fset.Var(&files, "file", "SRC:DST[:MODE] copies host file SRC to DST in the image, MODE in octal (repeatable)")
	fset.Var(&labels, "label", "KEY=VALUE image label (repeatable)")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errReported
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	if *name == "" || *output == "" {
		fset.Usage()
		return errors.New("-name and -o are required")
	}
	f, err := ociimage.ParseFormat(*format)
	if err != nil {
		return err
	}

	opts := []ociimage.Option{ociimage.WithFormat(f)}
	if entrypoint.set {
		opts = append(opts, ociimage.WithEntrypoint(entrypoint.argv...))
	}
	if cmd.set {
		opts = append(opts, ociimage.WithCmd(cmd.argv...))
	}
	if *stopSignal != "" {
		opts = append(opts, ociimage.WithStopSignal(*stopSignal))
	}
	if *workdir != "" {
		opts = append(opts, ociimage.WithWorkingDir(*workdir))
	}
	if *user != "" {
		opts = append(opts, ociimage.WithUser(*user))
	}
	if len(env) > 0 {
		opts = append(opts, ociimage.WithEnv(env...))
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("-label %q: want KEY=VALUE", l)
		}
		opts = append(opts, ociimage.WithLabel(k, v))
	}
	for _, spec := range files {
		opt, err := parseFileFlag(spec)
		if err != nil {
			return err
		}
		opts = append(opts, opt)
	}

	var img ociimage.Spec
	switch *base {
	case "busybox":
		if img, err = ociimage.Busybox(*name, opts...); err != nil {
			return err
		}
	case "scratch":
		img = ociimage.Scratch(*name, opts...)
	default:
		return fmt.Errorf("-base %q: want busybox or scratch", *base)
	}
	if *output == "-" {
		return ociimage.Build(os.Stdout, img)
	}
	if err := writeFile(*output, img); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %s (%s)\n", *output, *name, f)
	return nil
}

func parseFileFlag(spec string) (ociimage.Option, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("-file %q: want SRC:DST[:MODE]", spec)
	}
	var mode fs.FileMode
	if len(parts) == 3 {
		m, err := strconv.ParseUint(parts[2], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("-file %q: mode: %w", spec, err)
		}
		mode = fs.FileMode(m)
	}
	return ociimage.WithFile(parts[0], parts[1], mode), nil
}

// writeFile writes the archive next to path and renames it into place, so that an interrupted
// build never leaves a truncated archive behind under the final name.
func writeFile(path string, img ociimage.Spec) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := ociimage.Build(tmp, img); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
