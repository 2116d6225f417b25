package ambassador

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

const (
	initialBuf    = 16 << 10
	keepBuf       = 256 << 10 // a buffer grown past this is dropped once idle
	maxReplyBytes = 512 << 20 // one reply, as redis-server's proto-max-bulk-len
	asyncWriteAt  = 32 << 10  // a batch this large for one server is written beside the reads (memcached stops reading while its answers wait)
)

// backend is one client connection's connection to one server: each client connection has its
// own (opened when it first needs the server), so that a client's requests to a server keep
// their order and a client reads its own writes, and no lock or channel sits between a client
// and its servers.
type backend struct {
	srv  *server
	conn net.Conn
	rbuf []byte
	r, w int
	out  []byte

	inBatch bool  // has requests in the current batch
	failed  bool  // the failure of this batch is recorded
	err     error // the error every remaining reply of this batch gets
	werr    chan error
	async   bool // werr has the result of a write beside the reads
	nreq    int  // requests in this batch
}

// fill reads more bytes from the server into rbuf, growing it when a reply does not fit.
func (b *backend) fill(max int) error {
	if b.r > 0 {
		n := copy(b.rbuf, b.rbuf[b.r:b.w])
		b.r, b.w = 0, n
	}
	if b.w == len(b.rbuf) {
		if len(b.rbuf) >= max {
			return fmt.Errorf("reply larger than %d bytes", max)
		}
		nb := make([]byte, min(2*len(b.rbuf), max))
		copy(nb, b.rbuf[:b.w])
		b.rbuf = nb
	}
	n, err := b.conn.Read(b.rbuf[b.w:])
	b.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("no bytes read")
	}
	return err
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

func (b *backend) close() {
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
	b.r, b.w = 0, 0
	if cap(b.rbuf) > keepBuf {
		b.rbuf = make([]byte, initialBuf)
	}
}

// dial opens the connection, and on redis sends AUTH and SELECT as the pool says.
func (c *client) dial(b *backend) error {
	d := net.Dialer{Timeout: c.p.timeout}
	conn, err := d.Dial("tcp", b.srv.addr)
	if err != nil {
		return err
	}
	b.conn = conn
	if b.rbuf == nil {
		b.rbuf = make([]byte, initialBuf)
	}
	b.r, b.w = 0, 0
	cfg := c.pool.cfg
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
	if c.p.timeout > 0 {
		conn.SetDeadline(time.Now().Add(c.p.timeout))
		defer conn.SetDeadline(time.Time{})
	}
	if _, err := conn.Write(hello); err != nil {
		b.close()
		return err
	}
	for i := 0; i < n; i++ {
		reply, err := c.readReply(b, 0)
		if err != nil {
			b.close()
			return err
		}
		if len(reply) > 0 && reply[0] == '-' {
			b.close()
			return fmt.Errorf("AUTH/SELECT refused: %s", trimCRLF(reply[1:]))
		}
	}
	return nil
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// readReply returns the next complete reply of b (for memcache, of a request of kind), valid
// until the next read from b.
func (c *client) readReply(b *backend, kind mcKind) ([]byte, error) {
	for {
		avail := b.rbuf[b.r:b.w]
		var n int
		var err error
		if c.pool.cfg.Redis {
			n, err = parseRESPReply(avail)
		} else {
			n, _, err = parseMCResponse(avail, kind)
		}
		if err != nil {
			return nil, fmt.Errorf("bad reply: %w", err)
		}
		if n > 0 {
			b.r += n
			return avail[:n], nil
		}
		if err := b.fill(maxReplyBytes); err != nil {
			return nil, err
		}
	}
}
