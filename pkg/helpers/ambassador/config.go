package ambassador

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// PoolConfig is one pool of nutcracker's YAML configuration, by nutcracker's names and with its
// defaults, plus podd's membership sources (servers_file, servers_dns).
type PoolConfig struct {
	Name string `yaml:"-"`

	Listen       string `yaml:"listen"`
	Redis        bool   `yaml:"redis"`
	Hash         string `yaml:"hash"`
	HashTag      string `yaml:"hash_tag"`
	Distribution string `yaml:"distribution"`
	// Timeout is nutcracker's timeout: milliseconds a server has to answer a request, -1 (the
	// default) for none.
	Timeout            *int     `yaml:"timeout"`
	AutoEjectHosts     bool     `yaml:"auto_eject_hosts"`
	ServerFailureLimit *int     `yaml:"server_failure_limit"`
	ServerRetryTimeout *int     `yaml:"server_retry_timeout"` // milliseconds
	ClientConnections  int      `yaml:"client_connections"`   // 0: no limit
	RedisAuth          string   `yaml:"redis_auth"`
	RedisDB            int      `yaml:"redis_db"`
	Servers            []string `yaml:"servers"`

	// Accepted for compatibility with nutcracker's files; see specs/patterns/ambassador.md.
	Backlog           int   `yaml:"backlog"`
	Preconnect        bool  `yaml:"preconnect"`
	ServerConnections *int  `yaml:"server_connections"`
	TCPKeepalive      bool  `yaml:"tcpkeepalive"`
	Reuseport         *bool `yaml:"reuseport"`

	// podd's own: where the server list comes from when it changes.
	ServersFile string `yaml:"servers_file"` // a file of servers: lines, re-read when it changes
	ServersDNS  string `yaml:"servers_dns"`  // NAME:PORT, every A/AAAA record a member
	DNSInterval *int   `yaml:"dns_interval"` // milliseconds between resolutions (default 5000)
	DNSWeight   int    `yaml:"dns_weight"`   // weight of each DNS member (default 1)

	// MaxRequestBytes bounds one request (and so a client's buffer); default 64 MiB.
	MaxRequestBytes int `yaml:"max_request_bytes"`
}

// Defaults, nutcracker's where it has one.
const (
	DefaultHash               = "fnv1a_64"
	DefaultDistribution       = DistKetama
	DefaultServerFailureLimit = 2
	DefaultServerRetryTimeout = 30 * time.Second
	DefaultDNSInterval        = 5 * time.Second
	DefaultMaxRequestBytes    = 64 << 20
)

// ServerSpec is one line of a servers: list.
type ServerSpec struct {
	Host   string
	Port   int
	Weight int
	Name   string // the ketama name: the given name, else host:port, or host alone on port 11211
}

// Addr is host:port to dial.
func (s ServerSpec) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ParseServer parses "host:port:weight [name]" as nutcracker does (from the end: name after the
// last space, weight and port after the last colons).
func ParseServer(line string) (ServerSpec, error) {
	var s ServerSpec
	v := strings.TrimSpace(line)
	if v == "" {
		return s, errors.New("empty server")
	}
	if strings.HasPrefix(v, "/") {
		return s, fmt.Errorf("server %q: unix sockets are not supported", line)
	}
	rest := v
	if i := strings.LastIndexByte(rest, ' '); i >= 0 {
		s.Name = strings.TrimSpace(rest[i+1:])
		rest = strings.TrimSpace(rest[:i])
		if s.Name == "" || strings.ContainsAny(rest, " \t") {
			return s, fmt.Errorf("server %q: want \"host:port:weight [name]\"", line)
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return s, fmt.Errorf("server %q: want \"host:port:weight [name]\"", line)
	}
	w, err := strconv.Atoi(rest[i+1:])
	if err != nil || w < 1 || w > 1<<20 {
		return s, fmt.Errorf("server %q: weight %q must be a whole number from 1 to %d", line, rest[i+1:], 1<<20)
	}
	rest = rest[:i]
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return s, fmt.Errorf("server %q: want \"host:port:weight [name]\"", line)
	}
	port, err := strconv.Atoi(rest[j+1:])
	if err != nil || port < 1 || port > 65535 {
		return s, fmt.Errorf("server %q: port %q must be from 1 to 65535", line, rest[j+1:])
	}
	host := rest[:j]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return s, fmt.Errorf("server %q: no host", line)
	}
	s.Host, s.Port, s.Weight = host, port, w
	if s.Name == "" {
		// nutcracker hashes the host:port text as written (rest), or the host alone on 11211.
		if port == ketamaDefaultPort {
			s.Name = rest[:j]
		} else {
			s.Name = rest
		}
	}
	return s, nil
}

