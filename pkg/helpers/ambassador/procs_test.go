package ambassador

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"
)

// Tests against real servers: redis-server, memcached and nutcracker started by the test on
// loopback ports. Without them the tests are skipped, except under CI=true, where that fails.

// startProcess runs a server in the background until the test ends, and waits until addr
// accepts connections.
func startProcess(t testing.TB, addr string, name string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		log.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("%s %v exited: %s", name, args, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v", name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startRedis(t testing.TB) string {
	port := hosttest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, addr, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	return addr
}

func startMemcached(t testing.TB) string {
	port := hosttest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"-p", strconv.Itoa(port), "-U", "0", "-l", "127.0.0.1", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	startProcess(t, addr, "memcached", args...)
	return addr
}

// startNutcracker runs nutcracker with conf (a YAML pool file whose listen is addr).
func startNutcracker(t testing.TB, conf, addr string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, addr, "nutcracker", "-c", path, "-s", strconv.Itoa(hosttest.FreePort(t)), "-a", "127.0.0.1",
		"-o", filepath.Join(dir, "nutcracker.log"), "-p", filepath.Join(dir, "nutcracker.pid"))
}

// startAmbassador serves pools in this process until the test ends and returns their addresses.
func startAmbassador(t testing.TB, pools []*PoolConfig, opts Options) (*Ambassador, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, pools, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ambassador: %v", err)
		}
	})
	var addrs []string
	for i := range pools {
		addrs = append(addrs, a.Addr(i).String())
	}
	return a, addrs
}

// conn is a test client speaking either protocol: it sends a pipeline and reads its replies.
type conn struct {
	t     testing.TB
	c     net.Conn
	redis bool
	buf   []byte
}

func dialConn(t testing.TB, addr string, redis bool) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, redis: redis}
}

func encodeRESP(args ...string) []byte {
	b := appendArrayHeader(nil, len(args))
	for _, a := range args {
		b = appendBulk(b, []byte(a))
	}
	return b
}

// pipeline writes req (several requests) and reads one reply per kinds entry (for memcache, the
// kind of each request).
func (c *conn) pipeline(req []byte, kinds []mcKind) [][]byte {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	go c.c.Write(req)
	replies := make([][]byte, 0, len(kinds))
	tmp := make([]byte, 64<<10)
	for _, k := range kinds {
		for {
			var n int
			var err error
			if c.redis {
				n, err = parseRESPReply(c.buf)
			} else {
				n, _, err = parseMCResponse(c.buf, k)
			}
			if err != nil {
				c.t.Fatalf("bad reply %q: %v", c.buf, err)
			}
			if n > 0 {
				replies = append(replies, append([]byte(nil), c.buf[:n]...))
				c.buf = c.buf[n:]
				break
			}
			m, err := c.c.Read(tmp)
			if m == 0 && err != nil {
				c.t.Fatalf("reading replies: %v (have %d of %d)", err, len(replies), len(kinds))
			}
			c.buf = append(c.buf, tmp[:m]...)
		}
	}
	return replies
}

func (c *conn) do(args ...string) []byte {
	return c.pipeline(encodeRESP(args...), []mcKind{0})[0]
}

