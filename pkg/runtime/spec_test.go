package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podd-dev/podd/pkg/pod"
)

func buildSpec(t *testing.T, in SpecInput) *specs.Spec {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\npodd:x:1000:1000::/home/podd:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\npodd:x:1000:\n"), 0o644)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	opts := append([]oci.SpecOpts{oci.WithDefaultSpec(), func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		s.Root.Path = root // user lookups read the rootfs
		return nil
	}}, SpecOpts(in)...)
	var s specs.Spec
	if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: "c"}, &s, opts...); err != nil {
		t.Fatal(err)
	}
	return &s
}

func nsPath(s *specs.Spec, typ specs.LinuxNamespaceType) (string, bool) {
	for _, n := range s.Linux.Namespaces {
		if n.Type == typ {
			return n.Path, true
		}
	}
	return "", false
}

func TestSpecOpts(t *testing.T) {
	uid, gid, ro := int64(1000), int64(2000), true
	sb := &pod.Sandbox{Hostname: "web", NetNSPath: "/run/podd/netns/u", IPCNSPath: "/ipc", UTSNSPath: "/uts", HostsPath: "/h", HostnamePath: "/hn", ResolvPath: "/r"}
	plan := &pod.ContainerPlan{
		PodUID: "u", Name: "app", Args: []string{"httpd", "-f"}, Env: []string{"A=1"}, WorkingDir: "/www",
		RunAsUser: &uid, RunAsGroup: &gid, ReadOnlyRootfs: ro,
		Mounts: []pod.Mount{{Source: "/vol", Destination: "/data", ReadOnly: true}},
	}
	for _, tc := range []struct {
		name        string
		in          SpecInput
		wantNet     string
		wantUTS     string // "" = host's (no entry)
		wantHostame string
	}{
		{"pod network", SpecInput{Plan: plan, Sandbox: sb, CgroupPath: "/podd/podu/c"}, "/run/podd/netns/u", "/uts", "web"},
		{"host network", SpecInput{Plan: plan, Sandbox: &pod.Sandbox{Hostname: "host", IPCNSPath: "/ipc", HostsPath: "/h", HostnamePath: "/hn", ResolvPath: "/r"}, CgroupPath: "/podd/podu/c"}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := buildSpec(t, tc.in)
			if got, ok := nsPath(s, specs.NetworkNamespace); (tc.wantNet == "") == ok || got != tc.wantNet {
				t.Errorf("network namespace = %q (present %v), want %q", got, ok, tc.wantNet)
			}
			if got, ok := nsPath(s, specs.UTSNamespace); (tc.wantUTS == "") == ok || got != tc.wantUTS {
				t.Errorf("uts namespace = %q (present %v), want %q", got, ok, tc.wantUTS)
			}
			if s.Hostname != tc.wantHostame {
				t.Errorf("hostname = %q, want %q (runc refuses a hostname in the host's UTS namespace)", s.Hostname, tc.wantHostame)
			}
			if got, _ := nsPath(s, specs.IPCNamespace); got != "/ipc" {
				t.Errorf("ipc namespace = %q, want the pod's", got)
			}
			if s.Annotations[shimGroupAnnotation] != "u" {
				t.Errorf("shim group annotation = %q, want the pod UID", s.Annotations[shimGroupAnnotation])
			}
			if s.Linux.CgroupsPath != "/podd/podu/c" {
				t.Errorf("cgroupsPath = %q", s.Linux.CgroupsPath)
			}
			p := s.Process
			if p.User.UID != 1000 || p.User.GID != 2000 || p.Cwd != "/www" || len(p.Args) != 2 || p.Args[0] != "httpd" {
				t.Errorf("process = uid %d gid %d cwd %q args %v", p.User.UID, p.User.GID, p.Cwd, p.Args)
			}
			if !s.Root.Readonly {
				t.Error("root not read-only")
			}
			env := map[string]bool{}
			for _, e := range p.Env {
				env[e] = true
			}
			if !env["A=1"] || !env["HOSTNAME="+tc.in.Sandbox.Hostname] {
				t.Errorf("env = %v", p.Env)
			}
			mounts := map[string]specs.Mount{}
			for _, m := range s.Mounts {
				mounts[m.Destination] = m
			}
			for dst, src := range map[string]string{"/etc/hosts": "/h", "/etc/hostname": "/hn", "/etc/resolv.conf": "/r", "/data": "/vol"} {
				if mounts[dst].Source != src || mounts[dst].Type != "bind" {
					t.Errorf("mount %s = %+v, want a bind of %s", dst, mounts[dst], src)
				}
			}
			if o := mounts["/data"].Options; o[len(o)-1] != "ro" {
				t.Errorf("readOnly volume mount options = %v", o)
			}
		})
	}
}

