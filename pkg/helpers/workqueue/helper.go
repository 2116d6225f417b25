package workqueue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// Config is the helper's settings (its flags).
type Config struct {
	Spool string
	// Etcd: the etcd backend's settings (--backend etcd); nil for the spool.
	Etcd    *EtcdConfig
	WorkDir string
	// Sources add items: a folder whose files are items (named by file name), and files whose
	// lines are items (named <file's base name>-<line number>). Both are read again every Poll.
	SourceDirs, SourceLines []string
	// SourceURLs are HTTP(S) endpoints answering lines, one item each, as SourceLines: named
	// <base name of the URL's path>-<line number>, fetched again every Poll.
	SourceURLs []string
	Policy     spool.Policy
	// Until: "empty" — the worker exits once nothing is pending (new, retry or leased) anywhere;
	// "drained" — it waits for new items until the queue is drained (podctl queue drain).
	Until  string
	Poll   time.Duration
	Holder string
	// Binary is the runner's program, copied to WorkDir for the user's container (the helper's
	// own executable).
	Binary string
	// Socket is the pod's own podd API socket, read for what podd saw of the worker container.
	Socket string
	// Run is RunFresh or RunLongLived: how the runner runs each item.
	Run string
}

// The ways of running an item (--run).
const (
	RunFresh     = "fresh"      // a fresh copy of the worker container, run by podd
	RunLongLived = "long-lived" // a fresh process in the long-lived worker container
)

// Helper serves one worker pod: it claims items for the runner in the user's container,
// commits their outputs or reports their failures, and keeps the spool recovered.
type Helper struct {
	cfg     Config
	queue   Queue
	log     *slog.Logger
	metrics *metrics
	view    *PodView

	mu    sync.Mutex
	ready bool
	// known are the ids of the sources already in the spool: not tried again at every poll.
	known map[string]bool
}

// NewHelper opens the queue, takes back what dead workers held, and installs the runner.
func NewHelper(cfg Config, log *slog.Logger) (*Helper, error) {
	q, err := openQueue(cfg)
	if err != nil {
		return nil, err
	}
	h := &Helper{cfg: cfg, queue: q, log: log, metrics: newMetrics(q), known: map[string]bool{}}
	if cfg.Socket != "" {
		h.view = NewPodView(cfg.Socket)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("--work-dir: %w", err)
	}
	// An output staged by an earlier instance was never committed: its item is still leased
	// in the queue, and is retried once its lease is taken back.
	if err := os.RemoveAll(filepath.Join(cfg.WorkDir, stagedDir)); err != nil {
		return nil, fmt.Errorf("--work-dir: %w", err)
	}
	if cfg.Binary != "" {
		if err := installBinary(cfg.Binary, filepath.Join(cfg.WorkDir, binaryName)); err != nil {
			return nil, fmt.Errorf("install the runner in --work-dir: %w", err)
		}
	}
	return h, nil
}

// Spool is the helper's spool (nil on another backend).
func (h *Helper) Spool() *spool.Spool {
	if s, ok := h.queue.(spoolQueue); ok {
		return s.Spool
	}
	return nil
}

// Queue is the helper's queue.
func (h *Helper) Queue() Queue { return h.queue }

// Ready: the helper has installed the runner and listens for it.
func (h *Helper) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready
}

// Registry holds the helper's metrics.
func (h *Helper) Registry() *prometheus.Registry { return h.metrics.registry }

// Run serves the runner on the work folder's socket until ctx ends.
func (h *Helper) Run(ctx context.Context) error {
	if err := h.maintain(ctx); err != nil {
		return err
	}
	sock := filepath.Join(h.cfg.WorkDir, socketName)
	_ = os.Remove(sock) // a previous instance's
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen for the runner: %w", err)
	}
	defer ln.Close()
	h.mu.Lock()
	h.ready = true
	h.mu.Unlock()
	go func() {
		t := time.NewTicker(h.cfg.Poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				ln.Close()
				return
			case <-t.C:
				if err := h.maintain(ctx); err != nil {
					h.log.Warn("maintain the spool", "err", err)
				}
			}
		}
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// One runner per pod: connections are served one after another.
		h.serve(ctx, conn)
	}
}

// maintain adds the sources' new items and takes back the leases of dead workers.
func (h *Helper) maintain(ctx context.Context) error {
	var errs []error
	for _, d := range h.cfg.SourceDirs {
		errs = append(errs, h.importDir(d))
	}
	for _, f := range h.cfg.SourceLines {
		errs = append(errs, h.importLines(f))
	}
	for _, u := range h.cfg.SourceURLs {
		errs = append(errs, h.importURL(ctx, u))
	}
	n, err := h.queue.Recover(h.cfg.Policy)
	if n > 0 {
		h.metrics.recovered.Add(float64(n))
		h.log.Info("took back the items of dead workers", "items", n)
	}
	return errors.Join(append(errs, err)...)
}

