package ambassador

import (
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// batchBytes bounds the requests one batch takes from a client's buffer: a client that pipelines
// more waits (back-pressure through TCP) until the batch is answered.
const batchBytes = 64 << 10

type pendKind uint8

const (
	pForward pendKind = iota + 1 // one part; its reply is the reply
	pLocal                       // the reply is local[a:b]
	pMget                        // parts' arrays merged in the keys' order
	pSum                         // parts' integers added up
	pAllOK                       // +OK when every part says +OK
	pMCGet                       // parts' VALUE blocks, then END
	pNoReply                     // memcache noreply: sent, nothing read
)

// pending is one request of a batch, waiting for its reply.
type pending struct {
	kind   pendKind
	mcKind mcKind
	a, b   int // pLocal: the reply's extent in local; otherwise the parts' extent in parts
	k0, k1 int // pMget: the keys' extent in keyPart
}

// client serves one client connection.
type client struct {
	p    *Proxy
	pool *pool
	conn net.Conn

	in   []byte
	r, w int
	out  []byte

	snap     *snapshot
	gen      uint64
	backends []*backend // by server id
	touched  []*backend

	pend    []pending
	parts   []*backend // by part: the server a request (or a split request's part) goes to
	spans   []span     // by part: its reply, filled in by the servers' readers
	keyPart []int32
	local   []byte
	args    [][]byte
	words   [][]byte
	mcReq   mcRequest
	merge   []byte
	elems   []int
	cursor  []int

	sample   uint32
	errCount int

	outstanding atomic.Int32  // replies the batch still waits for, plus one while queueing
	done        chan struct{} // the last reply of the batch is in
}

// serve reads batches of pipelined requests, queues each server its part of a batch on the
// server's shared connection, waits for the replies and answers the client in one write.
func (c *client) serve() {
	defer c.closeAll()
	c.in = make([]byte, initialBuf)
	for {
		closeAfter := c.parseBatch()
		if len(c.pend) == 0 {
			if closeAfter {
				return
			}
			if err := c.fill(); err != nil {
				return
			}
			continue
		}
		start := time.Now()
		c.exchange()
		if _, err := c.conn.Write(c.out); err != nil {
			return
		}
		c.pool.metrics.observe(len(c.pend), c.errCount, time.Since(start))
		if closeAfter {
			return
		}
		c.endBatch()
	}
}

// fill reads more of the client's requests.
func (c *client) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if len(c.in) > keepBuf {
			c.in = make([]byte, initialBuf)
		}
	} else if c.r > 0 {
		n := copy(c.in, c.in[c.r:c.w])
		c.r, c.w = 0, n
	}
	if c.w == len(c.in) {
		limit := c.pool.cfg.MaxRequestBytes + 4096
		if len(c.in) >= limit {
			return errors.New("request too large")
		}
		nb := make([]byte, min(2*len(c.in), limit))
		copy(nb, c.in[:c.w])
		c.in = nb
	}
	n, err := c.conn.Read(c.in[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("no bytes read")
	}
	return err
}

// parseBatch routes the complete requests in the buffer (up to batchBytes) and reports whether
// the connection closes after this batch (QUIT, or a request that cannot be parsed).
func (c *client) parseBatch() bool {
	c.snap = c.pool.current(time.Now().UnixNano())
	if c.snap.gen != c.gen {
		c.gen = c.snap.gen
		for i, b := range c.backends {
			if b != nil && b.srv.removed.Load() {
				c.backends[i] = nil
			}
		}
	}
	taken := 0
	for c.r < c.w && taken < batchBytes {
		var n int
		var closeAfter bool
		var err error
		if c.pool.cfg.Redis {
			n, closeAfter, err = c.routeRedis(c.in[c.r:c.w])
		} else {
			n, closeAfter, err = c.routeMemcache(c.in[c.r:c.w])
		}
		if err != nil {
			var pe *protoError
			msg := err.Error()
			if errors.As(err, &pe) && c.pool.cfg.Redis {
				msg = pe.msg
			}
			c.addLocalError(msg)
			return true
		}
		if n == 0 {
			return false
		}
		c.r += n
		taken += n
		if closeAfter {
			return true
		}
	}
	return false
}

func (c *client) addLocal(reply []byte) {
	a := len(c.local)
	c.local = append(c.local, reply...)
	c.pend = append(c.pend, pending{kind: pLocal, a: a, b: len(c.local)})
}

func (c *client) addLocalError(msg string) {
	a := len(c.local)
	if c.pool.cfg.Redis {
		if len(msg) > 0 && msg[0] == '-' {
			c.local = append(append(c.local, msg...), '\r', '\n')
		} else {
			c.local = appendRESPError(c.local, msg)
		}
	} else {
		if !hasMCErrorPrefix(msg) {
			c.local = append(c.local, "SERVER_ERROR "...)
		}
		c.local = append(append(c.local, msg...), '\r', '\n')
	}
	c.pend = append(c.pend, pending{kind: pLocal, a: a, b: len(c.local)})
	c.errCount++
}

