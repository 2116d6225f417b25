package ambassador

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

const (
	initialBuf    = 16 << 10
	keepBuf       = 256 << 10 // a buffer grown past this is dropped once idle
	maxReplyBytes = 512 << 20 // one reply, as redis-server's proto-max-bulk-len
)

// The server side, as nutcracker's: one connection per server, shared by every client
// connection of the pool. A client appends its batch's requests for the server to the
// connection's write buffer and their reply slots to its queue, in one step under the server's
// lock, so that the requests and the slots keep the same order; the connection's writer sends
// everything queued in one write per wake-up (the requests of all the clients that queued
// meanwhile); its reader takes the replies in order, copies each into the slot's client and wakes
// a client once its whole batch is answered. A client queues its next batch only after its
// replies, so it reads its own writes. A connection that fails (broken, refused, a reply that
// cannot be parsed, a request older than the pool's timeout) is closed and every request queued
// on it is answered with an error; the next request opens a new one.

// slot is one request on a server connection waiting for its reply.
type slot struct {
	b        *backend
	part     int32 // the client's part index: where the reply goes
	mk       mcKind
	deadline int64 // unix nanoseconds by which the reply is due; 0: none
}

// span is where a part's reply is in its backend's recv, or the error it got instead.
type span struct {
	a, b int
	err  error
}

// backend is one client connection's batch for one server: the requests to queue, their slots,
// and the replies the server's reader delivers.
type backend struct {
	srv   *server
	c     *client
	out   []byte
	slots []slot
	recv  []byte

	inBatch bool
	nreq    int // requests in this batch
}

// sconn is one connection to a server. The fields marked so are under srv.mu.
type sconn struct {
	srv     *server
	pool    *pool
	timeout time.Duration
	conn    net.Conn
	wake    chan struct{} // the writer's: there is something to write
	quit    chan struct{} // closed when the connection failed

	// under srv.mu
	wbuf     []byte
	fifo     []slot // queued, not yet taken by the reader, oldest first
	inflight int    // slots in fifo and held by the reader
	writing  bool   // the writer is awake (wake need not be signalled)
	dead     bool
	closing  bool  // closed by the ambassador (server removed, shutdown): not a failure
	werr     error // why the writer closed the connection

	// the reader's
	rbuf []byte
	r, w int
}

// describeErr is the text clients get for a failed exchange with a server.
func describeErr(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timed out"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		if se, ok := op.Err.(*os.SyscallError); ok {
			return se.Err.Error()
		}
		return op.Err.Error()
	}
	return err.Error()
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

var errPoolClosed = errors.New("ambassador shutting down")

