package ambassador

import (
	"strconv"
)

// routeRedis parses one request at the start of buf and queues it: it returns the bytes taken (0:
// incomplete) and whether the connection closes after this batch.
func (c *client) routeRedis(buf []byte) (int, bool, error) {
	n, args, err := parseRESPRequest(buf, c.args, c.pool.cfg.MaxRequestBytes)
	c.args = args
	if err != nil || n == 0 {
		return n, false, err
	}
	raw := buf[:n]
	if len(args) == 0 {
		return n, false, nil // an empty line or "*0": nothing to answer, as redis-server
	}
	kind, ok := lookupRedis(args[0])
	if !ok {
		c.addLocalError("unknown or unsupported command '" + printable(args[0]) + "'")
		return n, false, nil
	}
	switch kind {
	case rkPing:
		switch len(args) {
		case 1:
			c.addLocal([]byte("+PONG\r\n"))
		case 2:
			a := len(c.local)
			c.local = appendBulk(c.local, args[1])
			c.pend = append(c.pend, pending{kind: pLocal, a: a, b: len(c.local)})
		default:
			c.wrongArgs(args[0])
		}
	case rkQuit:
		c.addLocal([]byte("+OK\r\n"))
		return n, true, nil
	case rkKey:
		if len(args) < 2 {
			c.wrongArgs(args[0])
			break
		}
		c.forward(args[1], c.wire(raw, args), pForward, 0)
	case rkEval:
		if len(args) < 3 {
			c.wrongArgs(args[0])
			break
		}
		nk, ok := parseInt(args[2])
		if !ok || nk < 1 || len(args) < 3+nk {
			c.addLocalError("EVAL through the ambassador needs at least one key, and every key on one server (a hash tag)")
			break
		}
		c.forward(args[3], c.wire(raw, args), pForward, 0)
	case rkMget, rkSum:
		if len(args) < 2 {
			c.wrongArgs(args[0])
			break
		}
		pk := pSum
		if kind == rkMget {
			pk = pMget
		}
		c.splitRedis(raw, args, 1, pk)
	case rkMset:
		if len(args) < 3 || len(args)%2 != 1 {
			c.wrongArgs(args[0])
			break
		}
		c.splitRedis(raw, args, 2, pAllOK)
	}
	return n, false, nil
}

// wire is what to send a server for a request: raw itself, or an inline command re-encoded (a
// server would read an inline command the same way, but a split needs the arguments anyway).
func (c *client) wire(raw []byte, args [][]byte) []byte {
	if raw[0] == '*' {
		return raw
	}
	a := len(c.merge)
	c.merge = appendArrayHeader(c.merge, len(args))
	for _, x := range args {
		c.merge = appendBulk(c.merge, x)
	}
	return c.merge[a:]
}

func (c *client) wrongArgs(cmd []byte) {
	c.addLocalError("wrong number of arguments for '" + printable(cmd) + "' command")
}

// printable shortens and cleans a client's word for an error message.
func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	out := make([]byte, 0, len(b))
	for _, x := range b {
		if x < 0x20 || x > 0x7e {
			x = '?'
		}
		out = append(out, x)
	}
	return string(out)
}

// splitRedis queues a multi-key command: one sub-command per server holding some of its keys,
// or the request as it is when all its keys are on one server.
func (c *client) splitRedis(raw []byte, args [][]byte, stride int, kind pendKind) {
	k0 := len(c.keyPart)
	p0 := c.split(args[1:], stride)
	if p0 < 0 {
		c.keyPart = c.keyPart[:k0]
		c.addLocalError("no live servers in pool " + c.pool.cfg.Name)
		return
	}
	nparts := len(c.parts) - p0
	if nparts == 1 {
		c.keyPart = c.keyPart[:k0]
		b := c.parts[p0]
		b.out = append(b.out, c.wire(raw, args)...)
		c.expect(b, p0, 0)
		c.pend = append(c.pend, pending{kind: pForward, a: p0, b: p0 + 1})
		return
	}
	for j := 0; j < nparts; j++ {
		b := c.parts[p0+j]
		cnt := 0
		for _, kp := range c.keyPart[k0:] {
			if int(kp) == j {
				cnt++
			}
		}
		b.out = appendArrayHeader(b.out, 1+cnt*stride)
		b.out = appendBulk(b.out, args[0])
		for i, kp := range c.keyPart[k0:] {
			if int(kp) != j {
				continue
			}
			for s := 0; s < stride; s++ {
				b.out = appendBulk(b.out, args[1+i*stride+s])
			}
		}
		c.expect(b, p0+j, 0)
	}
	c.pend = append(c.pend, pending{kind: kind, a: p0, b: len(c.parts), k0: k0, k1: len(c.keyPart)})
}

// routeMemcache parses one memcache request at the start of buf and queues it.
func (c *client) routeMemcache(buf []byte) (int, bool, error) {
	req := &c.mcReq
	n, words, err := parseMCRequest(buf, req, c.words, c.pool.cfg.MaxRequestBytes)
	c.words = words
	if err != nil || n == 0 {
		return n, false, err
	}
	raw := buf[:n]
	switch req.kind {
	case mcUnknown:
		c.addLocal([]byte("ERROR\r\n"))
		c.errCount++
	case mcVersion:
		c.addLocal([]byte("VERSION podd-ambassador\r\n"))
	case mcQuit:
		return n, true, nil
	case mcStorage, mcKeyed:
		kind := pForward
		if req.noreply {
			kind = pNoReply
		}
		c.forward(req.keys[0], raw, kind, req.kind)
	case mcRetrieval:
		if len(req.keys) == 1 {
			c.forward(req.keys[0], raw, pForward, mcRetrieval)
			break
		}
		k0 := len(c.keyPart)
		p0 := c.split(req.keys, 1)
		if p0 < 0 {
			c.keyPart = c.keyPart[:k0]
			c.addLocalError("SERVER_ERROR no live servers in pool " + c.pool.cfg.Name)
			break
		}
		nparts := len(c.parts) - p0
		if nparts == 1 {
			b := c.parts[p0]
			b.out = append(b.out, raw...)
			c.expect(b, p0, mcRetrieval)
			c.keyPart = c.keyPart[:k0]
			c.pend = append(c.pend, pending{kind: pForward, mcKind: mcRetrieval, a: p0, b: p0 + 1})
			break
		}
		for j := 0; j < nparts; j++ {
			b := c.parts[p0+j]
			b.out = append(b.out, req.cmd...)
			if req.prefix != nil {
				b.out = append(append(b.out, ' '), req.prefix...)
			}
			for i, kp := range c.keyPart[k0:] {
				if int(kp) == j {
					b.out = append(append(b.out, ' '), req.keys[i]...)
				}
			}
			b.out = append(b.out, '\r', '\n')
			c.expect(b, p0+j, mcRetrieval)
		}
		c.keyPart = c.keyPart[:k0]
		c.pend = append(c.pend, pending{kind: pMCGet, mcKind: mcRetrieval, a: p0, b: len(c.parts)})
	}
	return n, false, nil
}

var _ = strconv.Itoa
