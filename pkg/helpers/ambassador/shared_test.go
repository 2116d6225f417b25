package ambassador

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/hosttest"

	"github.com/urfave/cli/v2"
)

// The server connections: one per server, shared by every client connection.

// redisPipeline sends req on c and reads n RESP replies; for goroutines (no t.Fatal).
func redisPipeline(c net.Conn, req []byte, n int) ([][]byte, error) {
	c.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(req)
		werr <- err
	}()
	var buf []byte
	tmp := make([]byte, 64<<10)
	replies := make([][]byte, 0, n)
	for len(replies) < n {
		m, err := parseRESPReply(buf)
		if err != nil {
			return nil, fmt.Errorf("bad reply %q: %v", buf, err)
		}
		if m > 0 {
			replies = append(replies, append([]byte(nil), buf[:m]...))
			buf = buf[m:]
			continue
		}
		k, err := c.Read(tmp)
		if k == 0 && err != nil {
			return nil, fmt.Errorf("reading replies: %v (have %d of %d)", err, len(replies), n)
		}
		buf = append(buf, tmp[:k]...)
	}
	return replies, <-werr
}

// TestClientsShareOneConnectionPerServer: twenty clients pipelining at once reach each server
// over one connection (a connection per client and server before), and every client gets its
// own replies in its own order.
func TestClientsShareOneConnectionPerServer(t *testing.T) {
	fakes := []*fakeRedis{startFakeRedis(t, false), startFakeRedis(t, false), startFakeRedis(t, false)}
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Hash: "md5"}
	for _, f := range fakes {
		pool.Servers = append(pool.Servers, f.addr()+":1")
	}
	_, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	const clients, rounds, keys = 20, 10, 30
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for r := 0; r < rounds; r++ {
				var req []byte
				for k := 0; k < keys; k++ {
					key := fmt.Sprintf("c%d:k%d", i, k)
					req = append(req, encodeRESP("SET", key, fmt.Sprintf("%d:%d", r, k))...)
					req = append(req, encodeRESP("GET", key)...)
				}
				replies, err := redisPipeline(c, req, 2*keys)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				for k := 0; k < keys; k++ {
					want := string(appendBulk(nil, []byte(fmt.Sprintf("%d:%d", r, k))))
					if string(replies[2*k]) != "+OK\r\n" || string(replies[2*k+1]) != want {
						errs <- fmt.Errorf("client %d round %d key %d: %q %q, want +OK and %q", i, r, k, replies[2*k], replies[2*k+1], want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	used := 0
	for i, f := range fakes {
		f.mu.Lock()
		conns, seen := f.conns, f.seen
		f.mu.Unlock()
		if seen > 0 {
			used++
			if conns != 1 {
				t.Errorf("server %d: %d connections from the ambassador for %d clients, want 1", i, conns, clients)
			}
		}
	}
	if used < 2 {
		t.Fatalf("the keys reached %d of 3 servers", used)
	}
}

// TestConcurrentClientsRealRedis: clients pipelining SET, INCR, GET, MGET and DEL at once over
// keys of every server of a real pool, each checking every reply of its own.
func TestConcurrentClientsRealRedis(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, nutcracker", "redis-server")
	servers := []string{startRedis(t), startRedis(t), startRedis(t)}
	// md5 spreads a client's keys over the servers (FNV-1a keeps short keys close): MGET and DEL
	// are split.
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Hash: "md5", Timeout: intp(30000)}
	for _, s := range servers {
		pool.Servers = append(pool.Servers, s+":1")
	}
	a, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	const clients, rounds, keys = 30, 20, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for r := 0; r < rounds; r++ {
				var req []byte
				var want []string
				mget := []string{"MGET"}
				for k := 0; k < keys; k++ {
					key := fmt.Sprintf("c%d:k%d", i, k)
					val := fmt.Sprintf("v%d.%d", r, k)
					req = append(req, encodeRESP("SET", key, val)...)
					req = append(req, encodeRESP("INCR", key+":n")...)
					req = append(req, encodeRESP("GET", key)...)
					want = append(want, "+OK\r\n", ":"+strconv.Itoa(r+1)+"\r\n", string(appendBulk(nil, []byte(val))))
					mget = append(mget, key)
				}
				req = append(req, encodeRESP(mget...)...)
				arr := appendArrayHeader(nil, keys)
				for k := 0; k < keys; k++ {
					arr = appendBulk(arr, []byte(fmt.Sprintf("v%d.%d", r, k)))
				}
				want = append(want, string(arr))
				replies, err := redisPipeline(c, req, len(want))
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				for j := range want {
					if string(replies[j]) != want[j] {
						errs <- fmt.Errorf("client %d round %d reply %d: %q, want %q", i, r, j, replies[j], want[j])
						return
					}
				}
			}
			// DEL over all servers: the counts of every part added up.
			del := []string{"DEL"}
			for k := 0; k < keys; k++ {
				del = append(del, fmt.Sprintf("c%d:k%d", i, k), fmt.Sprintf("c%d:k%d:n", i, k))
			}
			replies, err := redisPipeline(c, encodeRESP(del...), 1)
			if err == nil && string(replies[0]) != ":"+strconv.Itoa(2*keys)+"\r\n" {
				err = fmt.Errorf("DEL: %q, want :%d", replies[0], 2*keys)
			}
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Split requests count a request per part: more sent than asked says MGET and DEL were split.
	var sent uint64
	for _, s := range a.proxies[0].pool.snap.Load().servers {
		sent += s.requests.Load()
	}
	if asked := uint64(clients * (rounds*(3*keys+1) + 1)); sent <= asked {
		t.Fatalf("%d requests sent to the servers for %d asked: MGET and DEL were not split", sent, asked)
	}
}

// TestServerClosingIdleConnectionIsNoFailure: a server that closes the ambassador's idle
// connection (redis-server's timeout) costs no request an error and counts no failure: with
// server_failure_limit 1 a counted failure would eject the only server.
func TestServerClosingIdleConnectionIsNoFailure(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, nutcracker", "redis-server")
	port := hosttest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, addr, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--timeout", "1")
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, AutoEjectHosts: true,
		ServerFailureLimit: intp(1), ServerRetryTimeout: intp(600000), Servers: []string{addr + ":1"}}
	a, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	srv := a.proxies[0].pool.snap.Load().servers[0]
	c := dialConn(t, addrs[0], true)
	if r := c.do("SET", "k", "v"); string(r) != "+OK\r\n" {
		t.Fatalf("SET: %q", r)
	}
	// Wait until the server has closed the idle connection and the ambassador has seen it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		srv.mu.Lock()
		gone := srv.conn == nil
		srv.mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server (timeout 1) did not close the idle connection within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := c.do("GET", "k"); string(r) != "$1\r\nv\r\n" {
		t.Fatalf("GET after the server closed the idle connection: %q", r)
	}
	if n := srv.ejects.Load(); n != 0 {
		t.Fatalf("the server was ejected %d times for closing an idle connection", n)
	}
}

// TestShutdownWithServerThatNeverAnswers: without a timeout, a request waiting for a server
// that never answers does not hold the ambassador's shutdown: Run returns and the client's
// connection is closed.
func TestShutdownWithServerThatNeverAnswers(t *testing.T) {
	hang := startFakeRedis(t, true)
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Servers: []string{hang.addr() + ":1"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, []*PoolConfig{pool}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c, err := net.Dial("tcp", a.Addr(0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(encodeRESP("GET", "k")); err != nil {
		t.Fatal(err)
	}
	// Wait until the request reached the server.
	deadline := time.Now().Add(30 * time.Second)
	for {
		hang.mu.Lock()
		seen := hang.seen
		hang.mu.Unlock()
		if seen > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the GET did not reach the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s of the shutdown while a request waited for a server that never answers")
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	for err == nil {
		var m int
		m, err = c.Read(buf[n:])
		n += m
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the client's connection stayed open after the shutdown (read %q)", buf[:n])
	}
}

// TestProcsFlag: --procs below 0 is refused by name before anything is served.
func TestProcsFlag(t *testing.T) {
	app := &cli.App{Commands: []*cli.Command{Command()}, ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run([]string{"podd-patterns", "ambassador", "--procs", "-1", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:1:1"})
	if err == nil || !strings.Contains(err.Error(), "--procs") || !strings.Contains(err.Error(), "-1") {
		t.Fatalf("--procs -1: %v, want an error naming --procs and -1", err)
	}
}

// mcPipeline sends req on c and reads one response per kinds entry; for goroutines.
func mcPipeline(c net.Conn, req []byte, kinds []mcKind) ([][]byte, error) {
	c.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(req)
		werr <- err
	}()
	var buf []byte
	tmp := make([]byte, 64<<10)
	replies := make([][]byte, 0, len(kinds))
	for len(replies) < len(kinds) {
		m, _, err := parseMCResponse(buf, kinds[len(replies)])
		if err != nil {
			return nil, fmt.Errorf("bad response %q: %v", buf, err)
		}
		if m > 0 {
			replies = append(replies, append([]byte(nil), buf[:m]...))
			buf = buf[m:]
			continue
		}
		k, err := c.Read(tmp)
		if k == 0 && err != nil {
			return nil, fmt.Errorf("reading responses: %v (have %d of %d)", err, len(replies), len(kinds))
		}
		buf = append(buf, tmp[:k]...)
	}
	return replies, <-werr
}

// TestConcurrentClientsRealMemcached: clients pipelining set (some noreply), single and
// many-key get and delete at once on a real memcached pool: the server connections read each
// response as the kind of its own request, whichever client sent it.
func TestConcurrentClientsRealMemcached(t *testing.T) {
	hosttest.NeedBinaries(t, "redis-server, memcached, nutcracker", "memcached")
	servers := []string{startMemcached(t), startMemcached(t), startMemcached(t)}
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Hash: "md5", Timeout: intp(30000)}
	for _, s := range servers {
		pool.Servers = append(pool.Servers, s+":1")
	}
	_, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	const clients, rounds, keys = 30, 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for r := 0; r < rounds; r++ {
				var req []byte
				var kinds []mcKind
				var want []string
				var names []string
				for k := 0; k < keys; k++ {
					key := fmt.Sprintf("c%d:k%d", i, k)
					val := fmt.Sprintf("v%d.%d", r, k)
					names = append(names, key)
					if k%4 == 0 {
						req = fmt.Appendf(req, "set %s 0 0 %d noreply\r\n%s\r\n", key, len(val), val)
					} else {
						req = fmt.Appendf(req, "set %s 0 0 %d\r\n%s\r\n", key, len(val), val)
						kinds, want = append(kinds, mcStorage), append(want, "STORED\r\n")
					}
					req = fmt.Appendf(req, "get %s\r\n", key)
					kinds = append(kinds, mcRetrieval)
					want = append(want, fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, len(val), val))
				}
				req = fmt.Appendf(req, "get %s\r\n", strings.Join(names, " "))
				kinds = append(kinds, mcRetrieval)
				var all strings.Builder
				for k, key := range names {
					val := fmt.Sprintf("v%d.%d", r, k)
					fmt.Fprintf(&all, "VALUE %s 0 %d\r\n%s\r\n", key, len(val), val)
				}
				want = append(want, all.String()+"END\r\n")
				req = fmt.Appendf(req, "delete %s\r\n", names[0])
				kinds, want = append(kinds, mcKeyed), append(want, "DELETED\r\n")
				replies, err := mcPipeline(c, req, kinds)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				for j := range want {
					got := string(replies[j])
					if j == len(want)-2 {
						// the get of many keys: each server's values in turn
						got, want[j] = sortedValues(got), sortedValues(want[j])
					}
					if got != want[j] {
						errs <- fmt.Errorf("client %d round %d response %d: %q, want %q", i, r, j, got, want[j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// sortedValues puts the VALUE blocks of a retrieval response in order.
func sortedValues(r string) string {
	lines := strings.Split(strings.TrimSuffix(r, "END\r\n"), "\r\n")
	var blocks []string
	for i := 0; i+1 < len(lines); i += 2 {
		blocks = append(blocks, lines[i]+"\r\n"+lines[i+1]+"\r\n")
	}
	slices.Sort(blocks)
	return strings.Join(blocks, "") + "END\r\n"
}

// TestRemovedServerConnectionClosed: a server that leaves the pool (its line removed from the
// servers file) gets its connection closed once nothing is queued on it, without waiting for a
// client's next request.
func TestRemovedServerConnectionClosed(t *testing.T) {
	f1, f2 := startFakeRedis(t, false), startFakeRedis(t, false)
	path := filepath.Join(t.TempDir(), "servers")
	if err := os.WriteFile(path, []byte(f1.addr()+":1\n"+f2.addr()+":1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Hash: "md5", ServersFile: path}
	a, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{FilePoll: 20 * time.Millisecond})
	c := dialConn(t, addrs[0], true)
	for i := 0; i < 50; i++ {
		if r := c.do("SET", fmt.Sprintf("k%d", i), "v"); string(r) != "+OK\r\n" {
			t.Fatalf("SET: %q", r)
		}
	}
	f2.mu.Lock()
	open := f2.open
	f2.mu.Unlock()
	if open != 1 {
		t.Fatalf("the second server has %d connections open, want 1 (50 keys, md5)", open)
	}
	if err := os.WriteFile(path, []byte(f1.addr()+":1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		f2.mu.Lock()
		open = f2.open
		f2.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed server still has %d connections from the ambassador after 30 s", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := c.do("GET", "k1"); r[0] == '-' {
		t.Fatalf("GET after the removal: %q", r)
	}
}

// blackhole returns a loopback address whose connection attempts hang: a listener with a backlog
// of 0 whose one queued connection the test holds, so that the kernel drops further SYNs.
func blackhole(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			return addr // the queue is full: this attempt hung
		}
		t.Cleanup(func() { c.Close() })
		if i == 16 {
			t.Fatalf("%d connections to a listener with backlog 0 completed", i+1)
		}
	}
}

// TestOneConnectionAttemptForWaitingClients: while a connection to a server is being opened,
// other clients that need the server wait for that attempt instead of each making their own in
// turn; when it fails they all get its error and it counts one failure of the server, as one
// failed connection does with nutcracker.
func TestOneConnectionAttemptForWaitingClients(t *testing.T) {
	dead := blackhole(t)
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true, Timeout: intp(10000), Servers: []string{dead + ":1"}}
	a, addrs := startAmbassador(t, []*PoolConfig{pool}, Options{})
	srv := a.proxies[0].pool.snap.Load().servers[0]
	const clients = 10
	replies := make(chan string, clients)
	get := func() {
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			replies <- err.Error()
			return
		}
		defer c.Close()
		r, err := redisPipeline(c, encodeRESP("GET", "k"), 1)
		if err != nil {
			replies <- err.Error()
			return
		}
		replies <- string(r[0])
	}
	go get()
	// The first client's attempt is under way (it hangs for the pool's 10 s timeout) …
	deadline := time.Now().Add(30 * time.Second)
	for {
		srv.mu.Lock()
		dialing := srv.dialing != nil
		srv.mu.Unlock()
		if dialing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection attempt to the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// … and the other clients come while it is.
	for i := 1; i < clients; i++ {
		go get()
	}
	for i := 0; i < clients; i++ {
		if r := <-replies; !strings.HasPrefix(r, "-ERR ambassador: server "+dead+": ") {
			t.Errorf("client: %q, want the failed attempt's error", r)
		}
	}
	if n := srv.failing.Load(); n != 1 {
		t.Fatalf("%d failures of the server counted for one connection attempt", n)
	}
}
