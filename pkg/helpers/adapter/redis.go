package adapter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// maxReplyBytes bounds what the adapter reads from an application in one scrape.
const maxReplyBytes = 4 << 20

// redisSource reads INFO over RESP (a few lines by hand: one command, one bulk reply).
type redisSource struct {
	addr     string
	password string
	user     string
}

func (s *redisSource) scrape(ctx context.Context) (*result, error) {
	conn, err := dial(ctx, s.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if s.password != "" {
		args := []string{"AUTH", s.password}
		if s.user != "" {
			args = []string{"AUTH", s.user, s.password}
		}
		if _, err := conn.Write(respCommand(args...)); err != nil {
			return nil, err
		}
		if _, err := readRESP(r); err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	if _, err := conn.Write(respCommand("INFO")); err != nil {
		return nil, err
	}
	info, err := readRESP(r)
	if err != nil {
		return nil, fmt.Errorf("INFO: %w", err)
	}
	fields := parseRedisInfo(info)
	return &result{samples: redisSamples(fields), version: fields["redis_version"]}, nil
}

// dial connects within ctx and gives the connection ctx's deadline.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	// A cancelled ctx (the adapter stopping) ends a read in progress too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

func respCommand(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// readRESP reads one reply that is a simple string, an error or a bulk string (all that AUTH and
// INFO answer).
func readRESP(r *bufio.Reader) (string, error) {
	line, err := readLine(r)
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n > maxReplyBytes {
			return "", fmt.Errorf("reply of %d bytes is over the limit of %d", n, maxReplyBytes)
		}
		if n == -1 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", truncate(line, 40))
}

// readLine reads a CRLF (or LF) terminated line of at most 64 KiB.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > 64<<10 {
			return "", errors.New("reply line over 64 KiB")
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseRedisInfo reads INFO's "field:value" lines (sections and comments skipped). The keyspace
// lines (db0:keys=1,expires=0,avg_ttl=0) are kept as they are.
func parseRedisInfo(info string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields[k] = v
	}
	return fields
}

// redisScheme maps the scheme's names to INFO's fields.
var redisScheme = map[string]string{
	"app_uptime_seconds":               "uptime_in_seconds",
	"app_connected_clients":            "connected_clients",
	"app_connections_total":            "total_connections_received",
	"app_commands_processed_total":     "total_commands_processed",
	"app_memory_used_bytes":            "used_memory",
	"app_memory_limit_bytes":           "maxmemory",
	"app_hits_total":                   "keyspace_hits",
	"app_misses_total":                 "keyspace_misses",
	"app_evictions_total":              "evicted_keys",
	"app_network_receive_bytes_total":  "total_net_input_bytes",
	"app_network_transmit_bytes_total": "total_net_output_bytes",
	"app_cpu_user_seconds_total":       "used_cpu_user",
	"app_cpu_system_seconds_total":     "used_cpu_sys",
}

// redisSamples maps INFO's fields to the scheme; a field that is missing or not a number gives no
// sample. app_items adds up the keys of every database (0 when the keyspace section is empty).
func redisSamples(fields map[string]string) []sample {
	var out []sample
	for _, st := range scheme {
		if st.name == "app_items" {
			out = append(out, sample{st.name, redisKeys(fields)})
			continue
		}
		if v, ok := number(fields[redisScheme[st.name]]); ok {
			out = append(out, sample{st.name, v})
		}
	}
	return out
}

func redisKeys(fields map[string]string) float64 {
	var keys float64
	for k, v := range fields {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		if _, err := strconv.Atoi(k[2:]); err != nil {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(kv, "keys="); ok {
				if f, ok := number(n); ok {
					keys += f
				}
			}
		}
	}
	return keys
}

func number(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
