package runtime

import (
	"context"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podd-dev/podd/pkg/pod"
)

// BenchmarkSpec is building a container's OCI spec as CreateContainer does (containerd's default
// spec, then podd's options), without the user lookups in the image's rootfs. Compare runs with
// benchstat (make bench-go).
func BenchmarkSpec(b *testing.B) {
	sb := &pod.Sandbox{Hostname: "web", NetNSPath: "/run/podd/netns/u", IPCNSPath: "/ipc", UTSNSPath: "/uts", HostsPath: "/h", HostnamePath: "/hn", ResolvPath: "/r"}
	plan := &pod.ContainerPlan{
		PodUID: "u", Name: "app", Args: []string{"sleep", "1000000"}, Env: []string{"PATH=/bin", "A=1"},
		Mounts: []pod.Mount{{Source: "/vol", Destination: "/shared"}},
	}
	in := SpecInput{Plan: plan, Sandbox: sb, CgroupPath: "/podd/podu/c"}
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	ctr := &containers.Container{ID: "c"}
	b.ReportAllocs()
	for b.Loop() {
		var s specs.Spec
		opts := append([]oci.SpecOpts{oci.WithDefaultSpec()}, SpecOpts(in)...)
		if err := oci.ApplyOpts(ctx, nil, ctr, &s, opts...); err != nil {
			b.Fatal(err)
		}
	}
}
