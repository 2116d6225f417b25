package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// PeerCheck decides whether the process pid, the peer of a connection to the API socket of the
// pod with that UID, is one of the pod's: nil admits it, an error says why not.
type PeerCheck func(podUID string, pid int32) error

// CgroupPeers admits the processes in the pod's cgroup or below it (its containers' cgroups,
// which exec'd processes join too), as /proc/<pid>/cgroup shows them in any hierarchy;
// podCgroup gives the pod's cgroup path. Only root moves a process between those cgroups.
func CgroupPeers(podCgroup func(uid string) string) PeerCheck {
	return func(uid string, pid int32) error {
		if pid <= 0 {
			return fmt.Errorf("the connecting process is not in podd's PID namespace: %w", errdefs.ErrPermissionDenied)
		}
		data, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cgroup")
		if err != nil {
			return fmt.Errorf("the connecting process %d: %v: %w", pid, err, errdefs.ErrPermissionDenied)
		}
		if !inCgroup(data, podCgroup(uid)) {
			return fmt.Errorf("process %d is not in the pod's cgroup %s: %w", pid, podCgroup(uid), errdefs.ErrPermissionDenied)
		}
		return nil
	}
}

// inCgroup reports whether a /proc/<pid>/cgroup file (lines "id:controllers:path", v1 and v2)
// places the process at cg or below in one of its hierarchies.
func inCgroup(procCgroup []byte, cg string) bool {
	cg = path.Clean("/" + cg)
	if cg == "/" {
		return false // the root holds every process
	}
	for line := range strings.SplitSeq(string(procCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		p := parts[2]
		if p == cg || strings.HasPrefix(p, cg+"/") {
			return true
		}
	}
	return false
}

// peerListener admits only the connections whose peer passes check; the others get a 403 with
// the reason and are closed at once, so that they hold no connection slot of the pod's.
type peerListener struct {
	net.Listener
	uid, pod string
	check    PeerCheck
	log      *slog.Logger
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		pid, err := peerPID(c)
		if err == nil {
			err = l.check(l.uid, pid)
		}
		if err == nil {
			return &peerConn{Conn: c, pid: pid}, nil
		}
		l.log.Debug("per-pod API socket: refused a process that is not the pod's", "peer_pid", pid, "err", err)
		refuse(c, &Error{Class: ClassForbidden, Message: fmt.Sprintf(
			"this socket serves only the processes of pod %s: %v", l.pod, err)})
	}
}

// peerPID is the pid of the process that connected (SO_PEERCRED), in podd's PID namespace.
func peerPID(c net.Conn) (int32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket: %w", errdefs.ErrPermissionDenied)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("peer credentials: %v: %w", credErr, errdefs.ErrPermissionDenied)
	}
	return cred.Pid, nil
}

// refusing bounds the refusals in progress; past it a refused connection is closed unanswered.
var refusing = make(chan struct{}, 16)

// refuse answers a connection with e and closes it, in the background, within a second: it reads
// the request's head first (at most 64 KiB), because an HTTP client that gets an answer before it
// sent its request discards it as unsolicited; then it writes the answer, shuts its side down and
// reads what the client still sends, so that the close does not reset the answer away.
func refuse(c net.Conn, e *Error) {
	select {
	case refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-refusing }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		readHead(c, 64<<10)
		body, _ := json.Marshal(ErrorResponse{Error: e})
		status := e.Class.HTTPStatus()
		if _, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
			status, http.StatusText(status), len(body)+1, body); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}()
}

// readHead reads from c until the end of an HTTP request head (an empty line), limit bytes, an
// error or the deadline, whichever comes first.
func readHead(c net.Conn, limit int) {
	buf := make([]byte, 4096)
	var seen []byte
	for len(seen) < limit {
		n, err := c.Read(buf)
		seen = append(seen, buf[:n]...)
		if bytes.Contains(seen, []byte("\r\n\r\n")) || err != nil {
			return
		}
	}
}
