package scatter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mode is how the leaves' addresses become shards.
type Mode string

const (
	// Broadcast: every address of every --leaves entry is a shard of its own; every leaf gets
	// the request and answers its part. No hedging: a leaf has no replica.
	Broadcast Mode = "broadcast"
	// Partitioned: every --leaves entry is a shard; the addresses it resolves to (a Service's
	// ready pods) are that shard's replicas. One request per shard, hedged among its replicas.
	Partitioned Mode = "partitioned"
)

// Shard is one part of the fan-out: one answer is wanted from any of its replicas.
type Shard struct {
	Name     string
	Replicas []string // host:port, sorted
	// Err: a name of the shard did not resolve (NXDOMAIN is no error: no replica). The shard
	// counts as one that did not answer; the others still go ahead.
	Err error
}

// LookupFunc resolves a host name to addresses (net.Resolver.LookupHost's shape).
type LookupFunc func(ctx context.Context, host string) ([]string, error)

// Entry is one --leaves item: one or more host:port endpoints, "|"-separated (partitioned mode:
// the replicas of one shard given by several names).
type Entry struct {
	Text      string
	Endpoints [][2]string // host, port
}

// ParseEntries checks the --leaves items.
func ParseEntries(items []string, mode Mode) ([]Entry, error) {
	if len(items) == 0 {
		return nil, errors.New("--leaves: at least one host:port is needed")
	}
	var out []Entry
	seen := map[string]bool{}
	for i, item := range items {
		item = strings.TrimSpace(item)
		e := Entry{Text: item}
		parts := strings.Split(item, "|")
		if len(parts) > 1 && mode == Broadcast {
			return nil, fmt.Errorf("--leaves[%d]: %q: replicas joined by | only with --mode partitioned", i, item)
		}
		for _, p := range parts {
			host, port, err := net.SplitHostPort(strings.TrimSpace(p))
			if err != nil || host == "" || port == "" {
				return nil, fmt.Errorf("--leaves[%d]: %q is not host:port", i, p)
			}
			e.Endpoints = append(e.Endpoints, [2]string{host, port})
		}
		if seen[item] {
			return nil, fmt.Errorf("--leaves[%d]: %q is given twice", i, item)
		}
		seen[item] = true
		out = append(out, e)
	}
	return out, nil
}

// notFound: the name does not exist (a Service with no ready pod is NXDOMAIN): no leaves, not
// an error of the lookup.
func notFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// Discover resolves the entries into shards, for one request.
func Discover(ctx context.Context, lookup LookupFunc, entries []Entry, mode Mode) []Shard {
	type res struct {
		addrs []string
		err   error
	}
	// Every name once, concurrently: ten Services are ten lookups, not ten round trips in a row.
	var hosts []string
	for _, e := range entries {
		for _, ep := range e.Endpoints {
			hosts = append(hosts, ep[0])
		}
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	names := make(map[string]*res, len(hosts))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, name := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &res{}
			if net.ParseIP(name) != nil {
				r.addrs = []string{name}
			} else {
				r.addrs, r.err = lookup(ctx, name)
				if r.err != nil && notFound(r.err) {
					r.addrs, r.err = nil, nil
				}
			}
			mu.Lock()
			names[name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	var shards []Shard
	for _, e := range entries {
		var addrs []string
		var errs []error
		for _, ep := range e.Endpoints {
			r := names[ep[0]]
			if r.err != nil {
				errs = append(errs, fmt.Errorf("resolve %s: %w", ep[0], r.err))
				continue
			}
			for _, a := range r.addrs {
				addrs = append(addrs, net.JoinHostPort(a, ep[1]))
			}
		}
		slices.Sort(addrs)
		addrs = slices.Compact(addrs)
		switch {
		case len(errs) > 0 && (mode == Broadcast || len(addrs) == 0):
			// Broadcast: how many leaves the name has is unknown; one missing shard stands for them.
			shards = append(shards, Shard{Name: e.Text, Replicas: addrs, Err: errors.Join(errs...)})
		case mode == Broadcast:
			for _, a := range addrs {
				shards = append(shards, Shard{Name: a, Replicas: []string{a}})
			}
		default:
			// A shard with no replica is kept: it is a shard that did not answer.
			shards = append(shards, Shard{Name: e.Text, Replicas: addrs})
		}
	}
	if mode == Broadcast {
		slices.SortFunc(shards, func(a, b Shard) int { return strings.Compare(a.Name, b.Name) })
		shards = slices.CompactFunc(shards, func(a, b Shard) bool { return a.Name == b.Name })
	}
	return shards
}

// discoverer caches Discover's answer for ttl (0: resolve for every request).
type discoverer struct {
	lookup  LookupFunc
	entries []Entry
	mode    Mode
	ttl     time.Duration

	mu     sync.Mutex
	at     time.Time
	shards []Shard
}

func (d *discoverer) shardsFor(ctx context.Context, now time.Time) []Shard {
	if d.ttl > 0 {
		d.mu.Lock()
		if d.shards != nil && now.Sub(d.at) < d.ttl {
			s := d.shards
			d.mu.Unlock()
			return s
		}
		d.mu.Unlock()
	}
	s := Discover(ctx, d.lookup, d.entries, d.mode)
	if d.ttl > 0 {
		d.mu.Lock()
		d.at, d.shards = now, s
		d.mu.Unlock()
	}
	return s
}
