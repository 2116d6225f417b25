package contentsync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ParseSignal reads --signal: a name (HUP, SIGHUP, usr1) or a number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("--signal: %q is not a signal (HUP, USR1, TERM… or a number)", s)
}

// FindProcesses returns the PIDs (but self) under procDir whose name is name: the kernel's comm
// (the executable's or script's file name, cut to 15 bytes) or the base name of argv[0].
func FindProcesses(procDir, name string) ([]int, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	comm := name
	if len(comm) > 15 {
		comm = comm[:15]
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if c, err := os.ReadFile(filepath.Join(procDir, e.Name(), "comm")); err == nil && strings.TrimSuffix(string(c), "\n") == comm {
			pids = append(pids, pid)
			continue
		}
		if cl, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline")); err == nil && len(cl) > 0 {
			argv0, _, _ := bytes.Cut(cl, []byte{0})
			if filepath.Base(string(argv0)) == name {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// signalProcesses sends sig to every process named name; none found is an error (the main
// container is not running, or the pod does not share its process namespace).
func signalProcesses(name string, sig syscall.Signal) ([]int, error) {
	pids, err := FindProcesses("/proc", name)
	if err != nil {
		return nil, err
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("--signal-process: no process named %q (does the pod have shareProcessNamespace: true?)", name)
	}
	var errs []string
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			errs = append(errs, fmt.Sprintf("pid %d: %v", pid, err))
		}
	}
	if len(errs) > 0 {
		return pids, fmt.Errorf("signal %v: %s", sig, strings.Join(errs, "; "))
	}
	return pids, nil
}

// Webhook posts a JSON body naming the new version, with a timeout per attempt and retries with
// a doubling backoff; any status but 2xx is a failure.
type Webhook struct {
	URL     string
	Client  *http.Client
	Retries int
	Backoff time.Duration
}

// Post tells the webhook about version id. It returns how many attempts it made.
func (w *Webhook) Post(ctx context.Context, id string) (int, error) {
	body, _ := json.Marshal(map[string]string{"version": id})
	backoff := w.Backoff
	var last error
	for attempt := 1; ; attempt++ {
		last = w.post(ctx, body, id)
		if last == nil {
			return attempt, nil
		}
		if attempt > w.Retries || ctx.Err() != nil {
			return attempt, fmt.Errorf("--webhook %s: %d attempts: %w", w.URL, attempt, last)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return attempt, fmt.Errorf("--webhook %s: %w", w.URL, ctx.Err())
		}
		backoff *= 2
	}
}

func (w *Webhook) post(ctx context.Context, body []byte, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Sync-Version", id)
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
