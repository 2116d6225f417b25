// Package logsaver is `podd-patterns log-saver`: a sidecar that follows the main container's
// log files in a shared volume (rotation-aware) and ships their lines to a collector (syslog
// over TCP, or HTTP), keeping its read offsets in the volume so that a restart, even after
// kill -9, neither loses nor repeats a line. See specs/patterns/log-saver.md.
package logsaver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// DefaultListen serves /metrics and /healthz (the ambassador has its own port).
const DefaultListen = "127.0.0.1:9465"

// Command is `podd-patterns log-saver`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "log-saver",
		Usage: "follow log files in a shared volume and ship their lines to syslog (TCP) or HTTP, each line once",
		Description: "Example: log-saver --paths '/var/log/app/*.log' --to syslog+tcp://10.123.0.1:514\n" +
			"See specs/patterns/log-saver.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "paths", Usage: "comma-separated absolute globs of the files to follow, e.g. \"/var/log/app/*.log,/var/log/app/err-*.log\" (required)"},
			&cli.StringFlag{Name: "to", Usage: "the collector: syslog+tcp://HOST:PORT (RFC 5424, octet-counted) or http://HOST:PORT/PATH (POST of JSON lines) (required)"},
			&cli.StringFlag{Name: "state-dir", Usage: "where the offsets are kept, in the volume (default: .podd-log-saver in the first glob's folder)"},
			&cli.IntFlag{Name: "batch-lines", Value: 500, Usage: "most lines in a batch"},
			&cli.IntFlag{Name: "batch-bytes", Value: 1 << 20, Usage: "most bytes of lines in a batch (one more line may pass it)"},
			&cli.DurationFlag{Name: "batch-wait", Value: 200 * time.Millisecond, Usage: "how long a batch that is not full waits for more lines"},
			&cli.DurationFlag{Name: "flush-timeout", Value: 5 * time.Second, Usage: "at SIGTERM, how long to go on sending what was read"},
			&cli.IntFlag{Name: "max-line-bytes", Value: 64 << 10, Usage: "a longer line is shipped in pieces of this size"},
			&cli.DurationFlag{Name: "rotate-wait", Value: 5 * time.Second, Usage: "how long a file rotated away is followed after it stops growing"},
			&cli.DurationFlag{Name: "poll-interval", Value: time.Second, Usage: "how often files are looked at where inotify cannot watch"},
			&cli.DurationFlag{Name: "send-timeout", Value: 10 * time.Second, Usage: "one attempt to send a batch, connection and acknowledgement included"},
			&cli.DurationFlag{Name: "min-backoff", Value: 100 * time.Millisecond, Usage: "wait after a first failed attempt; it doubles on each failure"},
			&cli.DurationFlag{Name: "max-backoff", Value: 10 * time.Second, Usage: "longest wait between attempts; the batch is retried at this pace until it goes through"},
			&cli.StringFlag{Name: "hostname", Usage: "syslog HOSTNAME (default: the host name, in a pod the pod's name)"},
			&cli.StringFlag{Name: "app-name", Usage: "syslog APP-NAME (default: each file's base name)"},
			&cli.StringFlag{Name: "facility", Value: "user", Usage: "syslog facility: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7"},
			&cli.StringFlag{Name: "severity", Value: "info", Usage: "syslog severity: emerg, alert, crit, err, warning, notice, info, debug"},
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port serving /metrics and /healthz; empty: none"},
		},
		Action: run,
	}
}

var facilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"}
var severities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// priority is the syslog PRI of a facility and a severity name.
func priority(facility, severity string) (int, error) {
	fac := -1
	for i, f := range facilities {
		if f == facility {
			fac = i
		}
	}
	if n, ok := strings.CutPrefix(facility, "local"); ok && len(n) == 1 && n[0] >= '0' && n[0] <= '7' {
		fac = 16 + int(n[0]-'0')
	}
	if fac < 0 {
		return 0, fmt.Errorf("--facility: %q is not one of %s, local0..local7", facility, strings.Join(facilities, ", "))
	}
	for i, s := range severities {
		if s == severity {
			return fac*8 + i, nil
		}
	}
	return 0, fmt.Errorf("--severity: %q is not one of %s", severity, strings.Join(severities, ", "))
}