// testKeys are n keys, some with bytes of 0x80 and above (which nutcracker's hash functions
// sign-extend) and some with hash tags.
func testKeys(n int) []string {
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

func redisPoolYAML(listen string, hash, tag string, servers []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p:\n  listen: %s\n  redis: true\n  hash: %s\n  distribution: ketama\n", listen, hash)
	if tag != "" {
		fmt.Fprintf(&b, "  hash_tag: %q\n", tag)
	}
	b.WriteString("  servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "   - %s\n", s)
	}
	return b.String()
}

func memcachePoolYAML(listen string, hash, tag string, servers []string) string {
	return strings.Replace(redisPoolYAML(listen, hash, tag, servers), "  redis: true\n", "", 1)
}

// compatCase is one pool shape checked against nutcracker.
type compatCase struct {
	name    string
	hash    string
	tag     string
	servers func(addrs []string) []string // the servers: lines
}

var compatCases = []compatCase{
	{name: "fnv1a_64", hash: "fnv1a_64", servers: func(a []string) []string {
		return []string{a[0] + ":1", a[1] + ":1", a[2] + ":1"}
	}},
	{name: "md5 weights names tag", hash: "md5", tag: "{}", servers: func(a []string) []string {
		return []string{a[0] + ":1 shard-a", a[1] + ":2 shard-b", a[2] + ":3 shard-c"}
	}},
}

// TestNutcrackerCompatRedis: for 10,000 keys, the redis-server each key lands on through the
// ambassador is the one it lands on through nutcracker with the same pool. Every key is set
// through nutcracker ("n"), then through the ambassador ("a"), then looked for on each server
// directly: it must be on exactly one, with "a".
func TestNutcrackerCompatRedis(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, nutcracker", "redis-server", "nutcracker")
	addrs := []string{startRedis(t), startRedis(t), startRedis(t)}
	keys := testKeys(10000)
	for _, tc := range compatCases {
		t.Run(tc.name, func(t *testing.T) {
			direct := make([]*conn, len(addrs))
			for i, a := range addrs {
				direct[i] = dialConn(t, a, true)
				if r := direct[i].do("FLUSHALL"); string(r) != "+OK\r\n" {
					t.Fatalf("FLUSHALL: %q", r)
				}
			}
			ncAddr := "127.0.0.1:" + strconv.Itoa(hosttest.FreePort(t))
			startNutcracker(t, redisPoolYAML(ncAddr, tc.hash, tc.tag, tc.servers(addrs)), ncAddr)
			pools, err := ParseConfig([]byte(redisPoolYAML("127.0.0.1:0", tc.hash, tc.tag, tc.servers(addrs))))
			if err != nil {
				t.Fatal(err)
			}
			_, ambAddrs := startAmbassador(t, pools, Options{})
			setAll := func(addr, value string) {
				c := dialConn(t, addr, true)
				for lo := 0; lo < len(keys); lo += 500 {
					var req []byte
					kinds := make([]mcKind, 0, 500)
					for _, k := range keys[lo:min(lo+500, len(keys))] {
						req = append(req, encodeRESP("SET", k, value)...)
						kinds = append(kinds, 0)
					}
					for i, r := range c.pipeline(req, kinds) {
						if string(r) != "+OK\r\n" {
							t.Fatalf("SET %s through %s: %q", keys[lo+i], addr, r)
						}
					}
				}
			}
			setAll(ncAddr, "n")
			setAll(ambAddrs[0], "a")
			where := make([][]int, len(keys))
			stale := 0
			for si, c := range direct {
				for lo := 0; lo < len(keys); lo += 500 {
					args := append([]string{"MGET"}, keys[lo:min(lo+500, len(keys))]...)
					r := c.do(args...)
					vals := splitArrayForTest(t, r)
					for i, v := range vals {
						switch v {
						case "a":
							where[lo+i] = append(where[lo+i], si)
						case "n":
							stale++
						}
					}
				}
			}
			mismatch := 0
			for i, w := range where {
				if len(w) != 1 {
					if mismatch < 5 {
						t.Errorf("key %q: set by the ambassador on servers %v", keys[i], w)
					}
					mismatch++
				}
			}
			if mismatch > 0 || stale > 0 {
				t.Fatalf("%d of %d keys not where nutcracker put them (%d nutcracker values left elsewhere)", mismatch, len(keys), stale)
			}
			// And the split MGET through the ambassador reads every key back.
			c := dialConn(t, ambAddrs[0], true)
			vals := splitArrayForTest(t, c.do(append([]string{"MGET"}, keys[:2000]...)...))
			for i, v := range vals {
				if v != "a" {
					t.Fatalf("MGET through the ambassador: key %q = %q", keys[i], v)
				}
			}
			if len(vals) != 2000 {
				t.Fatalf("MGET through the ambassador: %d values for 2000 keys", len(vals))
			}
		})
	}
}

// splitArrayForTest decodes an array of bulk strings ("" for nil).
func splitArrayForTest(t *testing.T, r []byte) []string {
	t.Helper()
	if len(r) == 0 || r[0] != '*' {
		t.Fatalf("not an array: %q", r)
	}
	n, adv := line(r)
	count, _ := parseInt(r[1:n])
	pos := adv
	out := make([]string, 0, count)
	for i := 0; i < count; i++ {
		m, err := parseRESPReply(r[pos:])
		if err != nil || m == 0 {
			t.Fatalf("bad element at %d: %q", pos, r[pos:])
		}
		e := r[pos : pos+m]
		pos += m
		if bytes.HasPrefix(e, []byte("$-1")) {
			out = append(out, "")
			continue
		}
		_, hdr := line(e)
		out = append(out, string(e[hdr:len(e)-2]))
	}
	return out
}

// TestNutcrackerCompatMemcache is TestNutcrackerCompatRedis for memcached.
func TestNutcrackerCompatMemcache(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, nutcracker", "memcached", "nutcracker")
	addrs := []string{startMemcached(t), startMemcached(t), startMemcached(t)}
	keys := testKeys(10000)
	for _, tc := range compatCases {
		t.Run(tc.name, func(t *testing.T) {
			direct := make([]*conn, len(addrs))
			for i, a := range addrs {
				direct[i] = dialConn(t, a, false)
				if r := direct[i].pipeline([]byte("flush_all\r\n"), []mcKind{mcKeyed}); string(r[0]) != "OK\r\n" {
					t.Fatalf("flush_all: %q", r[0])
				}
			}
			ncAddr := "127.0.0.1:" + strconv.Itoa(hosttest.FreePort(t))
			startNutcracker(t, memcachePoolYAML(ncAddr, tc.hash, tc.tag, tc.servers(addrs)), ncAddr)
			pools, err := ParseConfig([]byte(memcachePoolYAML("127.0.0.1:0", tc.hash, tc.tag, tc.servers(addrs))))
			if err != nil {
				t.Fatal(err)
			}
			_, ambAddrs := startAmbassador(t, pools, Options{})
			setAll := func(addr, value string) {
				c := dialConn(t, addr, false)
				for lo := 0; lo < len(keys); lo += 500 {
					var req []byte
					kinds := make([]mcKind, 0, 500)
					for _, k := range keys[lo:min(lo+500, len(keys))] {
						req = fmt.Appendf(req, "set %s 0 0 1\r\n%s\r\n", k, value)
						kinds = append(kinds, mcStorage)
					}
					for i, r := range c.pipeline(req, kinds) {
						if string(r) != "STORED\r\n" {
							t.Fatalf("set %s through %s: %q", keys[lo+i], addr, r)
						}
					}
				}
			}
			setAll(ncAddr, "n")
			setAll(ambAddrs[0], "a")
			where := map[string][]int{}
			stale := 0
			for si, c := range direct {
				for lo := 0; lo < len(keys); lo += 100 {
					r := c.pipeline([]byte("get "+strings.Join(keys[lo:min(lo+100, len(keys))], " ")+"\r\n"), []mcKind{mcRetrieval})[0]
					for k, v := range mcValuesForTest(t, r) {
						switch v {
						case "a":
							where[k] = append(where[k], si)
						case "n":
							stale++
						}
					}
				}
			}
			mismatch := 0
			for _, k := range keys {
				if w := where[k]; len(w) != 1 {
					if mismatch < 5 {
						t.Errorf("key %q: set by the ambassador on servers %v", k, w)
					}
					mismatch++
				}
			}
			if mismatch > 0 || stale > 0 {
				t.Fatalf("%d of %d keys not where nutcracker put them (%d nutcracker values left elsewhere)", mismatch, len(keys), stale)
			}
			c := dialConn(t, ambAddrs[0], false)
			got := mcValuesForTest(t, c.pipeline([]byte("get "+strings.Join(keys[:1000], " ")+"\r\n"), []mcKind{mcRetrieval})[0])
			for _, k := range keys[:1000] {
				if got[k] != "a" {
					t.Fatalf("get of 1000 keys through the ambassador: %q = %q", k, got[k])
				}
			}
		})
	}
}

// mcValuesForTest decodes a retrieval response into key → value.
func mcValuesForTest(t *testing.T, r []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(r) > 0 {
		n, adv := line(r)
		l := string(r[:n])
		if l == "END" {
			return out
		}
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "VALUE" {
			t.Fatalf("bad response line %q", l)
		}
		size, _ := strconv.Atoi(f[3])
		out[f[1]] = string(r[adv : adv+size])
		r = r[adv+size+2:]
	}
	t.Fatalf("response without END")
	return nil
}