func (h *Helper) importDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--source-dir %s: %w", dir, err)
	}
	for _, e := range entries {
		// A ConfigMap's keys are symbolic links into its ..data folder: followed.
		if h.known[e.Name()] || spool.CheckID(e.Name()) != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		added, err := h.queue.Add(e.Name(), f)
		f.Close()
		if err != nil {
			return err
		}
		h.known[e.Name()] = true
		if added {
			h.metrics.added.Inc()
		}
	}
	return nil
}

// LineIDs are the items of a file of lines: the non-empty lines, named <base>-<line number>.
func LineIDs(name string, data []byte) (ids []string, lines [][]byte) {
	base := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, base)
	for i, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		ids = append(ids, fmt.Sprintf("%s-%06d", base, i+1))
		lines = append(lines, append(l[:len(l):len(l)], '\n'))
	}
	// A last line without its newline may still be being written: wait for it.
	if len(data) > 0 && data[len(data)-1] != '\n' && len(ids) > 0 {
		ids, lines = ids[:len(ids)-1], lines[:len(lines)-1]
	}
	return ids, lines
}

func (h *Helper) importLines(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--source-lines %s: %w", file, err)
	}
	return h.addLines(file, data)
}

// maxURLBody bounds what a --source-url may answer.
const maxURLBody = 64 << 20

func (h *Helper) importURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--source-url %s: %w", raw, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return fmt.Errorf("--source-url %s: %w", raw, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("--source-url %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("--source-url %s: %s", raw, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxURLBody+1))
	if err != nil {
		return fmt.Errorf("--source-url %s: %w", raw, err)
	}
	if len(data) > maxURLBody {
		return fmt.Errorf("--source-url %s: the answer is larger than %d bytes", raw, maxURLBody)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." {
		name = "url"
	}
	return h.addLines(name, data)
}

// addLines adds the items of a list of lines named after name.
func (h *Helper) addLines(name string, data []byte) error {
	ids, lines := LineIDs(name, data)
	for i, id := range ids {
		if h.known[id] {
			continue
		}
		added, err := h.queue.Add(id, bytes.NewReader(lines[i]))
		if err != nil {
			return err
		}
		h.known[id] = true
		if added {
			h.metrics.added.Inc()
		}
	}
	return nil
}

