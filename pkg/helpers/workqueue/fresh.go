package workqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The pod socket's POST /run (pkg/api): a fresh copy of the asking container, with another
// command and more environment; the answer streams its output, and its trailers say how it ended.
const (
	trailerExitCode  = "Podd-Exit-Code"
	trailerOOMKilled = "Podd-Oom-Killed"
)

func (cfg *RunnerConfig) socketThere() bool {
	if cfg.Socket == "" {
		return false
	}
	_, err := os.Stat(cfg.Socket)
	return !errors.Is(err, fs.ErrNotExist)
}

// runFresh runs the user's program on one item in a fresh copy of this container, which podd
// creates in the pod (its own writable layer and cgroup: nothing an item leaves behind reaches
// the next one). Its output goes to this container's output, as a process's would. If the
// helper goes away meanwhile, the lease is gone: the request ends, and podd kills the copy.
//
// podd being away is not the item's fault and costs it no attempt: while podd cannot be reached,
// or restarts during a run (a restarted podd removes the copy it had started before it serves
// again), the runner waits for it, up to --connect-timeout, clears the output and runs the item
// again under the same lease.
func runFresh(ctx context.Context, cfg RunnerConfig, it *itemInfo, broken <-chan struct{}) itemResult {
	body, err := json.Marshal(map[string]any{
		"command": cfg.Command,
		"env": map[string]string{
			EnvItem: it.Item, EnvInput: it.Input, EnvOutput: it.Output,
			EnvItemID: it.ID, EnvAttempt: strconv.Itoa(it.Attempt),
		},
	})
	if err != nil {
		return itemResult{code: 127, reason: err.Error()}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := make(chan struct{})
	go func() {
		select {
		case <-broken:
			close(gone)
			cancel()
		case <-rctx.Done():
		}
	}()
	hc := cfg.podd
	if hc == nil {
		hc = unixClient(cfg.Socket)
	}
	deadline := time.Now().Add(cfg.ConnectTimeout)
	for {
		res, again := askFresh(rctx, hc, body, cfg, it)
		select {
		case <-gone:
			return itemResult{err: errHelperGone}
		default:
		}
		if !again || ctx.Err() != nil || time.Now().After(deadline) {
			if ctx.Err() != nil && res.reason != "" {
				res.reason += " (the worker is stopping)"
			}
			return res
		}
		fmt.Fprintf(cfg.Stderr, "wq-run: item %s: %s; once podd is back, it runs again\n", it.ID, res.reason)
		select {
		case <-rctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		if err := clearDir(it.Output); err != nil {
			return itemResult{code: 127, reason: "clear the output for another run: " + err.Error()}
		}
	}
}

// askFresh asks podd for one run; again says the run did not happen, or its end is unknown,
// because podd was away: it may be asked again.
func askFresh(ctx context.Context, hc *http.Client, body []byte, cfg RunnerConfig, it *itemInfo) (res itemResult, again bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://podd/run", bytes.NewReader(body))
	if err != nil {
		return itemResult{code: 127, reason: err.Error()}, false
	}
	req.Header.Set("Content-Type", "application/json")
	tail := &tailBuffer{max: cfg.TailBytes}
	resp, err := hc.Do(req)
	if err != nil {
		return itemResult{code: 127, reason: "ask podd for a fresh container: " + err.Error()}, true
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		// 412: this container is not (yet) running as podd sees it — a podd that just restarted
		// and has not adopted it yet; 503: podd is busy. Anything else is final.
		again := resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusServiceUnavailable
		return itemResult{code: 127, reason: fmt.Sprintf("podd refused a fresh container: %s: %s", resp.Status, bytes.TrimSpace(msg))}, again
	}
	_, err = io.Copy(io.MultiWriter(cfg.Stdout, tail), resp.Body)
	code, cerr := strconv.Atoi(resp.Trailer.Get(trailerExitCode))
	if err != nil || cerr != nil {
		return itemResult{code: 127, reason: "podd's answer broke off during the run (podd restarted?)", tail: tail.String()}, true
	}
	res = itemResult{code: code, tail: tail.String()}
	switch {
	case resp.Trailer.Get(trailerOOMKilled) == "true":
		res.reason = fmt.Sprintf("exit code %d (OOMKilled): podd saw the OOM killer kill it, in the item's fresh container", code)
	case code != 0:
		res.reason = fmt.Sprintf("exit code %d", code)
	}
	return res, false
}

// unixClient is an HTTP client of the unix socket at path. One serves all of a runner's items:
// its connection is kept (a pod's socket takes a bounded number of them at once).
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 1,
	}}
}

// clearDir empties a folder, keeping it.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
