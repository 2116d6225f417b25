package adapter

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Source is one application the adapter reads, from a --source value.
type Source struct {
	// Scheme is redis, memcached, http or statsd: how the adapter reads the source.
	Scheme string
	// Kind is redis, memcached, http (or the rules' kind) or statsd: the app_kind label.
	Kind string
	// Name is the app_name label: the NAME= prefix of the flag, else the kind.
	Name string
	// Addr is host:port (redis, memcached, statsd).
	Addr string
	// URL is the document's address (http, https).
	URL string
	// User and Password authenticate to redis (redis://[user]:password@host:port).
	User, Password string
	// Display is the source without its password, for logs.
	Display string
	// Rules is the --rules file (http: metrics; statsd: mappings).
	Rules *Rules
	// MaxSeries bounds a statsd source's series.
	MaxSeries int
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62})$`)

// ParseSource reads a --source value: [NAME=]redis://[[user]:password@]host[:6379],
// [NAME=]memcached://host[:11211], [NAME=]http(s)://host:port/path (with --rules), or
// [NAME=]statsd://[host]:port (UDP, default port 9125).
func ParseSource(value string) (Source, error) {
	var src Source
	raw := value
	if i, j := strings.Index(value, "="), strings.Index(value, "://"); i >= 0 && (j < 0 || i < j) {
		src.Name, raw = value[:i], value[i+1:]
		if !nameRE.MatchString(src.Name) {
			return src, fmt.Errorf("--source %q: name %q must be lower-case letters, digits, - or _ (at most 63)", value, src.Name)
		}
	}
	if !strings.Contains(raw, "://") {
		return src, fmt.Errorf("--source %q: a scheme is needed: redis://, memcached://, http://, https:// or statsd://", value)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return src, fmt.Errorf("--source %q: %w", value, err)
	}
	defaultPort := map[string]string{"redis": "6379", "memcached": "11211", "statsd": "9125"}
	switch u.Scheme {
	case "redis", "memcached", "statsd":
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
			return src, fmt.Errorf("--source %q: %s:// takes host:port only", value, u.Scheme)
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = defaultPort[u.Scheme]
		}
		if host == "" && u.Scheme != "statsd" {
			return src, fmt.Errorf("--source %q: a host is needed (e.g. %s://127.0.0.1:%s)", value, u.Scheme, defaultPort[u.Scheme])
		}
		src.Scheme, src.Kind, src.Addr = u.Scheme, u.Scheme, net.JoinHostPort(host, port)
		if u.User != nil {
			if u.Scheme != "redis" {
				return src, fmt.Errorf("--source %q: only redis takes a password", value)
			}
			src.User = u.User.Username()
			src.Password, _ = u.User.Password()
			if src.Password == "" {
				// redis://password@host is a common habit too.
				src.Password, src.User = src.User, ""
			}
		}
		src.Display = u.Scheme + "://" + src.Addr
	case "http", "https":
		if u.Host == "" {
			return src, fmt.Errorf("--source %q: a host is needed", value)
		}
		if u.User != nil {
			return src, fmt.Errorf("--source %q: credentials in the URL are not supported", value)
		}
		src.Scheme, src.Kind, src.URL, src.Display = "http", "http", u.String(), u.Redacted()
	case "":
		return src, fmt.Errorf("--source %q: a scheme is needed: redis://, memcached://, http://, https:// or statsd://", value)
	default:
		return src, fmt.Errorf("--source %q: scheme %q is not one of redis, memcached, http, https, statsd", value, u.Scheme)
	}
	if src.Name == "" {
		src.Name = src.Kind
	}
	return src, nil
}

// scraper returns what reads the source (statsd has none: it is pushed to).
func (s *Source) scraper() scrapeFunc {
	switch s.Scheme {
	case "redis":
		return &redisSource{addr: s.Addr, user: s.User, password: s.Password}
	case "memcached":
		return &memcachedSource{addr: s.Addr}
	}
	return newHTTPSource(s.URL, s.Kind, s.Name, s.Rules.Metrics)
}