// parseGlobs checks --paths.
func parseGlobs(s string) ([]string, error) {
	var out []string
	for _, g := range strings.Split(s, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if !filepath.IsAbs(g) {
			return nil, fmt.Errorf("--paths: %q is not an absolute path", g)
		}
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("--paths: %q: %w", g, err)
		}
		out = append(out, filepath.Clean(g))
	}
	if len(out) == 0 {
		return nil, errors.New("--paths: required, e.g. --paths '/var/log/app/*.log'")
	}
	return out, nil
}

// defaultStateDir is .podd-log-saver in the first glob's folder: in the shared volume, where it
// outlives the sidecar's container, and where no glob like *.log matches it.
func defaultStateDir(globs []string) (string, error) {
	dir, fixed := globDir(globs[0])
	if !fixed {
		return "", fmt.Errorf("--state-dir: required when the first glob %q has a pattern in its folder", globs[0])
	}
	return filepath.Join(dir, ".podd-log-saver"), nil
}

// config turns the flags into options and a sink, or names the flag that is wrong.
func config(c *cli.Context) (Options, sink, error) {
	var o Options
	globs, err := parseGlobs(c.String("paths"))
	if err != nil {
		return o, nil, err
	}
	o.Globs = globs
	o.StateDir = c.String("state-dir")
	if o.StateDir == "" {
		if o.StateDir, err = defaultStateDir(globs); err != nil {
			return o, nil, err
		}
	}
	ints := []struct {
		name     string
		dst      *int
		min, max int
	}{
		{"batch-lines", &o.BatchLines, 1, 100000},
		{"batch-bytes", &o.BatchBytes, 1024, 64 << 20},
		{"max-line-bytes", &o.MaxLineBytes, 64, 16 << 20},
	}
	for _, i := range ints {
		v := c.Int(i.name)
		if v < i.min || v > i.max {
			return o, nil, fmt.Errorf("--%s: %d is not within %d..%d", i.name, v, i.min, i.max)
		}
		*i.dst = v
	}
	durs := []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{
		{"batch-wait", &o.BatchWait, 0},
		{"flush-timeout", &o.FlushTimeout, 0},
		{"rotate-wait", &o.RotateWait, 0},
		{"poll-interval", &o.PollInterval, 10 * time.Millisecond},
		{"min-backoff", &o.MinBackoff, time.Millisecond},
		{"max-backoff", &o.MaxBackoff, time.Millisecond},
	}
	for _, d := range durs {
		v := c.Duration(d.name)
		if v < d.min {
			return o, nil, fmt.Errorf("--%s: %s is below %s", d.name, v, d.min)
		}
		*d.dst = v
	}
	if o.MaxBackoff < o.MinBackoff {
		return o, nil, fmt.Errorf("--max-backoff: %s is below --min-backoff %s", o.MaxBackoff, o.MinBackoff)
	}
	sendTimeout := c.Duration("send-timeout")
	if sendTimeout < 10*time.Millisecond {
		return o, nil, fmt.Errorf("--send-timeout: %s is below 10ms", sendTimeout)
	}
	o.AppName = c.String("app-name")
	pri, err := priority(c.String("facility"), c.String("severity"))
	if err != nil {
		return o, nil, err
	}
	tgt, err := parseTarget(c.String("to"))
	if c.String("to") == "" {
		err = errors.New("--to: required, e.g. --to syslog+tcp://10.123.0.1:514")
	}
	if err != nil {
		return o, nil, err
	}
	var s sink
	switch tgt.scheme {
	case "syslog+tcp":
		host := c.String("hostname")
		if host == "" {
			host, _ = os.Hostname()
		}
		s = &syslogSink{addr: tgt.addr, hostname: printable(host, 255), pri: pri, timeout: sendTimeout}
	case "http":
		s = &httpSink{url: tgt.url, client: &http.Client{Timeout: sendTimeout}}
	}
	return o, s, nil
}

func run(c *cli.Context) error {
	log := helper.Logger(c, "log-saver")
	opts, sink, err := config(c)
	if err != nil {
		return err
	}
	opts.Logger = log
	saver, err := New(opts, sink)
	if err != nil {
		return err
	}
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	if addr := c.String("listen"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(saver.metrics.registry, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Shutdown(context.Background())
		log.Info("metrics", "address", ln.Addr().String())
	}
	log.Info("shipping", "paths", strings.Join(opts.Globs, ","), "to", sink.String(), "state_dir", opts.StateDir)
	return saver.Run(ctx)
}
