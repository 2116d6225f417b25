package runtime

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	capability "github.com/containerd/containerd/pkg/cap"
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
	if sb.PIDNSPath != "" {
		// shareProcessNamespace: the pod's PID namespace, whose PID 1 is podd's (pkg/pidinit).
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: sb.PIDNSPath}))
	}
	if p.TTY {
		opts = append(opts, oci.WithTTY)
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
	opts = append(opts, securityOpts(p)...)
	cgroupMode := "ro"
	if p.Security.Privileged {
		cgroupMode = "rw"
	}
	mounts := []specs.Mount{
		// The container's own cgroups, read-only, as the CRI runtimes mount them: runc shows each
		// v1 controller's (or the v2) cgroup of the container there, so it can read its limits.
		// A privileged container's are writable, as in the CRI runtimes.
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", cgroupMode}},
		bindMount(sb.HostsPath, "/etc/hosts", false),
		bindMount(sb.HostnamePath, "/etc/hostname", false),
		bindMount(sb.ResolvPath, "/etc/resolv.conf", false),
	}
	for _, m := range p.Mounts {
		mounts = append(mounts, bindMount(m.Source, m.Destination, m.ReadOnly))
	}
	opts = append(opts, oci.WithMounts(mounts))
	// Last: containerd's default profile allows some system calls according to the capabilities.
	if !p.Security.Unconfined {
		opts = append(opts, seccomp.WithDefaultProfile())
	}
	return opts
}

// securityOpts applies the container's securityContext as containerd's CRI does: the process's
// additional groups (the image's /etc/group for its user, the pod's fsGroup and
// supplementalGroups), no_new_privs, then capabilities (all of podd's own when privileged;
// otherwise the default set with ALL added, ALL dropped, the named ones added, the named ones
// dropped, in that order).
func securityOpts(p *pod.ContainerPlan) []oci.SpecOpts {
	sec := p.Security
	user := p.User
	if p.RunAsUser != nil {
		user = strconv.FormatInt(*p.RunAsUser, 10)
	}
	user, _, _ = strings.Cut(user, ":")
	if user == "" {
		user = "0"
	}
	opts := []oci.SpecOpts{oci.WithAdditionalGIDs(user)}
	if len(sec.SupplementalGroups) > 0 {
		opts = append(opts, withSupplementalGroups(sec.SupplementalGroups))
	}
	// containerd's default spec sets no_new_privs; Kubernetes sets it only when
	// allowPrivilegeEscalation is false.
	opts = append(opts, withNoNewPrivileges(sec.NoNewPrivileges))
	if sec.Privileged {
		return append(opts,
			withAllCurrentCapabilities,
			oci.WithMaskedPaths(nil),
			oci.WithReadonlyPaths(nil),
			oci.WithWriteableSysfs,
			oci.WithHostDevices,
			oci.WithAllDevicesAllowed,
		)
	}
	var add, drop []string
	for _, c := range sec.CapAdd {
		if c == "ALL" {
			opts = append(opts, withAllCurrentCapabilities)
		} else {
			add = append(add, c)
		}
	}
	for _, c := range sec.CapDrop {
		if c == "ALL" {
			opts = append(opts, oci.WithCapabilities(nil))
		} else {
			drop = append(drop, c)
		}
	}
	if len(add) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(add))
	}
	if len(drop) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(drop))
	}
	return opts
}

// withAllCurrentCapabilities gives the container every capability podd itself has.
func withAllCurrentCapabilities(ctx context.Context, client oci.Client, c *containers.Container, s *specs.Spec) error {
	caps, err := capability.Current()
	if err != nil {
		return fmt.Errorf("read podd's own capabilities: %w", err)
	}
	return oci.WithCapabilities(caps)(ctx, client, c, s)
}

func withNoNewPrivileges(on bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.NoNewPrivileges = on
		return nil
	}
}

// withSupplementalGroups adds groups to the process's additional ones, each once.
func withSupplementalGroups(gids []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		for _, g := range gids {
			if !slices.Contains(s.Process.User.AdditionalGids, g) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, g)
			}
		}
		return nil
	}
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
