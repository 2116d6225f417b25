package ambassador

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestHashVectors(t *testing.T) {
	for _, tc := range []struct {
		hash string
		key  string
		want uint32
	}{
		{"fnv1a_64", "a", 0x8601ec8c},    // low half of FNV-1a-64("a") = 0xaf63dc4c8601ec8c
		{"fnv1a_64", "\xff", 0x79fe466e}, // the byte sign-extended, as nutcracker's C char (unsigned would give 0x8602eb6e)
		{"fnv1a_32", "a", 0xe40c292c},
		{"md5", "a", 0xb975c10c}, // MD5("a") = 0cc175b9…, first four bytes little-endian
		{"crc32a", "a", 0xe8b7be43},
		{"crc32", "a", 0x68b7},
	} {
		h, err := LookupHash(tc.hash)
		if err != nil {
			t.Fatal(err)
		}
		if got := h([]byte(tc.key)); got != tc.want {
			t.Errorf("%s(%q) = %#x, want %#x", tc.hash, tc.key, got, tc.want)
		}
	}
	if _, err := LookupHash("murmur"); err == nil || !strings.Contains(err.Error(), "hash:") {
		t.Errorf("unknown hash: %v", err)
	}
}

func TestKetamaPointsByWeight(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		live    []bool
		want    []int
	}{
		{[]int{1, 1, 1}, []bool{true, true, true}, []int{160, 160, 160}},
		{[]int{1, 2, 3}, []bool{true, true, true}, []int{80, 160, 240}},
		{[]int{1, 1, 1}, []bool{true, false, true}, []int{160, 0, 160}},
		{[]int{1, 1, 1, 1, 1, 1, 1}, []bool{true, true, true, true, true, true, true}, []int{160, 160, 160, 160, 160, 160, 160}},
	} {
		var rs []ringServer
		for i, w := range tc.weights {
			rs = append(rs, ringServer{name: fmt.Sprintf("10.0.0.%d:6379", i), weight: w, live: tc.live[i]})
		}
		r, err := buildRing(DistKetama, fnv1a64, "", rs)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int, len(rs))
		for i, p := range r.points {
			got[p.server]++
			if i > 0 && r.points[i-1].value > p.value {
				t.Fatal("continuum not sorted")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("weights %v live %v: points %v, want %v", tc.weights, tc.live, got, tc.want)
		}
	}
}

func TestHashTagAndServerNames(t *testing.T) {
	r, err := buildRing(DistKetama, fnv1a64, "{}", []ringServer{{"a", 1, true}, {"b", 1, true}, {"c", 1, true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, hashed string }{
		{"user:{42}:name", "42"}, {"{}x", "{}x"}, {"no tag", "no tag"}, {"{open", "{open"}, {"a{b}c{d}", "b"},
	} {
		if got := string(r.tagged([]byte(tc.key))); got != tc.hashed {
			t.Errorf("tagged(%q) = %q, want %q", tc.key, got, tc.hashed)
		}
	}
	for _, tc := range []struct{ line, name string }{
		{"127.0.0.1:6379:1", "127.0.0.1:6379"},
		{"127.0.0.1:11211:1", "127.0.0.1"}, // nutcracker hashes a host on 11211 alone
		{"10.0.0.1:6379:2 shard-a", "shard-a"},
	} {
		s, err := ParseServer(tc.line)
		if err != nil || s.Name != tc.name {
			t.Errorf("ParseServer(%q) = %+v, %v; want name %q", tc.line, s, err, tc.name)
		}
	}
	for _, bad := range []string{"127.0.0.1:6379", "127.0.0.1:6379:0", "h:99999:1", "/tmp/sock:1", ":6379:1"} {
		if _, err := ParseServer(bad); err == nil {
			t.Errorf("ParseServer(%q) accepted", bad)
		}
	}
}

func TestParseConfigRefusesByName(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"p:\n  listen: 127.0.0.1:1\n  servers: [\"127.0.0.1:2:1\"]\n  bogus: 1\n", "bogus"},
		{"p:\n  listen: 127.0.0.1:1\n  hash: murmur\n  servers: [\"127.0.0.1:2:1\"]\n", "hash:"},
		{"p:\n  listen: 127.0.0.1:1\n  hash_tag: \"{\"\n  servers: [\"127.0.0.1:2:1\"]\n", "hash_tag"},
		{"p:\n  listen: 127.0.0.1:1\n", "servers"},
		{"p:\n  listen: 127.0.0.1:1\n  servers: [\"a:1:1\", \"a:1:1\"]\n", "same name"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) && !strings.Contains(err.Error(), "two servers") {
			t.Errorf("%q: err %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
}

// fakeRedis is a RESP server over a map: GET, SET, MGET, MSET, DEL; or, when hang is set, one
// that reads and never answers.
type fakeRedis struct {
	ln    net.Listener
	mu    sync.Mutex
	data  map[string]string
	hang  bool
	seen  int
	conns int // connections accepted
	open  int // connections not closed yet
}

func startFakeRedis(t *testing.T, hang bool) *fakeRedis {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRedis{ln: ln, data: map[string]string{}, hang: hang}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.open++
			f.mu.Unlock()
			go func() {
				f.serve(c)
				f.mu.Lock()
				f.open--
				f.mu.Unlock()
			}()
		}
	}()
	return f
}

func (f *fakeRedis) addr() string { return f.ln.Addr().String() }

func (f *fakeRedis) serve(c net.Conn) {
	defer c.Close()
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := c.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		for {
			m, args, err := parseRESPRequest(buf, nil, 1<<20)
			if err != nil || m == 0 {
				break
			}
			buf = buf[m:]
			f.mu.Lock()
			f.seen++
			f.mu.Unlock()
			if f.hang {
				continue
			}
			c.Write(f.do(args))
		}
	}
}