func hasMCErrorPrefix(msg string) bool {
	for _, p := range []string{"ERROR", "CLIENT_ERROR", "SERVER_ERROR"} {
		if len(msg) >= len(p) && msg[:len(p)] == p {
			return true
		}
	}
	return false
}

// backendFor returns the client's connection to the server at index idx of the snapshot,
// marking it part of this batch.
func (c *client) backendFor(idx int) *backend {
	srv := c.snap.servers[idx]
	for len(c.backends) <= srv.id {
		c.backends = append(c.backends, nil)
	}
	b := c.backends[srv.id]
	if b == nil || b.srv != srv {
		b = &backend{srv: srv, c: c}
		c.backends[srv.id] = b
	}
	if !b.inBatch {
		b.inBatch = true
		c.touched = append(c.touched, b)
	}
	return b
}

// expect says that the request just appended to b.out has a reply, which goes to part.
func (c *client) expect(b *backend, part int, mk mcKind) {
	b.slots = append(b.slots, slot{b: b, part: int32(part), mk: mk})
	b.nreq++
}

func (c *client) hot(key []byte) {
	c.sample++
	if c.sample&(hotSample-1) == 0 {
		c.pool.metrics.hot.add(key)
	}
}

// forward sends raw to the server key lands on, its reply to be read as kind.
func (c *client) forward(key, raw []byte, kind pendKind, mk mcKind) {
	c.hot(key)
	idx := c.snap.ring.Server(key)
	if idx < 0 {
		c.addLocalError("no live servers in pool " + c.pool.cfg.Name)
		return
	}
	b := c.backendFor(idx)
	b.out = append(b.out, raw...)
	a := len(c.parts)
	c.parts = append(c.parts, b)
	if kind == pNoReply {
		b.nreq++
	} else {
		c.expect(b, a, mk)
	}
	c.pend = append(c.pend, pending{kind: kind, mcKind: mk, a: a, b: len(c.parts)})
}

// split groups keys by server: keyPart gets, per key, the index of its part (from the first part
// of this request), and parts the backends. It returns the parts' start, or -1 when a key has no
// live server. stride is 1, or 2 for MSET's key-value pairs.
func (c *client) split(keys [][]byte, stride int) int {
	p0 := len(c.parts)
	for i := 0; i < len(keys); i += stride {
		c.hot(keys[i])
		idx := c.snap.ring.Server(keys[i])
		if idx < 0 {
			c.parts = c.parts[:p0]
			return -1
		}
		srv := c.snap.servers[idx]
		j := -1
		for k := p0; k < len(c.parts); k++ {
			if c.parts[k].srv == srv {
				j = k - p0
				break
			}
		}
		if j < 0 {
			c.parts = append(c.parts, c.backendFor(idx))
			j = len(c.parts) - 1 - p0
		}
		c.keyPart = append(c.keyPart, int32(j))
	}
	return p0
}

// exchange queues every touched server's requests on its connection and waits for the replies;
// then it writes the replies, in the requests' order, into out.
func (c *client) exchange() {
	var deadline int64
	if c.p.timeout > 0 {
		deadline = time.Now().Add(c.p.timeout).UnixNano()
	}
	if cap(c.spans) < len(c.parts) {
		c.spans = make([]span, len(c.parts), 2*len(c.parts))
	}
	c.spans = c.spans[:len(c.parts)]
	total := 0
	for _, b := range c.touched {
		total += len(b.slots)
	}
	c.outstanding.Store(int32(total) + 1)
	failed := 0
	for _, b := range c.touched {
		if len(b.out) == 0 {
			continue
		}
		b.srv.requests.Add(uint64(b.nreq))
		if err := c.submit(b, deadline); err != nil {
			for _, sl := range b.slots {
				c.spans[sl.part] = span{err: err}
			}
			failed += len(b.slots)
		}
	}
	if c.outstanding.Add(int32(-1-failed)) != 0 {
		<-c.done
	}
	c.out = c.out[:0]
	for i := range c.pend {
		c.reply(&c.pend[i])
	}
}

// partReply returns the reply of part i, or says why there is none.
func (c *client) partReply(i int) ([]byte, error) {
	sp := c.spans[i]
	if sp.err != nil {
		return nil, sp.err
	}
	return c.parts[i].recv[sp.a:sp.b], nil
}

func (c *client) serverError(b *backend, err error) {
	b.srv.errors.Add(1)
	c.errCount++
	msg := "ambassador: server " + b.srv.addr + ": " + describeErr(err)
	if c.pool.cfg.Redis {
		c.out = appendRESPError(c.out, msg)
	} else {
		c.out = append(append(append(c.out, "SERVER_ERROR "...), msg...), '\r', '\n')
	}
}