// submit queues b's requests on its server's connection, opening one if there is none. It
// returns an error when no connection could be opened; b's slots are then not queued. One
// attempt to connect is made at a time: clients that need the server meanwhile wait for it, and
// share its error (one failure of the server).
func (c *client) submit(b *backend, deadline int64) error {
	s := b.srv
	s.mu.Lock()
	sc := s.conn
	for sc == nil || sc.dead {
		if c.pool.closed.Load() {
			s.mu.Unlock()
			return errPoolClosed
		}
		if s.dialing != nil {
			wait, fails := s.dialing, s.dialFails
			s.mu.Unlock()
			<-wait
			s.mu.Lock()
			if s.dialFails != fails {
				err := s.dialErr
				s.mu.Unlock()
				return err
			}
			sc = s.conn
			continue
		}
		done := make(chan struct{})
		s.dialing = done
		s.mu.Unlock()
		nc, err := dialServer(c.pool, s, c.p.timeout)
		s.mu.Lock()
		s.dialing = nil
		close(done)
		if err != nil {
			s.dialFails++
			s.dialErr = err
			s.mu.Unlock()
			if !c.pool.closed.Load() {
				c.pool.failure(s)
			}
			return err
		}
		if c.pool.closed.Load() {
			// the shutdown's closing of the connections may have passed this one by
			nc.closing = true
			s.mu.Unlock()
			nc.conn.Close()
			return errPoolClosed
		}
		s.conn, sc = nc, nc
	}
	if len(b.slots) > 0 {
		for i := range b.slots {
			b.slots[i].deadline = deadline
		}
		if deadline != 0 && sc.inflight == 0 {
			sc.conn.SetReadDeadline(time.Unix(0, deadline))
		}
		sc.fifo = append(sc.fifo, b.slots...)
		sc.inflight += len(b.slots)
	}
	sc.wbuf = append(sc.wbuf, b.out...)
	if !sc.writing {
		sc.writing = true
		select {
		case sc.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	return nil
}

// dialServer opens a connection to s, on redis sends AUTH and SELECT as the pool says, and
// starts its writer and reader.
func dialServer(p *pool, s *server, timeout time.Duration) (*sconn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(p.ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	sc := &sconn{srv: s, pool: p, timeout: timeout, conn: conn, wake: make(chan struct{}, 1), quit: make(chan struct{}), rbuf: make([]byte, initialBuf)}
	stop := context.AfterFunc(p.ctx, func() { conn.Close() }) // a shutdown ends AUTH/SELECT too
	defer stop()
	if err := sc.hello(); err != nil {
		conn.Close()
		return nil, err
	}
	go sc.writeLoop()
	go sc.readLoop()
	return sc, nil
}

// hello sends AUTH and SELECT when the pool has them and reads their replies.
func (sc *sconn) hello() error {
	cfg := sc.pool.cfg
	if !cfg.Redis || (cfg.RedisAuth == "" && cfg.RedisDB == 0) {
		return nil
	}
	var hello []byte
	n := 0
	if cfg.RedisAuth != "" {
		hello = appendBulk(appendBulk(appendArrayHeader(hello, 2), []byte("AUTH")), []byte(cfg.RedisAuth))
		n++
	}
	if cfg.RedisDB != 0 {
		hello = appendBulk(appendBulk(appendArrayHeader(hello, 2), []byte("SELECT")), fmt.Appendf(nil, "%d", cfg.RedisDB))
		n++
	}
	if sc.timeout > 0 {
		sc.conn.SetDeadline(time.Now().Add(sc.timeout))
		defer sc.conn.SetDeadline(time.Time{})
	}
	if _, err := sc.conn.Write(hello); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		reply, err := sc.readReply(0)
		if err != nil {
			return err
		}
		if len(reply) > 0 && reply[0] == '-' {
			return fmt.Errorf("AUTH/SELECT refused: %s", trimCRLF(reply[1:]))
		}
	}
	return nil
}

// readReply returns the next complete reply (for memcache, of a request of kind), valid until
// the next read.
func (sc *sconn) readReply(kind mcKind) ([]byte, error) {
	for {
		n, err := sc.parse(kind)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			sc.r += n
			return sc.rbuf[sc.r-n : sc.r], nil
		}
		if err := sc.fill(); err != nil {
			return nil, err
		}
	}
}

// parse returns the length of the complete reply at the start of what was read, 0 when it is
// incomplete.
func (sc *sconn) parse(kind mcKind) (int, error) {
	avail := sc.rbuf[sc.r:sc.w]
	var n int
	var err error
	if sc.pool.cfg.Redis {
		n, err = parseRESPReply(avail)
	} else {
		n, _, err = parseMCResponse(avail, kind)
	}
	if err != nil {
		return 0, fmt.Errorf("bad reply: %w", err)
	}
	return n, nil
}

// fill reads more bytes from the server, growing rbuf when a reply does not fit.
func (sc *sconn) fill() error {
	if sc.r == sc.w {
		sc.r, sc.w = 0, 0
		if len(sc.rbuf) > keepBuf {
			sc.rbuf = make([]byte, initialBuf)
		}
	} else if sc.r > 0 {
		n := copy(sc.rbuf, sc.rbuf[sc.r:sc.w])
		sc.r, sc.w = 0, n
	}
	if sc.w == len(sc.rbuf) {
		if len(sc.rbuf) >= maxReplyBytes {
			return fmt.Errorf("reply larger than %d bytes", maxReplyBytes)
		}
		nb := make([]byte, min(2*len(sc.rbuf), maxReplyBytes))
		copy(nb, sc.rbuf[:sc.w])
		sc.rbuf = nb
	}
	n, err := sc.conn.Read(sc.rbuf[sc.w:])
	sc.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// writeLoop writes what clients queued, all of it in one write per round, until the connection
// fails.
func (sc *sconn) writeLoop() {
	s := sc.srv
	var free []byte
	for {
		select {
		case <-sc.wake:
		case <-sc.quit:
			return
		}
		// Let the clients that are ready to run queue their requests first: a client waking
		// the writer puts it next in line, before the other clients, and the writer would then
		// send one client's requests a write (a loopback write is the dearest step: the
		// server's side of TCP runs in it).
		runtime.Gosched()
		for {
			s.mu.Lock()
			if sc.dead || len(sc.wbuf) == 0 {
				sc.writing = false
				s.mu.Unlock()
				break
			}
			buf := sc.wbuf
			sc.wbuf = free[:0]
			s.mu.Unlock()
			if sc.timeout > 0 {
				sc.conn.SetWriteDeadline(time.Now().Add(sc.timeout))
			}
			if _, err := sc.conn.Write(buf); err != nil {
				// The reader sees the closed connection and answers every queued request.
				s.mu.Lock()
				sc.werr = err
				s.mu.Unlock()
				sc.conn.Close()
				return
			}
			free = buf[:0]
			if cap(free) > keepBuf {
				free = nil
			}
		}
	}
}

var errUnexpectedReply = errors.New("bad reply: a reply to no request")

// readLoop reads the replies, hands each to the slot queued first, and answers every slot
// still queued with an error when the connection fails.
func (sc *sconn) readLoop() {
	s := sc.srv
	var local []slot // taken from fifo, in order
	li := 0
	for {
		delivered := 0
		for sc.r < sc.w {
			if li == len(local) {
				s.mu.Lock()
				local, sc.fifo = sc.fifo, local[:0]
				s.mu.Unlock()
				li = 0
				if len(local) == 0 {
					sc.fail(nil, errUnexpectedReply)
					return
				}
			}
			sl := &local[li]
			n, err := sc.parse(sl.mk)
			if err != nil {
				sc.fail(local[li:], err)
				return
			}
			if n == 0 {
				break
			}
			deliver(sl, sc.rbuf[sc.r:sc.r+n], nil)
			sc.r += n
			li++
			delivered++
		}
		if delivered > 0 {
			s.mu.Lock()
			sc.inflight -= delivered
			if sc.timeout > 0 {
				switch {
				case sc.inflight == 0:
					sc.conn.SetReadDeadline(time.Time{})
				case li < len(local):
					sc.conn.SetReadDeadline(time.Unix(0, local[li].deadline))
				default:
					sc.conn.SetReadDeadline(time.Unix(0, sc.fifo[0].deadline))
				}
			}
			idle := sc.inflight == 0 && !sc.writing && s.removed.Load()
			if idle {
				sc.closing = true
			}
			s.mu.Unlock()
			sc.pool.ok(s)
			if idle {
				sc.conn.Close()
			}
		}
		if err := sc.fill(); err != nil {
			sc.fail(local[li:], err)
			return
		}
	}
}

// fail closes the connection and answers held (the reader's slots) and every queued slot with
// err; a failure with requests outstanding, or any but the server closing an idle connection,
// counts towards the server's ejection.
func (sc *sconn) fail(held []slot, err error) {
	s := sc.srv
	s.mu.Lock()
	sc.dead = true
	queued := sc.fifo
	sc.fifo = nil
	sc.inflight = 0
	closing := sc.closing
	if sc.werr != nil {
		err = sc.werr
	}
	if s.conn == sc {
		s.conn = nil
	}
	s.mu.Unlock()
	close(sc.quit)
	sc.conn.Close()
	for i := range held {
		deliver(&held[i], nil, err)
	}
	for i := range queued {
		deliver(&queued[i], nil, err)
	}
	if closing {
		return
	}
	if len(held)+len(queued) == 0 && errors.Is(err, io.EOF) {
		return // the server closed an idle connection (its timeout, a restart)
	}
	sc.pool.failure(s)
}

// deliver gives a slot its reply (copied into its backend) or its error, and wakes the slot's
// client when this was the last reply its batch waited for.
func deliver(sl *slot, reply []byte, err error) {
	b := sl.b
	c := b.c
	if err != nil {
		c.spans[sl.part] = span{err: err}
	} else {
		a := len(b.recv)
		b.recv = append(b.recv, reply...)
		c.spans[sl.part] = span{a: a, b: len(b.recv)}
	}
	if c.outstanding.Add(-1) == 0 {
		c.done <- struct{}{}
	}
}

// close closes s's connection when nothing is queued on it (the server left the pool), or marks
// it to be closed by its reader when the last reply is in.
func (s *server) closeIdle() {
	s.mu.Lock()
	sc := s.conn
	if sc == nil || sc.dead {
		s.mu.Unlock()
		return
	}
	idle := sc.inflight == 0 && !sc.writing
	if idle {
		sc.closing = true
	}
	s.mu.Unlock()
	if idle {
		sc.conn.Close()
	}
}

// closeConn closes s's connection, answering what is queued on it with errors (shutdown).
func (s *server) closeConn() {
	s.mu.Lock()
	sc := s.conn
	if sc != nil {
		sc.closing = true
	}
	s.mu.Unlock()
	if sc != nil {
		sc.conn.Close()
	}
}