func (f *fakeRedis) do(args [][]byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch strings.ToUpper(string(args[0])) {
	case "SET":
		f.data[string(args[1])] = string(args[2])
		return []byte("+OK\r\n")
	case "MSET":
		for i := 1; i+1 < len(args); i += 2 {
			f.data[string(args[i])] = string(args[i+1])
		}
		return []byte("+OK\r\n")
	case "GET":
		v, ok := f.data[string(args[1])]
		if !ok {
			return []byte("$-1\r\n")
		}
		return appendBulk(nil, []byte(v))
	case "MGET":
		out := appendArrayHeader(nil, len(args)-1)
		for _, k := range args[1:] {
			if v, ok := f.data[string(k)]; ok {
				out = appendBulk(out, []byte(v))
			} else {
				out = append(out, "$-1\r\n"...)
			}
		}
		return out
	case "DEL":
		n := 0
		for _, k := range args[1:] {
			if _, ok := f.data[string(k)]; ok {
				delete(f.data, string(k))
				n++
			}
		}
		return []byte(":" + strconv.Itoa(n) + "\r\n")
	}
	return []byte("-ERR unknown\r\n")
}

func intp(n int) *int { return &n }

func TestSplitAndMerge(t *testing.T) {
	fakes := []*fakeRedis{startFakeRedis(t, false), startFakeRedis(t, false), startFakeRedis(t, false)}
	// md5: FNV-1a puts short keys that differ in their last bytes on few arcs (as nutcracker does).
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Hash: "md5"}
	for _, f := range fakes {
		pool.Servers = append(pool.Servers, f.addr()+":1")
	}
	_, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	c := dialConn(t, addrs[0], true)
	var keys []string
	mset := []string{"MSET"}
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		mset = append(mset, k, "v"+k)
	}
	if r := c.do(mset...); string(r) != "+OK\r\n" {
		t.Fatalf("MSET: %q", r)
	}
	holding := 0
	for _, f := range fakes {
		if len(f.data) > 0 {
			holding++
		}
	}
	if holding < 2 {
		t.Fatalf("MSET of 200 keys reached %d of 3 servers: %d %d %d", holding, len(fakes[0].data), len(fakes[1].data), len(fakes[2].data))
	}
	vals := splitArrayForTest(t, c.do(append([]string{"MGET", "missing"}, keys...)...))
	if len(vals) != 201 || vals[0] != "" {
		t.Fatalf("MGET: %q", vals)
	}
	for i, k := range keys {
		if vals[i+1] != "v"+k {
			t.Fatalf("MGET: %s = %q, want %q (order kept?)", k, vals[i+1], "v"+k)
		}
	}
	if r := c.do(append([]string{"DEL", "missing"}, keys[:25]...)...); string(r) != ":25\r\n" {
		t.Fatalf("DEL of 25 keys and a missing one: %q", r)
	}
	// Pipelined: replies in the requests' order across servers.
	var req []byte
	var kinds []mcKind
	for _, k := range keys {
		req = append(req, encodeRESP("GET", k)...)
		kinds = append(kinds, 0)
	}
	for i, r := range c.pipeline(req, kinds) {
		want := "$-1\r\n"
		if i >= 25 {
			want = string(appendBulk(nil, []byte("v"+keys[i])))
		}
		if string(r) != want {
			t.Fatalf("pipelined GET %s: %q, want %q", keys[i], r, want)
		}
	}
	if r := c.do("KEYS", "*"); !bytes.HasPrefix(r, []byte("-ERR unknown or unsupported command 'KEYS'")) {
		t.Fatalf("KEYS: %q", r)
	}
}

