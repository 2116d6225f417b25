package runtime

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podd-dev/podd/pkg/pod"
)

// defaultCaps is containerd's (Docker's) default capability set, which podd starts from.
func defaultCaps(t *testing.T) []string {
	t.Helper()
	var s specs.Spec
	ctx := namespaces.WithNamespace(context.Background(), "test")
	if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: "c"}, &s, oci.WithDefaultSpec()); err != nil {
		t.Fatal(err)
	}
	return s.Process.Capabilities.Effective
}

func TestSpecSecurity(t *testing.T) {
	sb := &pod.Sandbox{Hostname: "web", NetNSPath: "/n", IPCNSPath: "/ipc", UTSNSPath: "/uts", HostsPath: "/h", HostnamePath: "/hn", ResolvPath: "/r"}
	def := defaultCaps(t)
	without := func(caps []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return slices.Contains(drop, c) })
	}
	uid := int64(1000)
	for _, tc := range []struct {
		name       string
		sec        pod.SecurityPlan
		runAsUser  *int64
		wantNNP    bool
		wantSecomp bool
		wantCaps   []string // nil: the default set
		wantGroups []uint32
	}{
		{name: "default: RuntimeDefault seccomp, escalation allowed, default caps", wantSecomp: true, wantGroups: []uint32{0}},
		{name: "allowPrivilegeEscalation false", sec: pod.SecurityPlan{NoNewPrivileges: true}, wantNNP: true, wantSecomp: true, wantGroups: []uint32{0}},
		{name: "Unconfined", sec: pod.SecurityPlan{Unconfined: true}, wantGroups: []uint32{0}},
		{name: "drop ALL", sec: pod.SecurityPlan{CapDrop: []string{"ALL"}}, wantSecomp: true, wantCaps: []string{}, wantGroups: []uint32{0}},
		{name: "drop ALL add NET_BIND_SERVICE", sec: pod.SecurityPlan{CapAdd: []string{"CAP_NET_BIND_SERVICE"}, CapDrop: []string{"ALL"}}, wantSecomp: true, wantCaps: []string{"CAP_NET_BIND_SERVICE"}, wantGroups: []uint32{0}},
		{name: "add NET_ADMIN drop CHOWN", sec: pod.SecurityPlan{CapAdd: []string{"CAP_NET_ADMIN"}, CapDrop: []string{"CAP_CHOWN"}}, wantSecomp: true, wantCaps: append(without(def, "CAP_CHOWN"), "CAP_NET_ADMIN"), wantGroups: []uint32{0}},
		// The image's /etc/group lists user podd (1000) in group 1000 only: its primary group.
		{name: "fsGroup and supplementalGroups", runAsUser: &uid, sec: pod.SecurityPlan{SupplementalGroups: []uint32{2000, 4000}}, wantSecomp: true, wantGroups: []uint32{1000, 2000, 4000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := &pod.ContainerPlan{PodUID: "u", Name: "app", Args: []string{"sh"}, RunAsUser: tc.runAsUser, Security: tc.sec}
			s := buildSpec(t, SpecInput{Plan: plan, Sandbox: sb, CgroupPath: "/podd/podu/c"})
			if s.Process.NoNewPrivileges != tc.wantNNP {
				t.Errorf("noNewPrivileges = %v, want %v", s.Process.NoNewPrivileges, tc.wantNNP)
			}
			if (s.Linux.Seccomp != nil) != tc.wantSecomp {
				t.Errorf("seccomp profile set = %v, want %v", s.Linux.Seccomp != nil, tc.wantSecomp)
			}
			if s.Linux.Seccomp != nil && s.Linux.Seccomp.DefaultAction != specs.ActErrno {
				t.Errorf("seccomp default action = %s, want containerd's default profile's %s", s.Linux.Seccomp.DefaultAction, specs.ActErrno)
			}
			want := tc.wantCaps
			if want == nil {
				want = def
			}
			caps := s.Process.Capabilities
			for name, got := range map[string][]string{"bounding": caps.Bounding, "effective": caps.Effective, "permitted": caps.Permitted} {
				if !sameSet(got, want) {
					t.Errorf("%s capabilities = %v, want %v", name, got, want)
				}
			}
			if !sameSet32(s.Process.User.AdditionalGids, tc.wantGroups) {
				t.Errorf("additional gids = %v, want %v", s.Process.User.AdditionalGids, tc.wantGroups)
			}
		})
	}
}

func TestSpecPrivileged(t *testing.T) {
	sb := &pod.Sandbox{Hostname: "web", NetNSPath: "/n", IPCNSPath: "/ipc", UTSNSPath: "/uts", HostsPath: "/h", HostnamePath: "/hn", ResolvPath: "/r"}
	plan := &pod.ContainerPlan{PodUID: "u", Name: "app", Args: []string{"sh"}, Security: pod.SecurityPlan{Privileged: true, Unconfined: true}}
	s := buildSpec(t, SpecInput{Plan: plan, Sandbox: sb})
	if s.Linux.Seccomp != nil {
		t.Error("a privileged container has a seccomp filter")
	}
	if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("a privileged container has masked %v and read-only %v paths", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !slices.Contains(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN") && slices.Contains(currentCaps(t), "CAP_SYS_ADMIN") {
		t.Errorf("a privileged container lacks CAP_SYS_ADMIN, which podd has: %v", s.Process.Capabilities.Effective)
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Errorf("%s is read-only in a privileged container: %v", m.Destination, m.Options)
		}
	}
}

func currentCaps(t *testing.T) []string {
	var s specs.Spec
	s.Process = &specs.Process{}
	if err := withAllCurrentCapabilities(context.Background(), nil, nil, &s); err != nil {
		t.Fatal(err)
	}
	return s.Process.Capabilities.Effective
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func sameSet32(a, b []uint32) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
