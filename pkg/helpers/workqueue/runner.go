package workqueue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RunnerConfig is the runner's settings: it runs in the user's container, as its command's
// prefix (podd-patterns wq-run -- CMD ARGS...).
type RunnerConfig struct {
	WorkDir string
	Command []string
	// ConnectTimeout: how long to wait for the helper (which may be restarting) before giving up.
	ConnectTimeout time.Duration
	// TailBytes of the program's output go with a failure report (the dead letters' log tail).
	TailBytes int
	// Socket is the pod's own podd API socket, which runs the fresh copies of the container.
	Socket         string
	Stdout, Stderr io.Writer
	// warned: a fresh copy was asked for where no podd socket is (said once).
	warned bool
	// podd is the client of Socket.
	podd *http.Client
}

// errHelperGone: the connection to the helper broke during an attempt; its lease is gone with it.
var errHelperGone = errors.New("the helper went away")

// RunWorker takes items from the helper one after another and runs the user's program on each,
// a fresh process each time, until the helper says to stop (0) or ctx ends.
func RunWorker(ctx context.Context, cfg RunnerConfig) error {
	if len(cfg.Command) == 0 {
		return errors.New("wq-run: the user's command is required after --")
	}
	cfg.podd = unixClient(cfg.Socket)
	for {
		stop, err := runSession(ctx, cfg)
		if stop {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(cfg.Stderr, "wq-run: %v; connecting again\n", err)
	}
}

// runSession serves one connection to the helper; stop says whether the worker is done.
func runSession(ctx context.Context, cfg RunnerConfig) (stop bool, _ error) {
	conn, err := dialHelper(ctx, filepath.Join(cfg.WorkDir, socketName), cfg.ConnectTimeout)
	if err != nil {
		return true, err
	}
	defer conn.Close()
	resps := make(chan response)
	broken, quit := make(chan struct{}), make(chan struct{})
	defer close(quit)
	go func() {
		defer close(broken)
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r response
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				return
			}
			select {
			case resps <- r:
			case <-quit:
				return
			}
		}
	}()
	enc := json.NewEncoder(conn)
	ask := func(r request) (response, error) {
		if err := enc.Encode(r); err != nil {
			return response{}, errHelperGone
		}
		select {
		case resp := <-resps:
			return resp, nil
		case <-broken:
			return response{}, errHelperGone
		}
	}
	if ctx.Err() != nil {
		return true, nil
	}
	resp, err := ask(request{Op: "next"})
	for {
		if err != nil {
			return false, err
		}
		switch {
		case resp.Stop != "":
			fmt.Fprintf(cfg.Stderr, "wq-run: %s: done\n", resp.Stop)
			return true, nil
		case resp.Error != "" || resp.Item == nil:
			return false, fmt.Errorf("the helper: %s", resp.Error)
		}
		var res itemResult
		if resp.Item.Fresh && cfg.socketThere() {
			res = runFresh(ctx, cfg, resp.Item, broken)
		} else {
			if resp.Item.Fresh && !cfg.warned {
				cfg.warned = true
				fmt.Fprintf(cfg.Stderr, "wq-run: no podd API socket at %s: each item runs as a fresh process of this container instead of a fresh container\n", cfg.Socket)
			}
			res = runItem(ctx, cfg, resp.Item, broken)
		}
		if res.err != nil {
			return false, res.err
		}
		// The result, and the next item with it unless the runner is stopping.
		next := ctx.Err() == nil
		item := resp.Item
		resp, err = ask(request{Op: "result", Token: item.Token, ExitCode: &res.code, Error: res.reason, LogTail: res.tail, Next: next})
		refused := resp.ResultError
		if !next {
			refused = resp.Error
		}
		if err == nil && refused != "" {
			fmt.Fprintf(cfg.Stderr, "wq-run: item %s: result refused: %s\n", item.ID, refused)
		}
		if err == nil && !next {
			return true, nil
		}
	}
}

type itemResult struct {
	code   int
	reason string
	tail   string
	err    error
}

// runItem runs the user's program on one item, in its own process group; if the helper goes
// away meanwhile, the lease is gone: the program is killed and its result not reported.
func runItem(ctx context.Context, cfg RunnerConfig, it *itemInfo, broken <-chan struct{}) itemResult {
	tail := &tailBuffer{max: cfg.TailBytes}
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Env = append(os.Environ(),
		EnvItem+"="+it.Item, EnvInput+"="+it.Input, EnvOutput+"="+it.Output,
		EnvItemID+"="+it.ID, EnvAttempt+"="+strconv.Itoa(it.Attempt))
	cmd.Stdout = io.MultiWriter(cfg.Stdout, tail)
	cmd.Stderr = io.MultiWriter(cfg.Stderr, tail)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		// Not the item's fault, but nothing else can run it here either: a failed attempt.
		return itemResult{code: 127, reason: "start the command: " + err.Error()}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := func(sig syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, sig) }
	var err error
	select {
	case err = <-done:
	case <-broken:
		kill(syscall.SIGKILL)
		<-done
		return itemResult{err: errHelperGone}
	case <-ctx.Done():
		kill(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			kill(syscall.SIGKILL)
			err = <-done
		}
	}
	// The program's own children may outlive it: they belong to the attempt, not the next one.
	kill(syscall.SIGKILL)
	code, reason := exitOf(err)
	return itemResult{code: code, reason: reason, tail: tail.String()}
}

// exitOf is a process's exit code as a shell reports it (128+n when killed by signal n).
func exitOf(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), "killed by signal " + ws.Signal().String()
		}
		return ee.ExitCode(), fmt.Sprintf("exit code %d", ee.ExitCode())
	}
	return 1, err.Error()
}

func dialHelper(ctx context.Context, sock string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", sock)
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("connect to the helper at %s: %w", sock, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