// reply appends the reply of one request to out.
func (c *client) reply(p *pending) {
	switch p.kind {
	case pLocal:
		c.out = append(c.out, c.local[p.a:p.b]...)
	case pNoReply:
	case pForward:
		r, err := c.partReply(p.a)
		if err != nil {
			c.serverError(c.parts[p.a], err)
			return
		}
		if len(r) > 0 && r[0] == '-' {
			c.errCount++
		}
		c.out = append(c.out, r...)
	case pSum, pAllOK:
		var sum int
		var failed []byte
		var ferr error
		var fb *backend
		for i := p.a; i < p.b; i++ {
			b := c.parts[i]
			r, err := c.partReply(i)
			switch {
			case err != nil:
				if ferr == nil && failed == nil {
					ferr, fb = err, b
				}
			case p.kind == pSum && len(r) > 0 && r[0] == ':':
				n, _ := parseInt(trimCRLF(r[1:]))
				sum += n
			case p.kind == pAllOK && len(r) > 0 && r[0] == '+':
			default:
				if ferr == nil && failed == nil {
					failed = append(c.merge[:0], r...)
					c.merge = failed
				}
			}
		}
		switch {
		case ferr != nil:
			c.serverError(fb, ferr)
		case failed != nil:
			c.errCount++
			c.out = append(c.out, failed...)
		case p.kind == pSum:
			c.out = append(strconv.AppendInt(append(c.out, ':'), int64(sum), 10), '\r', '\n')
		default:
			c.out = append(c.out, "+OK\r\n"...)
		}
	case pMget:
		c.mergeMget(p)
	case pMCGet:
		start := len(c.out)
		for i := p.a; i < p.b; i++ {
			r, err := c.partReply(i)
			if err != nil {
				c.out = c.out[:start]
				c.serverError(c.parts[i], err)
				return
			}
			_, values, _ := parseMCResponse(r, mcRetrieval)
			if values < 0 {
				c.out = append(c.out[:start], r...)
				c.errCount++
				return
			}
			c.out = append(c.out, r[:values]...)
		}
		c.out = append(c.out, "END\r\n"...)
	}
}

// mergeMget reads each part's array and writes one array in the order of the request's keys.
func (c *client) mergeMget(p *pending) {
	nparts := p.b - p.a
	c.merge = c.merge[:0]
	c.elems = c.elems[:0]
	c.cursor = c.cursor[:0]
	var ferr error
	var fb *backend
	var failed []byte
	for j := 0; j < nparts; j++ {
		b := c.parts[p.a+j]
		c.cursor = append(c.cursor, len(c.elems))
		r, err := c.partReply(p.a + j)
		if err != nil {
			if ferr == nil && failed == nil {
				ferr, fb = err, b
			}
			continue
		}
		if ferr != nil || failed != nil {
			continue
		}
		if len(r) == 0 || r[0] != '*' {
			failed = append([]byte(nil), r...)
			continue
		}
		n, adv := line(r)
		count, _ := parseInt(r[1:n])
		pos := adv
		for k := 0; k < count; k++ {
			m, err := parseRESPReply(r[pos:])
			if err != nil || m == 0 {
				break
			}
			c.elems = append(c.elems, len(c.merge))
			c.merge = append(c.merge, r[pos:pos+m]...)
			pos += m
		}
	}
	switch {
	case ferr != nil:
		c.serverError(fb, ferr)
		return
	case failed != nil:
		c.errCount++
		c.out = append(c.out, failed...)
		return
	}
	c.elems = append(c.elems, len(c.merge))
	c.out = appendArrayHeader(c.out, p.k1-p.k0)
	for _, j := range c.keyPart[p.k0:p.k1] {
		e := c.cursor[j]
		if e+1 >= len(c.elems) {
			c.out = append(c.out, "$-1\r\n"...)
			continue
		}
		c.out = append(c.out, c.merge[c.elems[e]:c.elems[e+1]]...)
		c.cursor[j]++
	}
}

// endBatch resets the batch's state and records the servers that answered.
func (c *client) endBatch() {
	for _, b := range c.touched {
		b.inBatch, b.nreq = false, 0
		b.slots = b.slots[:0]
		if cap(b.out) > keepBuf {
			b.out = nil
		} else {
			b.out = b.out[:0]
		}
		if cap(b.recv) > keepBuf {
			b.recv = nil
		} else {
			b.recv = b.recv[:0]
		}
	}
	c.touched = c.touched[:0]
	c.pend = c.pend[:0]
	c.parts = c.parts[:0]
	c.keyPart = c.keyPart[:0]
	c.local = c.local[:0]
	c.errCount = 0
	if cap(c.out) > keepBuf {
		c.out = nil
	}
	if cap(c.merge) > keepBuf {
		c.merge = nil
	}
}

func (c *client) closeAll() {
	c.conn.Close()
}