func TestTimeoutAnswersAnError(t *testing.T) {
	hang := startFakeRedis(t, true)
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Timeout: intp(200), Servers: []string{hang.addr() + ":1"}}
	_, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	c := dialConn(t, addrs[0], true)
	r := c.do("GET", "k")
	if !bytes.Contains(r, []byte("timed out")) || r[0] != '-' {
		t.Fatalf("GET from a server that never answers: %q", r)
	}
	// The connection still serves (a new server connection is opened).
	if r := c.do("PING"); string(r) != "+PONG\r\n" {
		t.Fatalf("PING after a timeout: %q", r)
	}
}

func TestEjectionAndReadmission(t *testing.T) {
	good := startFakeRedis(t, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // refused from now on
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, AutoEjectHosts: true,
		ServerFailureLimit: intp(2), ServerRetryTimeout: intp(300), Servers: []string{good.addr() + ":1", dead + ":1"}}
	a, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	p := a.proxies[0].pool
	// A key on the dead server.
	var key string
	for i := 0; ; i++ {
		k := fmt.Sprintf("k%d", i)
		if p.snap.Load().servers[p.snap.Load().ring.Server([]byte(k))].addr == dead {
			key = k
			break
		}
	}
	c := dialConn(t, addrs[0], true)
	for i := 0; i < 2; i++ {
		if r := c.do("SET", key, "v"); r[0] != '-' {
			t.Fatalf("SET %d to the dead server: %q", i, r)
		}
	}
	// Ejected after server_failure_limit failures: the key now goes to the live server.
	if r := c.do("SET", key, "v"); string(r) != "+OK\r\n" {
		t.Fatalf("SET after ejection: %q", r)
	}
	if good.data[key] != "v" {
		t.Fatalf("the key did not move to the live server")
	}
	// Re-admitted after server_retry_timeout: the key goes to the dead server again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.do("SET", key, "v2")
		if r[0] == '-' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ejected server was not re-admitted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range p.snap.Load().servers {
		if s.addr == dead && s.ejects.Load() != 1 {
			t.Fatalf("ejections of the dead server: %d", s.ejects.Load())
		}
	}
}

func TestServersFileFollowed(t *testing.T) {
	f1, f2 := startFakeRedis(t, false), startFakeRedis(t, false)
	path := filepath.Join(t.TempDir(), "servers")
	if err := os.WriteFile(path, []byte(f1.addr()+":1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, ServersFile: path}
	a, _ := startAmbassador(t, []*PoolConfig{pool}, Options{FilePoll: 20 * time.Millisecond})
	if err := os.WriteFile(path, []byte("# two now\n"+f1.addr()+":1\n- "+f2.addr()+":1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, 2)
}

func waitMembers(t *testing.T, a *Ambassador, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(a.proxies[0].pool.snap.Load().servers) != n {
		if time.Now().After(deadline) {
			t.Fatalf("pool has %d members, want %d", len(a.proxies[0].pool.snap.Load().servers), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeDNS answers A queries for one name with the addresses it holds, over UDP on loopback.
type fakeDNS struct {
	pc    net.PacketConn
	mu    sync.Mutex
	addrs [][4]byte
}

func startFakeDNS(t *testing.T) *fakeDNS {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &fakeDNS{pc: pc}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				d.mu.Lock()
				for _, a := range d.addrs {
					b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: a})
				}
				d.mu.Unlock()
			}
			msg, _ := b.Finish()
			pc.WriteTo(msg, from)
		}
	}()
	return d
}

func (d *fakeDNS) set(addrs ...[4]byte) {
	d.mu.Lock()
	d.addrs = addrs
	d.mu.Unlock()
}

func TestServersDNSFollowed(t *testing.T) {
	d := startFakeDNS(t)
	d.set([4]byte{127, 0, 0, 2})
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.pc.LocalAddr().String())
	}}
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, ServersDNS: "redis.shards.test.:6379", DNSInterval: intp(100)}
	a, _ := startAmbassador(t, []*PoolConfig{pool}, Options{Resolver: resolver})
	waitMembers(t, a, 1)
	d.set([4]byte{127, 0, 0, 2}, [4]byte{127, 0, 0, 3}, [4]byte{127, 0, 0, 4}) // scale-up
	waitMembers(t, a, 3)
	names := []string{}
	for _, s := range a.proxies[0].pool.snap.Load().servers {
		names = append(names, s.spec.Name)
	}
	if strings.Join(names, ",") != "127.0.0.2:6379,127.0.0.3:6379,127.0.0.4:6379" {
		t.Fatalf("members %v", names)
	}
	d.set([4]byte{127, 0, 0, 3}) // scale-down
	waitMembers(t, a, 1)
}
