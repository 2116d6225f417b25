package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/supervisor"
)

func TestContainerOfCgroup(t *testing.T) {
	const pod = "/podd/pod1234"
	for _, tc := range []struct {
		name, procCgroup, want string
	}{
		{"v1, the container's cgroup", "12:pids:/podd/pod1234/abc\n11:memory:/podd/pod1234/abc\n", "abc"},
		{"v2", "0::/podd/pod1234/def\n", "def"},
		{"below the container (a nested cgroup)", "0::/podd/pod1234/def/sub\n", "def"},
		{"the pod's own cgroup: no container", "0::/podd/pod1234\n", ""},
		{"another pod", "0::/podd/pod9999/abc\n", ""},
		{"a pod whose UID starts the same", "0::/podd/pod12345/abc\n", ""},
		{"the host", "0::/\n", ""},
		{"garbage", "nonsense", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := containerOfCgroup([]byte(tc.procCgroup), pod); got != tc.want {
				t.Errorf("containerOfCgroup(%q) = %q, want %q", tc.procCgroup, got, tc.want)
			}
		})
	}
	if got := containerOfCgroup([]byte("0::/abc\n"), "/"); got != "" {
		t.Errorf("the root as the pod's cgroup gave %q", got)
	}
}

func TestPeerOf(t *testing.T) {
	for _, tc := range []struct {
		remote string
		pid    int32
		ok     bool
	}{
		{peerAddr{42}.String(), 42, true},
		{"pid:0", 0, false},
		{"pid:-3", 0, false},
		{"@", 0, false},
		{"", 0, false},
		{"127.0.0.1:5000", 0, false},
	} {
		pid, ok := peerOf(&http.Request{RemoteAddr: tc.remote})
		if ok != tc.ok || (ok && pid != tc.pid) {
			t.Errorf("peerOf(%q) = %d, %v; want %d, %v", tc.remote, pid, ok, tc.pid, tc.ok)
		}
	}
}

type fakeCopies struct {
	got  []string // "ns/name/id" asked for
	opts supervisor.RunOptions
	st   supervisor.ExitStatus
	err  error
}

func (f *fakeCopies) RunCopy(ctx context.Context, namespace, name, containerID string, opts supervisor.RunOptions) (supervisor.ExitStatus, error) {
	f.got = append(f.got, namespace+"/"+name+"/"+containerID)
	f.opts = opts
	if f.err == nil && opts.Output != nil {
		fmt.Fprint(opts.Output, "out\n")
	}
	return f.st, f.err
}

func TestRunEndpoint(t *testing.T) {
	old := readProcCgroup
	t.Cleanup(func() { readProcCgroup = old })
	readProcCgroup = func(pid int32) ([]byte, error) {
		switch pid {
		case 10:
			return []byte("0::/podd/podU1/ctr1\n"), nil
		case 11:
			return []byte("0::/podd/podU1\n"), nil
		}
		return nil, errors.New("no such process")
	}
	own := &ownPod{namespace: "default", name: "web", uid: "U1"}
	podCg := func(uid string) string { return "/podd/pod" + uid }
	for _, tc := range []struct {
		name, remote, body string
		copies             fakeCopies
		status             int
		want               []string // in the body
		asked              string
		exit, oom          string
	}{
		{name: "a copy of the asking container", remote: "pid:10", body: `{"command":["sh","-c","x"],"env":{"WORK_ITEM":"/i"}}`,
			copies: fakeCopies{st: supervisor.ExitStatus{Code: 3}}, status: 200, want: []string{"out\n"}, asked: "default/web/ctr1", exit: "3", oom: "false"},
		{name: "an OOM kill", remote: "pid:10", body: `{}`,
			copies: fakeCopies{st: supervisor.ExitStatus{Code: 137, OOMKilled: true}}, status: 200, asked: "default/web/ctr1", exit: "137", oom: "true"},
		{name: "an unknown field is named", remote: "pid:10", body: `{"cmd":["x"]}`, status: 400, want: []string{`unknown field \"cmd\"`}},
		{name: "a bad variable name", remote: "pid:10", body: `{"env":{"A=B":"1"}}`, status: 400, want: []string{`env: \"A=B\" is not a variable's name`}},
		{name: "a process of the pod but of no container", remote: "pid:11", body: `{}`, status: 412, want: []string{"in none of the pod's containers"}},
		{name: "a process gone", remote: "pid:12", body: `{}`, status: 403},
		{name: "no peer", remote: "@", body: `{}`, status: 403},
		{name: "the supervisor refuses", remote: "pid:10", body: `{}`, copies: fakeCopies{err: fmt.Errorf("pod is stopping: %w", errdefs.ErrFailedPrecondition)},
			status: 412, want: []string{"pod is stopping"}, asked: "default/web/ctr1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copies := tc.copies
			req := httptest.NewRequest(http.MethodPost, "/run", strings.NewReader(tc.body))
			req.RemoteAddr = tc.remote
			rec := httptest.NewRecorder()
			own.run(&copies, podCg).ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %q lacks %q", body, w)
				}
			}
			if got := strings.Join(copies.got, ","); got != tc.asked {
				t.Errorf("asked the supervisor for %q, want %q", got, tc.asked)
			}
			if tc.exit != "" {
				if got := rec.Result().Trailer.Get(TrailerExitCode); got != tc.exit {
					t.Errorf("exit trailer %q, want %q", got, tc.exit)
				}
				if got := rec.Result().Trailer.Get(TrailerOOMKilled); got != tc.oom {
					t.Errorf("OOM trailer %q, want %q", got, tc.oom)
				}
			}
			if tc.name == "a copy of the asking container" && (!reflect.DeepEqual(copies.opts.Command, []string{"sh", "-c", "x"}) || !reflect.DeepEqual(copies.opts.Env, []string{"WORK_ITEM=/i"})) {
				t.Errorf("options %+v", copies.opts)
			}
		})
	}
}
