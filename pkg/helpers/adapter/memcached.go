package adapter

import (
	"bufio"
	"context"
	"fmt"
	"strings"
)

// memcachedSource reads the text protocol's "stats".
type memcachedSource struct {
	addr string
}

func (s *memcachedSource) scrape(ctx context.Context) (*result, error) {
	conn, err := dial(ctx, s.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return nil, err
	}
	fields, err := readMemcachedStats(bufio.NewReader(conn))
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return &result{samples: memcachedSamples(fields), version: fields["version"]}, nil
}

// readMemcachedStats reads "STAT name value" lines up to "END".
func readMemcachedStats(r *bufio.Reader) (map[string]string, error) {
	fields := map[string]string{}
	total := 0
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		total += len(line)
		if total > maxReplyBytes {
			return nil, fmt.Errorf("reply over the limit of %d bytes", maxReplyBytes)
		}
		if line == "END" {
			return fields, nil
		}
		rest, ok := strings.CutPrefix(line, "STAT ")
		if !ok {
			return nil, fmt.Errorf("unexpected reply %q", truncate(line, 40))
		}
		k, v, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, fmt.Errorf("bad STAT line %q", truncate(line, 40))
		}
		fields[k] = v
	}
}

var memcachedScheme = map[string]string{
	"app_uptime_seconds":               "uptime",
	"app_connected_clients":            "curr_connections",
	"app_connections_total":            "total_connections",
	"app_memory_used_bytes":            "bytes",
	"app_memory_limit_bytes":           "limit_maxbytes",
	"app_items":                        "curr_items",
	"app_hits_total":                   "get_hits",
	"app_misses_total":                 "get_misses",
	"app_evictions_total":              "evictions",
	"app_network_receive_bytes_total":  "bytes_read",
	"app_network_transmit_bytes_total": "bytes_written",
	"app_cpu_user_seconds_total":       "rusage_user",
	"app_cpu_system_seconds_total":     "rusage_system",
}

// memcachedCommands add up to app_commands_processed_total: every kind of command memcached
// counts (cmd_set counts set, add, replace, append, prepend and cas).
var memcachedCommands = []string{
	"cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "cmd_meta",
	"delete_hits", "delete_misses", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
}

func memcachedSamples(fields map[string]string) []sample {
	var out []sample
	for _, st := range scheme {
		if st.name == "app_commands_processed_total" {
			var sum float64
			found := false
			for _, f := range memcachedCommands {
				if v, ok := number(fields[f]); ok {
					sum += v
					found = true
				}
			}
			if found {
				out = append(out, sample{st.name, sum})
			}
			continue
		}
		// memcached writes rusage as seconds.microseconds ("0.123456"), which parses as is.
		if v, ok := number(fields[memcachedScheme[st.name]]); ok {
			out = append(out, sample{st.name, v})
		}
	}
	return out
}
