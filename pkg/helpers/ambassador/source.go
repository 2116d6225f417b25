package ambassador

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"
)

func readServersFile(path string) ([]ServerSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("servers_file: %w", err)
	}
	s, err := ParseServersFile(data)
	if err != nil {
		return nil, fmt.Errorf("servers_file %s: %w", path, err)
	}
	return s, nil
}

// resolveMembers resolves servers_dns: every address is a member "ip:port:dns_weight", hashed by
// ip:port. The addresses are sorted, so that the same records make the same pool.
func resolveMembers(ctx context.Context, r *net.Resolver, cfg *PoolConfig) ([]ServerSpec, error) {
	host, portStr, _ := net.SplitHostPort(cfg.ServersDNS)
	port, _ := strconv.Atoi(portStr)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("servers_dns: %w", err)
	}
	var addrs []string
	for _, ip := range ips {
		addrs = append(addrs, ip.IP.String())
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	out := make([]ServerSpec, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, ServerSpec{Host: a, Port: port, Weight: cfg.DNSWeight, Name: ketamaName(joinHost(a), port)})
	}
	return out, nil
}

// joinHost writes an IPv6 address in brackets, as it would stand in a servers: line.
func joinHost(ip string) string {
	if bytes.IndexByte([]byte(ip), ':') >= 0 {
		return "[" + ip + "]"
	}
	return ip
}

// follow keeps a pool's members in step with its source until ctx ends. A source that fails
// (file unreadable or invalid, name not resolving) leaves the members as they are; an empty
// answer is taken as it is (a Service scaled to zero).
func (a *Ambassador) follow(ctx context.Context, p *pool) {
	cfg := p.cfg
	interval := a.opts.FilePoll
	if cfg.ServersDNS != "" {
		interval = cfg.dnsInterval()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last []ServerSpec
	if s := p.snap.Load(); s != nil {
		for _, srv := range s.servers {
			last = append(last, srv.spec)
		}
	}
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		members, err := a.members(ctx, cfg)
		if err != nil {
			if err.Error() != lastErr {
				a.log.Warn("reading the pool's members; keeping the current ones", "pool", cfg.Name, "err", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		sortServers(members)
		if slices.Equal(members, last) {
			continue
		}
		if err := p.setMembers(members); err != nil {
			a.log.Warn("new members refused", "pool", cfg.Name, "err", err)
			continue
		}
		last = members
		names := make([]string, 0, len(members))
		for _, m := range members {
			names = append(names, m.Name)
		}
		a.log.Info("pool members changed", "pool", cfg.Name, "servers", names)
	}
}