func TestSpecResources(t *testing.T) {
	const gi = int64(1) << 30
	sb := &pod.Sandbox{Hostname: "r", NetNSPath: "/n", IPCNSPath: "/ipc", UTSNSPath: "/uts", HostsPath: "/h", HostnamePath: "/hn", ResolvPath: "/r"}
	q := pod.MustParseQuantity
	tests := []struct {
		name      string
		res       pod.ResourceRequirements
		qos       pod.QOSClass
		shares    uint64
		quota     int64 // 0: none
		memory    int64 // 0: none
		oomAdjust int
	}{
		{"best effort", pod.ResourceRequirements{}, pod.QOSBestEffort, 2, 0, 0, 1000},
		{"guaranteed", pod.ResourceRequirements{
			Limits:   pod.ResourceList{"cpu": q("500m"), "memory": q("64Mi")},
			Requests: pod.ResourceList{"cpu": q("500m"), "memory": q("64Mi")},
		}, pod.QOSGuaranteed, 512, 50000, 64 << 20, -997},
		{"burstable", pod.ResourceRequirements{
			Limits:   pod.ResourceList{"cpu": q("2")},
			Requests: pod.ResourceList{"cpu": q("250m"), "memory": q("2Gi")},
		}, pod.QOSBurstable, 256, 200000, 0, 750},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := &pod.ContainerPlan{PodUID: "u", Name: "c", Args: []string{"sh"}, Resources: tt.res, QOSClass: tt.qos}
			s := buildSpec(t, SpecInput{Plan: plan, Sandbox: sb, CgroupPath: "/podd/podu/c", MachineMemory: 8 * gi, OOMScoreAdjFloor: -1000})
			res := s.Linux.Resources
			if res == nil || res.CPU == nil || res.CPU.Shares == nil || *res.CPU.Shares != tt.shares {
				t.Fatalf("cpu shares: %+v, want %d", res.CPU, tt.shares)
			}
			switch {
			case tt.quota == 0 && res.CPU.Quota != nil && *res.CPU.Quota > 0:
				t.Errorf("quota %d, want none", *res.CPU.Quota)
			case tt.quota > 0 && (res.CPU.Quota == nil || *res.CPU.Quota != tt.quota || res.CPU.Period == nil || *res.CPU.Period != 100000):
				t.Errorf("quota %v period %v, want %d over 100000", res.CPU.Quota, res.CPU.Period, tt.quota)
			}
			switch {
			case tt.memory == 0 && res.Memory != nil && res.Memory.Limit != nil:
				t.Errorf("memory limit %d, want none", *res.Memory.Limit)
			case tt.memory > 0 && (res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit != tt.memory):
				t.Errorf("memory limit %+v, want %d", res.Memory, tt.memory)
			}
			if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != tt.oomAdjust {
				t.Errorf("oomScoreAdj %v, want %d", s.Process.OOMScoreAdj, tt.oomAdjust)
			}
			// Without CAP_SYS_RESOURCE nothing goes below 0.
			s = buildSpec(t, SpecInput{Plan: plan, Sandbox: sb, CgroupPath: "/podd/podu/c", MachineMemory: 8 * gi})
			if want := max(tt.oomAdjust, 0); *s.Process.OOMScoreAdj != want {
				t.Errorf("oomScoreAdj without CAP_SYS_RESOURCE %d, want %d", *s.Process.OOMScoreAdj, want)
			}
			if s.Linux.CgroupsPath != "/podd/podu/c" {
				t.Errorf("cgroupsPath %q", s.Linux.CgroupsPath)
			}
		})
	}
}
