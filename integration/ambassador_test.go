package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// The ambassador helper (podd-patterns ambassador) injected by annotation into a pod of the real
// podd, checked against nutcracker (twemproxy): three redis-servers and three memcacheds on the
// host listen on the pod bridge's gateway, nutcracker on the host's loopback has the same two
// pools (same server lines, order, hash, distribution, hash tag), and for 10,000 keys the server
// each key lands on through the ambassador in the pod is the one it lands on through nutcracker.
// See specs/patterns/ambassador.md and pkg/helpers/ambassador/procs_test.go (the same check with
// host processes).

// ambassadorKeys are n keys, some with bytes of 0x80 and above (nutcracker hashes bytes as signed
// chars) and some with hash tags.
func ambassadorKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		switch {
		case i%97 == 0:
			keys[i] = fmt.Sprintf("clé:%d:ü", i)
		case i%89 == 0:
			keys[i] = fmt.Sprintf("user:{%d}:profile:%d", i%7, i)
		default:
			keys[i] = fmt.Sprintf("key:%d", i)
		}
	}
	return keys
}

// respReply is one decoded RESP reply: kind is its first byte; str the status, error, integer
// or bulk string (nil: a nil bulk); elems an array's elements.
type respReply struct {
	kind  byte
	str   *string
	elems []respReply
}

func readRESP(r *bufio.Reader) (respReply, error) {
	l, err := r.ReadString('\n')
	if err != nil {
		return respReply{}, err
	}
	if len(l) < 3 || !strings.HasSuffix(l, "\r\n") {
		return respReply{}, fmt.Errorf("bad reply line %q", l)
	}
	kind, body := l[0], l[1:len(l)-2]
	switch kind {
	case '+', '-', ':':
		return respReply{kind: kind, str: &body}, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return respReply{}, fmt.Errorf("bad bulk length %q", l)
		}
		if n < 0 {
			return respReply{kind: kind}, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return respReply{}, err
		}
		s := string(b[:n])
		return respReply{kind: kind, str: &s}, nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return respReply{}, fmt.Errorf("bad array length %q", l)
		}
		out := respReply{kind: kind}
		for range max(n, 0) {
			e, err := readRESP(r)
			if err != nil {
				return respReply{}, err
			}
			out.elems = append(out.elems, e)
		}
		return out, nil
	}
	return respReply{}, fmt.Errorf("bad reply line %q", l)
}

func (r respReply) String() string {
	switch {
	case r.kind == '*':
		return fmt.Sprintf("array of %d", len(r.elems))
	case r.str == nil:
		return "nil"
	}
	return string(r.kind) + *r.str
}

