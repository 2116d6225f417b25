package supervisor

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/podd-dev/podd/pkg/pod"
)

// action is what a probe or a hook does: the union of their handlers.
type action struct {
	exec    *pod.ExecAction
	httpGet *pod.HTTPGetAction
	tcp     *pod.TCPSocketAction
	grpc    *pod.GRPCAction
	sleep   *pod.SleepAction
}

func probeAction(p *pod.Probe) action {
	return action{exec: p.Exec, httpGet: p.HTTPGet, tcp: p.TCPSocket, grpc: p.GRPC}
}

func hookAction(h *pod.LifecycleHandler) action {
	return action{exec: h.Exec, httpGet: h.HTTPGet, sleep: h.Sleep}
}

// target is the container instance an action runs against.
type target struct {
	id   string
	spec *pod.Container
	sb   *pod.Sandbox
}

// run performs the action; a nil error is success. ctx bounds it: an exec that outlives ctx is
// killed with all its children.
func (w *worker) runAction(ctx context.Context, a action, t target) error {
	rt := w.m.rt
	switch {
	case a.exec != nil:
		// One buffer for both streams, as the kubelet's combined output: the runtime copies each
		// stream in its own goroutine, so it is locked (see outputBuffer).
		var out outputBuffer
		code, err := rt.Exec(ctx, t.id, ExecOptions{Cmd: a.exec.Command, Stdout: &out, Stderr: &out})
		if ctx.Err() != nil {
			return fmt.Errorf("command %q timed out", strings.Join(a.exec.Command, " "))
		}
		if err != nil {
			return err
		}
		if code != 0 {
			return &execExitError{cmd: a.exec.Command, code: code, output: strings.TrimSpace(limit(out.String()))}
		}
		return nil
	case a.httpGet != nil:
		return w.httpGet(ctx, a.httpGet, t)
	case a.tcp != nil:
		port, err := resolvePort(a.tcp.Port, t.spec)
		if err != nil {
			return err
		}
		conn, err := w.m.sb.Dial(ctx, t.sb, "tcp", net.JoinHostPort(hostOr(a.tcp.Host), strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("dial tcp %s:%d: %w", hostOr(a.tcp.Host), port, unwrapOp(err))
		}
		return conn.Close()
	case a.grpc != nil:
		return w.grpcCheck(ctx, a.grpc, t)
	case a.sleep != nil:
		select {
		case <-time.After(time.Duration(a.sleep.Seconds) * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.New("no handler")
}

// execExitError is an exec handler's command that ended with a code other than 0.
type execExitError struct {
	cmd    []string
	code   int
	output string
}

func (e *execExitError) Error() string {
	return fmt.Sprintf("command %q exited with %d: %s", strings.Join(e.cmd, " "), e.code, e.output)
}

// killedBySIGKILL: the shell's and the runtime's 128+9 for a command that SIGKILL ended.
func (e *execExitError) killedBySIGKILL() bool { return e.code == 128+9 }

// outputBuffer collects an exec's stdout and stderr together. Its writes are locked, and it has
// no ReadFrom: containerd's cio copies each stream with io.CopyBuffer in its own goroutine, and
// on a shared bytes.Buffer the two ReadFroms would read into one slice and set its length each in
// turn — a stream that ended empty after the other wrote cut the output back to nothing, or left
// NUL bytes of its length where the buffer had grown meanwhile.
type outputBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func hostOr(h string) string {
	if h == "" {
		// The pod has no address of its own: its loopback, inside its network namespace.
		return "127.0.0.1"
	}
	return h
}

func limit(s string) string {
	if len(s) > 512 {
		return s[:512] + "..."
	}
	return s
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// resolvePort turns a port number or the name of one of the container's ports into a number.
func resolvePort(p pod.IntOrString, c *pod.Container) (int, error) {
	if !p.IsStr {
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q is not a named port of container %s", p.StrVal, c.Name)
}

func (w *worker) httpGet(ctx context.Context, g *pod.HTTPGetAction, t target) error {
	port, err := resolvePort(g.Port, t.spec)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(g.Scheme) // HTTP or HTTPS, set by SetDefaults
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(hostOr(g.Host), strconv.Itoa(port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "podd-probe/1.0")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return w.m.sb.Dial(ctx, t.sb, network, addr)
			},
			// Kubernetes does not verify certificates of HTTPS probes.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
		},
		// Like the kubelet: redirects are followed, but only on the same host.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 || req.URL.Host != via[0].URL.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, unwrapOp(errors.Unwrap(err)))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d: %s", resp.StatusCode, strings.TrimSpace(limit(string(body))))
	}
	return nil
}

func (w *worker) grpcCheck(ctx context.Context, g *pod.GRPCAction, t target) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(g.Port)))
	conn, err := grpc.DialContext(ctx, addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return w.m.sb.Dial(ctx, t.sb, "tcp", a)
		}),
		grpc.WithBlock(),
	)
	if err != nil {
		return fmt.Errorf("grpc %s: %w", addr, err)
	}
	defer conn.Close()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("grpc health check %s: %w", addr, err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("service unhealthy (responded with %q)", resp.Status)
	}
	return nil
}

// probeTiming reads a probe's timing; SetDefaults has filled in Kubernetes' defaults.
func probeTiming(p *pod.Probe) (initial, period, timeout time.Duration, successes, failures int) {
	sec := func(n int32) time.Duration { return time.Duration(n) * time.Second }
	return sec(p.InitialDelaySeconds), sec(p.PeriodSeconds), sec(p.TimeoutSeconds), int(p.SuccessThreshold), int(p.FailureThreshold)
}
