package runtime

import (
	"context"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podd-dev/podd/pkg/pod"
)

// shimGroupAnnotation makes the runc v2 shim run every container of a pod in one shim process.
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// SpecInput is what a container's OCI spec is built from.
type SpecInput struct {
	Plan       *pod.ContainerPlan
	Sandbox    *pod.Sandbox
	CgroupPath string
	// MachineMemory is the host's memory in bytes, for a Burstable container's oom_score_adj.
	MachineMemory int64
	// OOMScoreAdjFloor is the lowest oom_score_adj the host lets podd set (-1000, or 0 without
	// CAP_SYS_RESOURCE).
	OOMScoreAdjFloor int
}

// SpecOpts builds a container's OCI spec options: a pure function of the plan and the sandbox.
func SpecOpts(in SpecInput) []oci.SpecOpts {
	p, sb := in.Plan, in.Sandbox
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(p.Args...),
		// HOSTNAME as the CRI runtimes set it, before the image's and the container's own.
		oci.WithEnv(append([]string{"HOSTNAME=" + sb.Hostname}, p.Env...)),
		oci.WithCgroup(in.CgroupPath),
		oci.WithAnnotations(map[string]string{shimGroupAnnotation: p.PodUID}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: in.Sandbox.IPCNSPath}),
	}
	opts = append(opts, resourceOpts(p, in.MachineMemory, in.OOMScoreAdjFloor)...)
	if p.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(p.WorkingDir))
	}
	if sb.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	if in.Sandbox.UTSNSPath != "" {
		// runc sets a hostname only in a UTS namespace of the container's own (or the pod's).
		opts = append(opts, oci.WithHostname(sb.Hostname),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: in.Sandbox.UTSNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.UTSNamespace))
	}
	// The image's USER first, then runAsUser and runAsGroup override their parts, as in Kubernetes.
	if p.User != "" {
		opts = append(opts, oci.WithUser(p.User))
	}
	if p.RunAsUser != nil {
		opts = append(opts, oci.WithUserID(uint32(*p.RunAsUser)))
	}
	if p.RunAsGroup != nil {
		opts = append(opts, withGroupID(uint32(*p.RunAsGroup)))
	}
	if p.ReadOnlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	mounts := []specs.Mount{
		// The container's own cgroups, read-only, as the CRI runtimes mount them: runc shows each
		// v1 controller's (or the v2) cgroup of the container there, so it can read its limits.
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		bindMount(sb.HostsPath, "/etc/hosts", false),
		bindMount(sb.HostnamePath, "/etc/hostname", false),
		bindMount(sb.ResolvPath, "/etc/resolv.conf", false),
	}
	for _, m := range p.Mounts {
		mounts = append(mounts, bindMount(m.Source, m.Destination, m.ReadOnly))
	}
	return append(opts, oci.WithMounts(mounts))
}

func bindMount(src, dst string, ro bool) specs.Mount {
	mode := "rw"
	if ro {
		mode = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"rbind", "rprivate", mode}}
}

func withGroupID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.GID = gid
		return nil
	}
}
