package api

import (
	"net/http"
	"testing"
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