// serve answers one runner's requests; the lease it holds ends when the connection does.
func (h *Helper) serve(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	var lease Lease
	// The workers' OOM kills podd had counted when the lease began: read at the session's first
	// claim and again at the claim after a failed attempt, not at every claim — a run of
	// successes costs no call to podd. (The price: an OOM kill that failed no attempt — a child
	// of the program killed, the program exiting 0 — is blamed on the next attempt killed by
	// SIGKILL, if no failure came between them.)
	oomBefore, oomKnown := 0, false
	defer func() {
		if lease != nil {
			f := spool.Failure{Error: "the worker's container ended during the attempt (its connection to the helper closed)"}
			// podd saw it die: its exit code and reason (OOMKilled...) go into the record.
			if end := h.view.containerEnd(context.WithoutCancel(ctx), 2*time.Second); end != "" {
				f.Error += ": " + end
			}
			h.failLease(lease, f)
		}
	}()
	// The commit of the previous result, which runs while the runner works on the next item.
	var committed chan struct{}
	defer func() {
		if committed != nil {
			<-committed
		}
	}()
	closed := make(chan struct{})
	reqs := make(chan request)
	go func() {
		defer close(closed)
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r request
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				h.log.Warn("bad request from the runner", "err", err)
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	enc := json.NewEncoder(conn)
	for {
		var r request
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case r = <-reqs:
		}
		var resp response
		// next leases the next item into resp; false: the runner went away meanwhile.
		next := func() bool {
			if lease != nil {
				resp.Error = "an item is already leased: report its result first"
				return true
			}
			l, stop := h.next(ctx, closed)
			if l == nil {
				resp.Stop = stop
				return stop != ""
			}
			info, err := h.mount(l)
			if err != nil {
				h.failLease(l, spool.Failure{Error: "mount the item: " + err.Error()})
				resp.Error = err.Error()
				return true
			}
			lease, resp.Item = l, info
			if !oomKnown && h.view.Available() {
				if st, err := h.view.workers(ctx); err == nil {
					oomBefore, oomKnown = st.OOMKills, true
				}
			}
			return true
		}
		switch r.Op {
		case "next":
			if !next() {
				return
			}
		case "result":
			if lease == nil || r.Token != lease.Token() {
				resp.Error = spool.ErrLeaseLost.Error()
				h.metrics.refused.Inc()
			} else {
				if committed != nil {
					<-committed // one commit at a time: the staged folder is free again
					committed = nil
				}
				resp.State, resp.Error, committed = h.finish(ctx, lease, r, oomBefore)
				oomKnown = oomKnown && resp.State == spool.StateDone
				lease = nil
			}
			// With next: the answer to the result and the next item in one round trip.
			if r.Next {
				resp.ResultError, resp.Error = resp.Error, ""
				if !next() {
					return
				}
			}
		default:
			resp.Error = fmt.Sprintf("unknown op %q", r.Op)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

// next waits for an item to claim, or a reason to stop ("" when the runner went away).
func (h *Helper) next(ctx context.Context, gone <-chan struct{}) (Lease, string) {
	for {
		ctl, err := h.queue.Control()
		if err != nil {
			h.log.Warn("read the queue's control", "err", err)
		}
		if !ctl.Paused {
			l, err := h.queue.Claim(h.cfg.Holder)
			if err != nil {
				h.log.Warn("claim", "err", err)
			}
			if l != nil {
				h.metrics.claims.Inc()
				return l, ""
			}
			if c, err := h.queue.Counts(); err == nil && c.Pending() == 0 && (h.cfg.Until == "empty" || ctl.Draining) {
				return nil, "the queue is empty"
			}
		}
		select {
		case <-ctx.Done():
			return nil, "the helper is stopping"
		case <-gone:
			return nil, ""
		case <-time.After(h.cfg.Poll):
		}
	}
}

// mount places the item's input in the work folder, with an empty output folder beside it.
func (h *Helper) mount(l Lease) (*itemInfo, error) {
	dir := filepath.Join(h.cfg.WorkDir, itemDir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	in, out := filepath.Join(dir, "input"), filepath.Join(dir, "output")
	for _, d := range []string{in, out} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return nil, err
		}
	}
	// The user's program may run as any user: it may write its output.
	if err := os.Chmod(out, 0o777); err != nil {
		return nil, err
	}
	src, err := l.OpenInput()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	item := filepath.Join(in, l.ID())
	// The work folder is the pod's emptyDir: nothing in it outlives a power loss that matters.
	if err := spool.WriteFile(item, src, false); err != nil {
		return nil, err
	}
	return &itemInfo{ID: l.ID(), Token: l.Token(), Attempt: l.Attempt(), Item: item, Input: in, Output: out, Fresh: h.cfg.Run == RunFresh}, nil
}

// finish commits or fails the attempt the runner reports on.
//
// A success is answered before its commit: the output is moved aside (a rename within the work
// folder) and committed in the background while the runner goes on with the next item, so the
// commit's fsyncs are off the item's path (in the long-lived mode they were most of the framework's
// time per item). The answer's state is then "done" with the commit under way; a commit that
// fails there turns into a failed attempt as it would have before, and one whose lease has ended
// is refused all the same. The item stays leased until its commit ends: a helper that dies
// before leaves it to be taken back and retried, and what it staged is removed at its next start.
// committed, when not nil, is closed once the commit has ended.
func (h *Helper) finish(ctx context.Context, l Lease, r request, oomBefore int) (state, errText string, committed chan struct{}) {
	if r.ExitCode != nil && *r.ExitCode == 0 {
		out, staged := filepath.Join(h.cfg.WorkDir, itemDir, "output"), filepath.Join(h.cfg.WorkDir, stagedDir)
		if err := os.Rename(out, staged); err != nil {
			// Not staged (the program removed its output folder, say): committed here and now.
			st, e := h.commit(l, out, r)
			return st, e, nil
		}
		committed = make(chan struct{})
		go func() {
			defer close(committed)
			h.commit(l, staged, r)
			if err := os.RemoveAll(staged); err != nil {
				h.log.Warn("remove the staged output", "item", l.ID(), "err", err)
			}
		}()
		return spool.StateDone, "", committed
	}
	f := spool.Failure{ExitCode: r.ExitCode, Error: r.Error, LogTail: r.LogTail}
	if r.ExitCode != nil && *r.ExitCode == 128+9 {
		f = h.view.explainKill(ctx, oomBefore, f, time.Second)
	}
	return h.failLease(l, f), "", nil
}

// commit commits the attempt's output from dir, or fails the attempt when it cannot.
func (h *Helper) commit(l Lease, dir string, r request) (state, errText string) {
	if err := l.Commit(dir); err != nil {
		if errors.Is(err, spool.ErrLeaseLost) {
			h.metrics.refused.Inc()
			h.log.Warn("commit refused", "item", l.ID(), "attempt", l.Attempt(), "err", err)
			return "", err.Error()
		}
		// The output could not be committed (say, a symbolic link in it): a failed attempt.
		return h.failLease(l, spool.Failure{ExitCode: r.ExitCode, Error: err.Error(), LogTail: r.LogTail}), ""
	}
	h.metrics.done.Inc()
	h.log.Info("committed", "item", l.ID(), "attempt", l.Attempt())
	return spool.StateDone, ""
}

func (h *Helper) failLease(l Lease, f spool.Failure) string {
	st, err := l.Fail(h.cfg.Policy, f)
	if err != nil {
		h.log.Warn("report a failed attempt", "item", l.ID(), "err", err)
		l.Release() // a later Recover takes it back
		return ""
	}
	h.metrics.failed.Inc()
	if st == spool.StateDead {
		h.metrics.dead.Inc()
	}
	h.log.Info("attempt failed", "item", l.ID(), "attempt", l.Attempt(), "err", f.Error, "state", st)
	return st
}

// installBinary copies the runner's program into the work folder (a rename, so that a runner
// starting meanwhile never runs half a file).
func installBinary(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := to + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}