// ParseServers parses a servers: list; duplicate names are refused, as nutcracker refuses them.
func ParseServers(lines []string) ([]ServerSpec, error) {
	out := make([]ServerSpec, 0, len(lines))
	seen := map[string]bool{}
	for i, l := range lines {
		s, err := ParseServer(l)
		if err != nil {
			return nil, fmt.Errorf("servers[%d]: %w", i, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("servers[%d]: %q: two servers have the name %q", i, l, s.Name)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	return out, nil
}

// ParseServersFile parses a servers file: one server a line; blank lines, lines starting with #,
// and a leading "- " (a YAML list) are allowed.
func ParseServersFile(data []byte) ([]ServerSpec, error) {
	var lines []string
	for _, l := range bytes.Split(data, []byte("\n")) {
		t := strings.TrimSpace(string(l))
		t = strings.TrimSpace(strings.TrimPrefix(t, "- "))
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		lines = append(lines, t)
	}
	return ParseServers(lines)
}

// sortServers puts servers in nutcracker's order (by name length, then bytes): the order
// modula counts in, and the order that breaks ketama's ties.
func sortServers(s []ServerSpec) {
	slices.SortStableFunc(s, func(a, b ServerSpec) int {
		if len(a.Name) != len(b.Name) {
			return len(a.Name) - len(b.Name)
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// LoadConfig reads a nutcracker configuration file: a YAML mapping of pool names to pools.
func LoadConfig(path string) ([]*PoolConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data)
}

// ParseConfig parses a nutcracker configuration; unknown keys are refused with their name.
func ParseConfig(data []byte) ([]*PoolConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("config: want a mapping of pool names to pools")
	}
	m := doc.Content[0]
	var pools []*PoolConfig
	for i := 0; i+1 < len(m.Content); i += 2 {
		name := m.Content[i].Value
		p := &PoolConfig{}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(m.Content[i+1]); err != nil {
			return nil, fmt.Errorf("config: pool %q: %w", name, err)
		}
		dec := yaml.NewDecoder(&buf)
		dec.KnownFields(true)
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("config: pool %q: %w", name, err)
		}
		p.Name = name
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("config: pool %q: %w", name, err)
		}
		pools = append(pools, p)
	}
	if len(pools) == 0 {
		return nil, errors.New("config: no pools")
	}
	listens := map[string]string{}
	for _, p := range pools {
		if other, ok := listens[p.Listen]; ok {
			return nil, fmt.Errorf("config: pools %q and %q both listen on %s", other, p.Name, p.Listen)
		}
		listens[p.Listen] = p.Name
	}
	return pools, nil
}

// Validate checks a pool and fills its defaults.
func (p *PoolConfig) Validate() error {
	if p.Listen == "" {
		return errors.New("listen: required (host:port)")
	}
	if _, _, err := net.SplitHostPort(p.Listen); err != nil {
		return fmt.Errorf("listen: %q: %v", p.Listen, err)
	}
	if p.Hash == "" {
		p.Hash = DefaultHash
	}
	if _, err := LookupHash(p.Hash); err != nil {
		return err
	}
	if p.Distribution == "" {
		p.Distribution = DefaultDistribution
	}
	switch p.Distribution {
	case DistKetama, DistModula, DistRandom:
	default:
		return fmt.Errorf("distribution: %q is not supported (ketama, modula or random)", p.Distribution)
	}
	if p.HashTag != "" && len(p.HashTag) != 2 {
		return fmt.Errorf("hash_tag: %q must be two characters", p.HashTag)
	}
	if p.Timeout != nil && *p.Timeout < -1 {
		return fmt.Errorf("timeout: %d must be -1 (none) or milliseconds", *p.Timeout)
	}
	if p.ServerFailureLimit != nil && *p.ServerFailureLimit < 1 {
		return fmt.Errorf("server_failure_limit: %d must be at least 1", *p.ServerFailureLimit)
	}
	if p.ServerRetryTimeout != nil && *p.ServerRetryTimeout < 1 {
		return fmt.Errorf("server_retry_timeout: %d must be at least 1 (milliseconds)", *p.ServerRetryTimeout)
	}
	if p.ClientConnections < 0 {
		return fmt.Errorf("client_connections: %d must be 0 (no limit) or more", p.ClientConnections)
	}
	if p.RedisDB < 0 {
		return fmt.Errorf("redis_db: %d must be 0 or more", p.RedisDB)
	}
	if p.MaxRequestBytes == 0 {
		p.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if p.MaxRequestBytes < 1024 {
		return fmt.Errorf("max_request_bytes: %d must be at least 1024", p.MaxRequestBytes)
	}
	if p.DNSInterval != nil && *p.DNSInterval < 100 {
		return fmt.Errorf("dns_interval: %d must be at least 100 (milliseconds)", *p.DNSInterval)
	}
	if p.DNSWeight == 0 {
		p.DNSWeight = 1
	}
	if p.DNSWeight < 0 {
		return fmt.Errorf("dns_weight: %d must be at least 1", p.DNSWeight)
	}
	sources := 0
	if len(p.Servers) > 0 {
		sources++
		if _, err := ParseServers(p.Servers); err != nil {
			return err
		}
	}
	if p.ServersFile != "" {
		sources++
	}
	if p.ServersDNS != "" {
		sources++
		host, port, err := net.SplitHostPort(p.ServersDNS)
		if err != nil || host == "" {
			return fmt.Errorf("servers_dns: %q: want NAME:PORT", p.ServersDNS)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("servers_dns: %q: port must be from 1 to 65535", p.ServersDNS)
		}
	}
	if sources != 1 {
		return errors.New("servers: give exactly one of servers, servers_file and servers_dns")
	}
	return nil
}

// TimeoutDuration is the per-request timeout, 0 for none.
func (p *PoolConfig) TimeoutDuration() time.Duration {
	if p.Timeout == nil || *p.Timeout < 0 {
		return 0
	}
	return time.Duration(*p.Timeout) * time.Millisecond
}

func (p *PoolConfig) failureLimit() int {
	if p.ServerFailureLimit == nil {
		return DefaultServerFailureLimit
	}
	return *p.ServerFailureLimit
}

func (p *PoolConfig) retryTimeout() time.Duration {
	if p.ServerRetryTimeout == nil {
		return DefaultServerRetryTimeout
	}
	return time.Duration(*p.ServerRetryTimeout) * time.Millisecond
}

func (p *PoolConfig) dnsInterval() time.Duration {
	if p.DNSInterval == nil {
		return DefaultDNSInterval
	}
	return time.Duration(*p.DNSInterval) * time.Millisecond
}
