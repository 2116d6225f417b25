package pod

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
)

// LogPath is where the log of one instance of a container goes, under the logs root.
func LogPath(logRoot string, p *Pod, container string, attempt int) string {
	return filepath.Join(LogDir(logRoot, p), container, strconv.Itoa(attempt)+".log")
}

// LogDir is the pod's log folder, under the logs root.
func LogDir(logRoot string, p *Pod) string {
	return filepath.Join(logRoot, LogDirName(p.Metadata.Namespace, p.Metadata.Name, p.Metadata.UID))
}

// MaxFileName is the longest name of a file that Linux's file systems take (NAME_MAX).
const MaxFileName = 255

// LogDirName is <namespace>_<name>_<uid>, as the kubelet names it, when that fits in a file name.
// A longer one (a 253-character name in a 63-character namespace) keeps the namespace, the uid
// and the start of the name, followed by a hash of the whole name so that two long names with
// the same start stay apart. Names that fit are unchanged, so an upgraded podd finds its folders.
func LogDirName(namespace, name, uid string) string {
	full := namespace + "_" + name + "_" + uid
	if len(full) <= MaxFileName {
		return full
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:])[:16]
	keep := MaxFileName - len(namespace) - len(uid) - 2 - len(hash) - 1
	if keep < 0 {
		keep = 0
	}
	return namespace + "_" + name[:min(keep, len(name))] + "-" + hash + "_" + uid
}

// BuildPlan resolves Kubernetes' semantics for one instance of a container into a runtime plan.
// qos is the pod's QoS class (PodQOSClass), derived once per pod by the caller: deriving it here
// for each container made a pod's start quadratic in its number of containers.
// configs holds the ConfigMaps and Secrets the container's env refers to (nil: none).
func BuildPlan(p *Pod, c *Container, img *ImageConfig, sb *Sandbox, attempt int, logRoot string, qos QOSClass, configs ConfigSource) (*ContainerPlan, error) {
	withIPs := *p // the env's status.podIP comes from the sandbox, not from a status being written
	SetAddresses(&withIPs.Status, sb)
	env, err := ResolveEnvFrom(&withIPs, c, img, sb.Node, configs)
	if err != nil {
		return nil, err
	}
	args, err := ResolveArgs(c, img, env)
	if err != nil {
		return nil, err
	}
	plan := &ContainerPlan{
		PodUID:       p.Metadata.UID,
		PodName:      p.Metadata.Name,
		PodNamespace: p.Metadata.Namespace,
		Name:         c.Name,
		Attempt:      attempt,
		Image:        *img,
		Args:         args,
		Env:          env,
		WorkingDir:   ResolveWorkingDir(c, img),
		User:         img.User,
		LogPath:      LogPath(logRoot, p, c.Name, attempt),
		Resources:    c.Resources,
		QOSClass:     qos,
		TTY:          c.TTY,
	}
	if err := checkRunAsNonRoot(p, c, img.User); err != nil {
		return nil, err
	}
	plan.RunAsUser = EffectiveRunAsUser(&p.Spec, c)
	plan.RunAsGroup = EffectiveRunAsGroup(&p.Spec, c)
	if sc := c.SecurityContext; sc != nil {
		plan.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	}
	plan.Security = buildSecurityPlan(&p.Spec, c)
	for i, vm := range c.VolumeMounts {
		src, ok := sb.VolumePaths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("container %s: volumeMounts[%d].name: volume %q is not set up", c.Name, i, vm.Name)
		}
		// podd writes downwardAPI, configMap, secret and projected volumes; containers only
		// read them, as in Kubernetes. A claim mounted readOnly is read-only in every container.
		ro := vm.ReadOnly || slices.ContainsFunc(p.Spec.Volumes, func(v Volume) bool {
			return v.Name == vm.Name && (IsFileVolume(v) || v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly)
		})
		plan.Mounts = append(plan.Mounts, Mount{Source: src, SubPath: vm.SubPath, Destination: vm.MountPath, ReadOnly: ro})
	}
	// The socket's folder, not the socket, is mounted: podd recreates the socket when it restarts.
	if sb.APISocketDir != "" && WantsAPISocket(p, c.Name) {
		plan.Mounts = append(plan.Mounts, Mount{Source: sb.APISocketDir, Destination: APISocketMountPath, ReadOnly: true})
	}
	return plan, nil
}
