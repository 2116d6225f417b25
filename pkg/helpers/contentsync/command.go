// Package contentsync is `podd-patterns content-sync`: it keeps a folder of a shared volume in
// step with a source (a tar archive or a file over HTTP, or a mounted ConfigMap), publishing
// each version by an atomic symlink swap as git-sync does, and tells the main container (a
// signal, a webhook) after each change. See specs/patterns/content-sync.md.
package contentsync

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// Defaults of the flags.
const (
	DefaultListen     = "127.0.0.1:9467"
	DefaultRoot       = "/content"
	DefaultLink       = "current"
	DefaultPeriod     = 10 * time.Second
	DefaultMaxBytes   = "256Mi"
	DefaultMaxEntries = 100000
)

// Command is `podd-patterns content-sync`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "content-sync",
		Usage: "keep a folder of a shared volume in step with an HTTP tar archive or file, or a ConfigMap, swapped atomically as git-sync does",
		Description: "Each version is written into <root>/.versions/<id>, then <root>/<link> is swapped to it by\n" +
			"rename(2) of a new symlink; the main container reads <root>/<link>/... See specs/patterns/content-sync.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "source", Usage: "http(s)://host:port/path (a tar archive, plain or gzip, or a file) or dir:///path (a mounted ConfigMap or any folder)"},
			&cli.StringFlag{Name: "source-kind", Value: KindAuto, Usage: "auto (a tar archive when the content is one, else a file), tar or file; http sources only"},
			&cli.StringFlag{Name: "file-name", Usage: "the published file's name when the source is a file (default: the URL path's last element, else \"content\")"},
			&cli.StringFlag{Name: "root", Value: DefaultRoot, Usage: "the folder (of a shared volume) that holds the versions and the link"},
			&cli.StringFlag{Name: "link", Value: DefaultLink, Usage: "the symlink's name under --root, which the main container reads through"},
			&cli.DurationFlag{Name: "period", Value: DefaultPeriod, Usage: "time between looks at the source"},
			&cli.DurationFlag{Name: "http-timeout", Value: 2 * time.Minute, Usage: "bound of one HTTP fetch, body included"},
			&cli.StringFlag{Name: "max-bytes", Value: DefaultMaxBytes, Usage: "bound of one version's files, all together (bytes, or with Ki, Mi, Gi, K, M, G)"},
			&cli.IntFlag{Name: "max-entries", Value: DefaultMaxEntries, Usage: "bound of one version's files, folders and links"},
			&cli.StringFlag{Name: "signal-process", Usage: "after each change, signal the processes of this name (/proc/*/comm or argv[0]'s base name); needs shareProcessNamespace: true"},
			&cli.StringFlag{Name: "signal", Value: "HUP", Usage: "the signal for --signal-process (HUP, USR1… or a number)"},
			&cli.StringFlag{Name: "webhook", Usage: "after each change, POST {\"version\": ID} to this URL; a 2xx status is success"},
			&cli.DurationFlag{Name: "webhook-timeout", Value: 10 * time.Second, Usage: "bound of one webhook call"},
			&cli.IntFlag{Name: "webhook-retries", Value: 3, Usage: "webhook calls after a failed one (backoff 1s, doubling)"},
			&cli.BoolFlag{Name: "one-time", Usage: "sync once and exit: 0 when the content is published or unchanged, 1 otherwise (for an init container)"},
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port serving /metrics and /healthz; empty: none"},
			&cli.IntFlag{Name: "health-periods", Value: 3, Usage: "/healthz fails when the last successful look at the source is older than this many periods"},
		},
		Action: run,
	}
}

// ParseBytes reads a size: a number of bytes, or one with a suffix Ki, Mi, Gi (powers of 1024)
// or K, M, G (powers of 1000).
func ParseBytes(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a positive size (bytes, or with Ki, Mi, Gi, K, M, G)", s)
	}
	return n * mult, nil
}

// optionsFromFlags checks every flag; a bad one is named with what it must be.
func optionsFromFlags(c *cli.Context) (Options, error) {
	var o Options
	if c.String("source") == "" {
		return o, fmt.Errorf("--source: required (http://host:port/path or dir:///path)")
	}
	maxBytes, err := ParseBytes(c.String("max-bytes"))
	if err != nil {
		return o, fmt.Errorf("--max-bytes: %w", err)
	}
	if c.Int("max-entries") <= 0 {
		return o, fmt.Errorf("--max-entries: %d must be positive", c.Int("max-entries"))
	}
	o.Limits = Limits{MaxBytes: maxBytes, MaxEntries: c.Int("max-entries")}
	if o.Period = c.Duration("period"); o.Period <= 0 {
		return o, fmt.Errorf("--period: %v must be positive", o.Period)
	}
	if c.Duration("http-timeout") <= 0 {
		return o, fmt.Errorf("--http-timeout: %v must be positive", c.Duration("http-timeout"))
	}
	if o.Source, err = ParseSource(c.String("source"), c.String("source-kind"), c.String("file-name"), o.Limits, c.Duration("http-timeout")); err != nil {
		return o, err
	}
	if c.String("root") == "" || !strings.HasPrefix(c.String("root"), "/") {
		return o, fmt.Errorf("--root: %q must be an absolute path", c.String("root"))
	}
	o.Publisher = &Publisher{Root: c.String("root"), Link: c.String("link")}
	if o.SignalProcess = c.String("signal-process"); o.SignalProcess != "" {
		if o.Signal, err = helper.ParseSignal(c.String("signal")); err != nil {
			return o, err
		}
	}
	if u := c.String("webhook"); u != "" {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return o, fmt.Errorf("--webhook: %q must be an http:// or https:// URL", u)
		}
		if c.Duration("webhook-timeout") <= 0 {
			return o, fmt.Errorf("--webhook-timeout: %v must be positive", c.Duration("webhook-timeout"))
		}
		if c.Int("webhook-retries") < 0 {
			return o, fmt.Errorf("--webhook-retries: %d must not be negative", c.Int("webhook-retries"))
		}
		o.Webhook = &Webhook{URL: u, Client: &http.Client{Timeout: c.Duration("webhook-timeout")}, Retries: c.Int("webhook-retries"), Backoff: time.Second}
	}
	if o.HealthPeriods = c.Int("health-periods"); o.HealthPeriods <= 0 {
		return o, fmt.Errorf("--health-periods: %d must be positive", o.HealthPeriods)
	}
	o.Listen = c.String("listen")
	return o, nil
}

func run(c *cli.Context) error {
	log := helper.Logger(c, "content-sync")
	o, err := optionsFromFlags(c)
	if err != nil {
		return err
	}
	o.Logger = log
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	if c.Bool("one-time") {
		o.Listen = ""
		s, err := New(o)
		if err != nil {
			return err
		}
		outcome, err := s.SyncOnce(ctx)
		if ctx.Err() != nil {
			log.Info("stopped before the sync ended: nothing published", "version", s.Current())
			return nil
		}
		if err != nil {
			return fmt.Errorf("--one-time: %w", err)
		}
		log.Info("one-time sync done", "outcome", outcome, "version", s.Current())
		return nil
	}
	wake, closeWatch := Watch(o.Source, log)
	defer closeWatch()
	o.Wake = wake
	s, err := New(o)
	if err != nil {
		return err
	}
	log.Info("syncing", "source", o.Source.String(), "root", o.Publisher.Root, "link", o.Publisher.Link,
		"period", o.Period.String(), "version", s.Current(), "listen", fmt.Sprint(s.Addr()))
	return s.Run(ctx)
}
