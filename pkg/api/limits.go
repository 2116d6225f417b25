package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what the clients of one API socket can hold of podd: connections, and the time a
// connection may stay without a complete request. A write timeout is deliberately not among them:
// logs -f, events watch and exec sessions stream for as long as they last.
type Limits struct {
	// MaxConns is how many connections are served at once; more wait in the kernel's accept
	// queue, holding no file descriptor of podd's, until one closes.
	MaxConns int
	// ReadHeaderTimeout is how long a connection has to send a request's headers.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request for that long.
	IdleTimeout time.Duration
	// BodyTimeout is how long a request's body may take to arrive, whole for the bodies read
	// whole (manifests, exec requests, metadata patches), and between two reads for a streamed
	// image archive.
	BodyTimeout time.Duration
}

// MainLimits are the main API socket's limits (--socket, mode 0660: its users are trusted).
var MainLimits = Limits{MaxConns: 1024, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, BodyTimeout: 30 * time.Second}

// PodLimits are each per-pod API socket's limits: the pod's containers read their own pod and its
// events, a handful of requests at a time.
var PodLimits = Limits{MaxConns: 32, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, BodyTimeout: 10 * time.Second}

// NewHTTPServer is the http.Server of an API socket with limits l; base is every request's
// context. Serve it on Listen(ln, l).
func NewHTTPServer(h http.Handler, l Limits, base context.Context) *http.Server {
	return &http.Server{
		Handler:           withBodyTimeout(h, l.BodyTimeout),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		// Headers beyond 64 KiB are no request of podd's API (the default is 1 MiB).
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return base },
	}
}

// Listen bounds ln to l.MaxConns connections at once.
func Listen(ln net.Listener, l Limits) net.Listener {
	if l.MaxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConns)
}

type bodyTimeoutKey struct{}

// withBodyTimeout gives a request that has a body BodyTimeout to send it: net/http sets no read
// deadline past the headers when ReadTimeout is 0, and ReadTimeout cannot be set since it would
// also end the streams. A request without a body gets no deadline: the server's background read,
// which notices a client going away during a stream, must not time out.
func withBodyTimeout(h http.Handler, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
			r = r.WithContext(context.WithValue(r.Context(), bodyTimeoutKey{}, timeout))
		}
		h.ServeHTTP(w, r)
	})
}

// readBody reads a request body of at most max bytes, whole, and lifts the body's read deadline
// once it is read, so that a long request (a pod's creation pulling its images) is not cut.
// what names the body in errors.
func readBody(w http.ResponseWriter, r *http.Request, max int64, what string) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, invalid(fmt.Sprintf("%s is larger than %d bytes", what, tooLarge.Limit))
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, invalid(fmt.Sprintf("%s: the body did not arrive within %s", what, r.Context().Value(bodyTimeoutKey{})))
		}
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	return body, nil
}

// progressReader reads a streamed body, giving each read the body timeout anew: an image archive
// may take long, but not stall.
type progressReader struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration
}

func streamBody(w http.ResponseWriter, r *http.Request) io.Reader {
	timeout, _ := r.Context().Value(bodyTimeoutKey{}).(time.Duration)
	if timeout <= 0 {
		return r.Body
	}
	return &progressReader{r: r.Body, rc: http.NewResponseController(w), timeout: timeout}
}

func (p *progressReader) Read(b []byte) (int, error) {
	_ = p.rc.SetReadDeadline(time.Now().Add(p.timeout))
	n, err := p.r.Read(b)
	if err != nil {
		_ = p.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