func appendRESP(b []byte, args ...string) []byte {
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// testConn is a client of either protocol that writes a pipeline while it reads the replies.
type testConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialTest(t *testing.T, addr string) *testConn {
	t.Helper()
	var c net.Conn
	waitFor(t, "a connection to "+addr, func() bool {
		var err error
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return &testConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// send writes req in the background and returns a channel with the write's error.
func (c *testConn) send(req []byte) <-chan error {
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	done := make(chan error, 1)
	go func() { _, err := c.c.Write(req); done <- err }()
	return done
}

// redisPipeline sends the commands in one write and reads one reply each.
func (c *testConn) redisPipeline(t *testing.T, cmds [][]string) []respReply {
	t.Helper()
	var req []byte
	for _, cmd := range cmds {
		req = appendRESP(req, cmd...)
	}
	wrote := c.send(req)
	out := make([]respReply, 0, len(cmds))
	for range cmds {
		r, err := readRESP(c.r)
		if err != nil {
			t.Fatalf("reading the reply %d of %d from %s: %v", len(out)+1, len(cmds), c.c.RemoteAddr(), err)
		}
		out = append(out, r)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	return out
}

// mcLine reads one memcache response line.
func (c *testConn) mcLine(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading from %s: %v", c.c.RemoteAddr(), err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// mcSetAll sets every key to value in pipelines of 500, each answered STORED.
func (c *testConn) mcSetAll(t *testing.T, keys []string, value string) {
	t.Helper()
	for lo := 0; lo < len(keys); lo += 500 {
		batch := keys[lo:min(lo+500, len(keys))]
		var req []byte
		for _, k := range batch {
			req = fmt.Appendf(req, "set %s 0 0 %d\r\n%s\r\n", k, len(value), value)
		}
		wrote := c.send(req)
		for _, k := range batch {
			if l := c.mcLine(t); l != "STORED" {
				t.Fatalf("set %s through %s: %q", k, c.c.RemoteAddr(), l)
			}
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	}
}

// mcGetAll sends one get of up to 100 keys per line, all lines in one write, and returns every
// VALUE the responses hold (key → value).
func (c *testConn) mcGetAll(t *testing.T, keys []string) map[string]string {
	t.Helper()
	var req []byte
	n := 0
	for lo := 0; lo < len(keys); lo += 100 {
		req = append(req, "get "+strings.Join(keys[lo:min(lo+100, len(keys))], " ")+"\r\n"...)
		n++
	}
	wrote := c.send(req)
	out := map[string]string{}
	for n > 0 {
		l := c.mcLine(t)
		if l == "END" {
			n--
			continue
		}
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "VALUE" {
			t.Fatalf("get through %s: bad response line %q", c.c.RemoteAddr(), l)
		}
		size, err := strconv.Atoi(f[3])
		if err != nil {
			t.Fatalf("get through %s: bad response line %q", c.c.RemoteAddr(), l)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(c.r, b); err != nil {
			t.Fatal(err)
		}
		out[f[1]] = string(b[:size])
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	return out
}

// redisSetAll sets every key to value in pipelines of 500, each answered +OK.
func redisSetAll(t *testing.T, c *testConn, keys []string, value string) {
	t.Helper()
	for lo := 0; lo < len(keys); lo += 500 {
		batch := keys[lo:min(lo+500, len(keys))]
		cmds := make([][]string, len(batch))
		for i, k := range batch {
			cmds[i] = []string{"SET", k, value}
		}
		for i, r := range c.redisPipeline(t, cmds) {
			if r.String() != "+OK" {
				t.Fatalf("SET %s through %s: %s", batch[i], c.c.RemoteAddr(), r)
			}
		}
	}
}

// redisMGetAll reads every key with MGETs of 500 keys, all in one pipeline, and returns the
// values in the keys' order ("" for nil).
func redisMGetAll(t *testing.T, c *testConn, keys []string) []string {
	t.Helper()
	var cmds [][]string
	for lo := 0; lo < len(keys); lo += 500 {
		cmds = append(cmds, append([]string{"MGET"}, keys[lo:min(lo+500, len(keys))]...))
	}
	var out []string
	for i, r := range c.redisPipeline(t, cmds) {
		if r.kind != '*' || len(r.elems) != len(cmds[i])-1 {
			t.Fatalf("MGET of %d keys through %s: %s", len(cmds[i])-1, c.c.RemoteAddr(), r)
		}
		for _, e := range r.elems {
			if e.str == nil {
				out = append(out, "")
			} else {
				out = append(out, *e.str)
			}
		}
	}
	return out
}

// checkPlacement checks, from each server's values (values[server][i] is key i's value there),
// that every key was put on the same server by both proxies: each key was set through nutcracker
// ("n"), then through the ambassador ("a"), so the ambassador's value is on exactly one server and
// nutcracker's on none exactly when the ambassador chose nutcracker's server.
func checkPlacement(t *testing.T, keys []string, values [][]string, servers []string) {
	t.Helper()
	mismatch := 0
	per := make([]int, len(servers))
	for i, k := range keys {
		var amb, nc []string
		for s := range servers {
			switch values[s][i] {
			case "a":
				amb = append(amb, servers[s])
				per[s]++
			case "n":
				nc = append(nc, servers[s])
			}
		}
		if len(amb) != 1 || len(nc) != 0 {
			if mismatch < 5 {
				t.Errorf("key %q: the ambassador's value on %v, nutcracker's (not overwritten by the ambassador) on %v", k, amb, nc)
			}
			mismatch++
		}
	}
	if mismatch > 0 {
		t.Fatalf("%d of %d keys not on the server nutcracker put them on", mismatch, len(keys))
	}
	t.Logf("keys per server %v: %v", servers, per)
}

func TestAmbassadorPodMatchesNutcracker(t *testing.T) {
	needHostServers(t, "redis-server", "memcached", "nutcracker")
	t.Parallel()
	p := sharedPodd(t)
	gw := gatewayOf(p)
	keys := ambassadorKeys(10000)

	var redisAddrs, mcAddrs []string
	for range 3 {
		redisAddrs = append(redisAddrs, net.JoinHostPort(gw, strconv.Itoa(freePort(t))))
		mcAddrs = append(mcAddrs, net.JoinHostPort(gw, strconv.Itoa(freePort(t))))
	}
	// The pools as nutcracker's servers: lines, the same in the ambassador's --server flags.
	// redis: md5, weights 1/2/3, names (the ring hashes the names) and a hash tag; memcache:
	// nutcracker's default fnv1a_64 without names (the ring hashes "host:port").
	redisServers := []string{redisAddrs[0] + ":1 shard-a", redisAddrs[1] + ":2 shard-b", redisAddrs[2] + ":3 shard-c"}
	mcServers := []string{mcAddrs[0] + ":1", mcAddrs[1] + ":1", mcAddrs[2] + ":1"}
	const redisHash, mcHash = "md5", "fnv1a_64"

	// One pod per protocol (one ambassador per pod), asking for it by annotation, listening on
	// every interface of the pod so that the host reaches it at the pod's IP.
	redisPod, mcPod := uniqueName(t, "redis"), uniqueName(t, "mc")
	podManifest := func(name, port, protocol, hash, tag string, servers []string) string {
		extra := ""
		if tag != "" {
			extra = fmt.Sprintf("    ambassador.podd.io/hash-tag: %q\n", tag)
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  annotations:
    podd.io/inject: ambassador
    ambassador.podd.io/listen: "0.0.0.0:%[2]s"
    ambassador.podd.io/protocol: %[3]s
    ambassador.podd.io/server: %[4]q
    ambassador.podd.io/hash: %[5]s
    ambassador.podd.io/distribution: ketama
%[6]sspec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[7]s
    command: [sleep, "3600"]
`, name, port, protocol, strings.Join(servers, ","), hash, extra, busyboxImage)
	}
	p.RunManifest(t, podManifest(redisPod, "6380", "redis", redisHash, "{}", redisServers))
	p.RunManifest(t, podManifest(mcPod, "11212", "memcache", mcHash, "", mcServers))
	podIPs := map[string]string{}
	for _, name := range []string{redisPod, mcPod} {
		q := waitPod(t, p, name, "running with an IP and the podd-ambassador sidecar", func(q *pod.Pod) bool {
			return q.Status.Phase == pod.PodRunning && q.Status.PodIP != "" && sidecarRunning(q, "podd-ambassador")
		})
		checkSidecar(t, q, "ambassador")
		podIPs[name] = q.Status.PodIP
	}

	// The bridge exists now that the pods run: the servers listen on its gateway address.
	for _, a := range redisAddrs {
		_, port, _ := net.SplitHostPort(a)
		hostServer(t, a, "redis-server", "--bind", gw, "--port", port, "--protected-mode", "no",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	}
	for _, a := range mcAddrs {
		_, port, _ := net.SplitHostPort(a)
		args := []string{"-l", gw, "-p", port, "-U", "0", "-m", "64"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "nobody")
		}
		hostServer(t, a, "memcached", args...)
	}

	// nutcracker on the host's loopback with the same two pools.
	ncRedis := "127.0.0.1:" + strconv.Itoa(freePort(t))
	ncMC := "127.0.0.1:" + strconv.Itoa(freePort(t))
	var conf strings.Builder
	pool := func(name, listen string, redis bool, hash, tag string, servers []string) {
		fmt.Fprintf(&conf, "%s:\n  listen: %s\n  redis: %t\n  hash: %s\n  distribution: ketama\n", name, listen, redis, hash)
		if tag != "" {
			fmt.Fprintf(&conf, "  hash_tag: %q\n", tag)
		}
		conf.WriteString("  servers:\n")
		for _, s := range servers {
			fmt.Fprintf(&conf, "   - %s\n", s)
		}
	}
	pool("cache", ncRedis, true, redisHash, "{}", redisServers)
	pool("sessions", ncMC, false, mcHash, "", mcServers)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	hostServer(t, ncRedis, "nutcracker", "-c", confPath, "-s", strconv.Itoa(freePort(t)), "-a", "127.0.0.1",
		"-o", filepath.Join(dir, "nutcracker.log"), "-p", filepath.Join(dir, "nutcracker.pid"))
	dialTest(t, ncMC)

	t.Run("redis", func(t *testing.T) {
		redisSetAll(t, dialTest(t, ncRedis), keys, "n")
		amb := dialTest(t, net.JoinHostPort(podIPs[redisPod], "6380"))
		redisSetAll(t, amb, keys, "a")
		values := make([][]string, len(redisAddrs))
		for s, a := range redisAddrs {
			values[s] = redisMGetAll(t, dialTest(t, a), keys)
		}
		checkPlacement(t, keys, values, redisAddrs)
		// Pipelined MGETs of 500 keys each through the ambassador (split over the three servers
		// and merged) return every value.
		for i, v := range redisMGetAll(t, amb, keys) {
			if v != "a" {
				t.Fatalf("MGET through the ambassador: key %q = %q, want \"a\"", keys[i], v)
			}
		}
	})
	t.Run("memcache", func(t *testing.T) {
		dialTest(t, ncMC).mcSetAll(t, keys, "n")
		amb := dialTest(t, net.JoinHostPort(podIPs[mcPod], "11212"))
		amb.mcSetAll(t, keys, "a")
		values := make([][]string, len(mcAddrs))
		for s, a := range mcAddrs {
			got := dialTest(t, a).mcGetAll(t, keys)
			values[s] = make([]string, len(keys))
			for i, k := range keys {
				values[s][i] = got[k]
			}
		}
		checkPlacement(t, keys, values, mcAddrs)
		got := amb.mcGetAll(t, keys)
		for _, k := range keys {
			if got[k] != "a" {
				t.Fatalf("get through the ambassador: key %q = %q, want \"a\"", k, got[k])
			}
		}
	})
}
