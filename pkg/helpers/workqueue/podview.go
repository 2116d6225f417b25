package workqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// DefaultSocket is where podd mounts a pod's own API socket (annotation podd.io/api-socket, which
// the injection adds for the helper).
const DefaultSocket = "/run/podd/podd.sock"

// PodView reads the helper's own pod from podd through the pod's API socket: what podd saw of the
// worker container — its exit and OOM kills — goes into the item's record. Without the socket
// (another orchestrator) the helper records what the runner reports alone.
type PodView struct {
	socket string
	hc     *http.Client
}

// NewPodView reads the pod through the socket at path.
func NewPodView(path string) *PodView {
	return &PodView{socket: path, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// workerState is what podd reports of the pod's regular containers (the workers; the helper is
// an init container).
type workerState struct {
	// OOMKills counts the kernel's OOM kills in the workers, of their main process or any other
	// (the user's program is the runner's child: a kill of it is in oomKills).
	OOMKills int
	// Exit is a worker container's end, when one has ended: "exit code 137 (OOMKilled)".
	Exit string
}

type podJSON struct {
	Status struct {
		ContainerStatuses []struct {
			Name  string `json:"name"`
			State struct {
				Terminated *struct {
					ExitCode int    `json:"exitCode"`
					Reason   string `json:"reason"`
				} `json:"terminated"`
			} `json:"state"`
			OOMKills int `json:"oomKills"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// Available says whether the pod's socket is there.
func (v *PodView) Available() bool {
	if v == nil {
		return false
	}
	_, err := os.Stat(v.socket)
	return !errors.Is(err, fs.ErrNotExist)
}

func (v *PodView) workers(ctx context.Context) (workerState, error) {
	var st workerState
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podd/pod", nil)
	if err != nil {
		return st, err
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /pod: %s", resp.Status)
	}
	var p podJSON
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return st, fmt.Errorf("GET /pod: %w", err)
	}
	for _, cs := range p.Status.ContainerStatuses {
		st.OOMKills += cs.OOMKills
		if t := cs.State.Terminated; t != nil {
			st.OOMKills += boolInt(t.Reason == "OOMKilled")
			st.Exit = fmt.Sprintf("container %s: exit code %d", cs.Name, t.ExitCode)
			if t.Reason != "" {
				st.Exit += " (" + t.Reason + ")"
			}
		}
	}
	return st, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// explainKill adds podd's view to a failure whose program was killed by SIGKILL: an OOM kill
// since the claim (oomBefore) is named. podd counts it from the kernel's event, which may come a
// little after the runner saw the death: it is waited for up to wait.
func (v *PodView) explainKill(ctx context.Context, oomBefore int, f spool.Failure, wait time.Duration) spool.Failure {
	if !v.Available() {
		return f
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := v.workers(ctx)
		if err == nil && st.OOMKills > oomBefore {
			f.Error += " — podd saw the OOM killer kill it (the container's memory limit)"
			return f
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return f
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containerEnd waits (up to wait) for podd to report the worker container's end, after the
// runner's connection closed; "" when podd does not say.
func (v *PodView) containerEnd(ctx context.Context, wait time.Duration) string {
	if !v.Available() {
		return ""
	}
	deadline := time.Now().Add(wait)
	for {
		st, err := v.workers(ctx)
		if err == nil && st.Exit != "" {
			return st.Exit
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}
