package adapter

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// Command is `podd-patterns adapter`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "adapter",
		Usage: "serve the monitoring data of the pod's applications (redis, memcached, a JSON endpoint, statsd) on /metrics under one naming scheme",
		Description: "Each --source is [NAME=]redis://[[user]:password@]host[:port], [NAME=]memcached://host[:port],\n" +
			"[NAME=]http(s)://host:port/path (mapped by --rules) or [NAME=]statsd://[host]:port (UDP).\n" +
			"See specs/patterns/adapter.md.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "source", Usage: "an application to read (repeat, or separate with commas)"},
			&cli.StringFlag{Name: "listen", Value: DefaultListen, Usage: "host:port serving /metrics, /healthz and /readyz"},
			&cli.DurationFlag{Name: "scrape-timeout", Value: DefaultScrapeTimeout, Usage: "how long an application has to answer one scrape; past it: app_up 0"},
			&cli.DurationFlag{Name: "probe-interval", Value: DefaultProbeInterval, Usage: "scrape an application that nothing scraped for this long, for /readyz"},
			&cli.StringFlag{Name: "rules", Usage: "a YAML file: JSONPath rules for http sources, name mappings for statsd"},
			&cli.StringFlag{Name: "redis-password-file", Usage: "a file holding the password of the redis sources that have none in their URL (e.g. from a Secret volume)"},
			&cli.IntFlag{Name: "statsd-max-series", Value: DefaultStatsdMaxSeries, Usage: "series a statsd source holds at most; lines of new series beyond are dropped and counted"},
		},
		Action: run,
	}
}

// optionsFromFlags checks every flag and reads the rules file.
func optionsFromFlags(c *cli.Context) (Options, error) {
	opts := Options{
		Listen:        c.String("listen"),
		ScrapeTimeout: c.Duration("scrape-timeout"),
		ProbeInterval: c.Duration("probe-interval"),
	}
	var rules *Rules
	if path := c.String("rules"); path != "" {
		var err error
		if rules, err = LoadRules(path); err != nil {
			return opts, err
		}
	}
	maxSeries := c.Int("statsd-max-series")
	if maxSeries < 1 || maxSeries > 1000000 {
		return opts, fmt.Errorf("--statsd-max-series: %d must be between 1 and 1000000", maxSeries)
	}
	sources, err := Sources(c.StringSlice("source"), rules, maxSeries)
	if err != nil {
		return opts, err
	}
	if path := c.String("redis-password-file"); path != "" {
		if err := passwordFromFile(sources, path); err != nil {
			return opts, err
		}
	}
	opts.Sources = sources
	return opts, nil
}

// Sources parses the --source values and gives them the rules; a name used twice, or an http
// source without metric rules, is an error.
func Sources(values []string, rules *Rules, maxSeries int) ([]Source, error) {
	var out []Source
	names := map[string]string{}
	for _, v := range values {
		src, err := ParseSource(v)
		if err != nil {
			return nil, err
		}
		src.Rules, src.MaxSeries = rules, maxSeries
		if src.Scheme == "http" {
			if rules == nil || len(rules.Metrics) == 0 {
				return nil, fmt.Errorf("--source %s: an http source needs --rules with metrics: (what to read from its JSON)", src.Display)
			}
			src.Kind = rules.Kind
			if src.Name == "http" && !strings.HasPrefix(v, "http=") { // not named: named after the kind
				src.Name = rules.Kind
			}
		}
		if prev, ok := names[src.Name]; ok {
			return nil, fmt.Errorf("--source %s: name %q is taken by %s (prefix one with NAME=)", src.Display, src.Name, prev)
		}
		names[src.Name] = src.Display
		out = append(out, src)
	}
	return out, nil
}

// passwordFromFile gives the redis sources without a password the file's first line.
func passwordFromFile(sources []Source, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--redis-password-file: %w", err)
	}
	password, _, _ := strings.Cut(string(data), "\n")
	password = strings.TrimRight(password, "\r")
	if password == "" {
		return fmt.Errorf("--redis-password-file %s: the file's first line is empty", path)
	}
	used := false
	for i := range sources {
		if sources[i].Scheme == "redis" && sources[i].Password == "" {
			sources[i].Password = password
			used = true
		}
	}
	if !used {
		return fmt.Errorf("--redis-password-file: no redis --source without a password to give it to")
	}
	return nil
}

func run(c *cli.Context) error {
	log := helper.Logger(c, "adapter")
	opts, err := optionsFromFlags(c)
	if err != nil {
		return err
	}
	opts.Logger = log
	ctx, stop := helper.SignalContext(c.Context)
	defer stop()
	a, err := New(opts)
	if err != nil {
		return err
	}
	for i, src := range opts.Sources {
		log.Info("source", "app_kind", src.Kind, "app_name", src.Name, "source", src.Display, "index", i)
	}
	log.Info("serving", "address", a.Addr().String(), "scrape_timeout", opts.ScrapeTimeout.String())
	err = a.Run(ctx)
	log.Info("stopped")
	return err
}
