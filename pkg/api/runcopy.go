package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/supervisor"
)

// CopyRunner runs one-off copies of a pod's containers (the supervisor's RunCopy).
type CopyRunner interface {
	RunCopy(ctx context.Context, namespace, name, containerID string, opts supervisor.RunOptions) (supervisor.ExitStatus, error)
}

// RunRequest is the body of POST /run on a pod's socket.
type RunRequest struct {
	// Command replaces the container's command and args; empty keeps them.
	Command []string `json:"command,omitempty"`
	// Env is added to the container's environment.
	Env map[string]string `json:"env,omitempty"`
}

// The trailers of POST /run's answer: how the copy ended.
const (
	TrailerExitCode  = "Podd-Exit-Code"
	TrailerOOMKilled = "Podd-Oom-Killed"
)

const maxRunBody = 256 << 10

// WithRuns lets the pods' sockets take POST /run: run a fresh copy of the asking container (the
// container whose cgroup holds the connecting process; podCgroup gives a pod's cgroup path) with
// another command and more environment, streaming its output, its exit in the trailers. A copy
// has the asking container's own image, mounts and rights, nothing more: it is what the
// container could run itself, in a fresh container (the work queue's fresh-container mode).
func (s *PodSockets) WithRuns(x CopyRunner, podCgroup func(uid string) string) *PodSockets {
	s.runs, s.podCgroup = x, podCgroup
	return s
}

// run serves POST /run on a pod's socket.
func (o *ownPod) run(x CopyRunner, podCgroup func(uid string) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() error {
			body, err := readBody(w, r, maxRunBody, "run request")
			if err != nil {
				return err
			}
			var req RunRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return invalid(fmt.Sprintf("run request: %v (want {\"command\": [...], \"env\": {\"K\": \"V\"}})", err))
			}
			for k := range req.Env {
				if k == "" || strings.ContainsAny(k, "=\x00") {
					return invalid(fmt.Sprintf("run request: env: %q is not a variable's name", k))
				}
			}
			pid, ok := peerOf(r)
			if !ok {
				return fmt.Errorf("the asking process is unknown: %w", errdefs.ErrPermissionDenied)
			}
			procCgroup, err := readProcCgroup(pid)
			if err != nil {
				return fmt.Errorf("the asking process %d: %v: %w", pid, err, errdefs.ErrPermissionDenied)
			}
			id := containerOfCgroup(procCgroup, podCgroup(o.uid))
			if id == "" {
				return fmt.Errorf("process %d is in none of the pod's containers: %w", pid, errdefs.ErrFailedPrecondition)
			}
			env := make([]string, 0, len(req.Env))
			for k, v := range req.Env {
				env = append(env, k+"="+v)
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Trailer", TrailerExitCode+", "+TrailerOOMKilled)
			out := &flushWriter{w: w}
			st, err := x.RunCopy(r.Context(), o.namespace, o.name, id, supervisor.RunOptions{Command: req.Command, Env: env, Output: out})
			if err != nil {
				if out.wrote {
					return nil // nothing else to say: the trailers stay empty
				}
				return err
			}
			if !out.wrote {
				w.WriteHeader(http.StatusOK)
			}
			w.Header().Set(TrailerExitCode, strconv.Itoa(int(st.Code)))
			w.Header().Set(TrailerOOMKilled, strconv.FormatBool(st.OOMKilled))
			return nil
		}()
		if err != nil {
			writeError(w, toError(err))
		}
	})
}

// readProcCgroup reads /proc/<pid>/cgroup (a variable for the tests).
var readProcCgroup = func(pid int32) ([]byte, error) {
	return os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cgroup")
}

// containerOfCgroup is the ID of the container whose cgroup (a child of the pod's, podCg)
// holds the process of that /proc/<pid>/cgroup, or "".
func containerOfCgroup(procCgroup []byte, podCg string) string {
	podCg = path.Clean("/" + podCg)
	if podCg == "/" {
		return ""
	}
	for line := range strings.SplitSeq(string(procCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		rest, ok := strings.CutPrefix(parts[2], podCg+"/")
		if !ok {
			continue
		}
		if id, _, _ := strings.Cut(rest, "/"); id != "" {
			return id
		}
	}
	return ""
}

// flushWriter sends each write at once.
type flushWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// peerAddr is the address of a connection to a pod's socket: the connecting process, which the
// handlers read from the request's RemoteAddr.
type peerAddr struct{ pid int32 }

func (a peerAddr) Network() string { return "unix" }
func (a peerAddr) String() string  { return "pid:" + strconv.Itoa(int(a.pid)) }

// peerConn is an admitted connection, with its peer's pid as its remote address.
type peerConn struct {
	net.Conn
	pid int32
}

func (c *peerConn) RemoteAddr() net.Addr { return peerAddr{c.pid} }

// peerOf is the pid of the process that sent r on a pod's socket.
func peerOf(r *http.Request) (int32, bool) {
	s, ok := strings.CutPrefix(r.RemoteAddr, "pid:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil && n > 0
}
