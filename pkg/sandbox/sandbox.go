package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
)

// The pod's shared namespaces, each a file that a bind mount keeps alive without a pause process.
type nsKind struct {
	dir  string // folder under --state
	proc string // name under /proc/<pid>/task/<tid>/ns/
	flag int
}

var (
	netNS = nsKind{"netns", "net", unix.CLONE_NEWNET}
	ipcNS = nsKind{"ipcns", "ipc", unix.CLONE_NEWIPC}
	utsNS = nsKind{"utsns", "uts", unix.CLONE_NEWUTS}
)

const nsfsMagic = 0x6e736673

func (r *Host) nsPath(k nsKind, uid string) string { return filepath.Join(r.cfg.State, k.dir, uid) }

// SetupSandbox creates the pod's namespaces, /etc files and volumes, or finds them from an earlier
// call: it is idempotent, so a podd that died halfway finishes the job on its next start.
func (r *Host) SetupSandbox(ctx context.Context, p *pod.Pod) (*pod.Sandbox, error) {
	uid := p.Metadata.UID
	dir := r.PodDir(uid)
	if err := os.MkdirAll(filepath.Join(dir, "volumes"), 0o750); err != nil {
		return nil, fmt.Errorf("create pod folder: %w", err)
	}
	hostname := podHostname(p)
	kinds := []nsKind{ipcNS}
	if !p.Spec.HostNetwork {
		kinds = append(kinds, netNS, utsNS)
	} else if h, err := os.Hostname(); err == nil {
		hostname = h // a hostNetwork pod shares the host's UTS namespace, and so its name
	}
	if err := r.ensureNamespaces(ctx, uid, kinds, hostname); err != nil {
		return nil, fmt.Errorf("create pod namespaces: %w", err)
	}
	fault.Point(fault.SandboxAfterNamespaces)
	// The pod's cgroup, with the pod's sums, before any container: runc creates theirs beneath it.
	if err := cgroups.SetupPod(r.cgroupFS, r.cfg.CgroupParent, uid, podLimits(p, r.cfg.PodPidsLimit)); err != nil {
		return nil, fmt.Errorf("create pod cgroup: %w", err)
	}
	sharePID := p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace
	if sharePID {
		// After the pod's cgroup, which its PID 1 joins.
		if err := r.ensurePIDNamespace(uid); err != nil {
			return nil, fmt.Errorf("create the pod's PID namespace: %w", err)
		}
	}
	etc, err := r.etcFilesDir(dir)
	if err != nil {
		return nil, err
	}
	sb := &pod.Sandbox{
		Hostname:     hostname,
		HostsPath:    filepath.Join(etc, hostsFileName(etc, dir)),
		HostnamePath: filepath.Join(etc, "hostname"),
		ResolvPath:   filepath.Join(etc, "resolv.conf"),
		VolumePaths:  map[string]string{},
		Node:         r.node(),
	}
	sb.IPCNSPath = r.nsPath(ipcNS, uid)
	if sharePID {
		sb.PIDNSPath = r.nsPath(pidNS, uid)
	}
	if !p.Spec.HostNetwork {
		sb.NetNSPath, sb.UTSNSPath = r.nsPath(netNS, uid), r.nsPath(utsNS, uid)
	}
	// A pod found attached, with a hosts file written since (a restarted podd restoring it),
	// keeps its address and every hosts file is up to date: rewriting them all for each of N
	// restored pods would cost N² file reads and writes under netMu, a second for 100 pods.
	hostsSynced := false
	if pod.NetworkMode(p) == pod.NetworkBridge {
		r.netMu.Lock()
		st, err := r.net.readState(uid)
		r.netMu.Unlock()
		if fi, serr := os.Stat(sb.HostsPath); err == nil && len(st.IPs) > 0 && serr == nil && fi.Size() > 0 {
			hostsSynced = true
		}
	}
	if err := r.setupNetwork(ctx, p, sb); err != nil {
		return nil, err
	}
	hosts, err := hostsFile(p, hostname)
	if err != nil {
		return nil, err
	}
	resolv, err := r.podResolvConf(p)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{sb.HostsPath: hosts, sb.HostnamePath: []byte(hostname + "\n"), sb.ResolvPath: resolv}
	if pod.NetworkMode(p) == pod.NetworkBridge {
		// syncHosts writes it, with the other pods' names, into the file it finds.
		delete(files, sb.HostsPath)
		f, err := os.OpenFile(sb.HostsPath, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", sb.HostsPath, err)
		}
		f.Close()
	}
	for path, data := range files {
		// Written once, when the pod's sandbox is made: a restored pod's containers may have
		// written into theirs since (and may have filled the tmpfs), which is theirs to keep.
		// An empty file is one that podd died before writing.
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			continue
		}
		// Written in place, never renamed over: the files are bind-mounted into running containers.
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if pod.WantsAPISocket(p, "") {
		sb.APISocketDir = r.PodAPIDir(uid)
		if err := os.MkdirAll(sb.APISocketDir, 0o755); err != nil {
			return nil, fmt.Errorf("create the pod's API socket folder: %w", err)
		}
	}
	for i, v := range p.Spec.Volumes {
		path, err := r.setupVolume(dir, p, v)
		if err != nil {
			return nil, fmt.Errorf("spec.volumes[%d]: %w", i, err)
		}
		sb.VolumePaths[v.Name] = path
	}
	if pod.NetworkMode(p) == pod.NetworkBridge && !hostsSynced {
		r.netMu.Lock()
		err := r.syncHosts(uid)
		r.netMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return sb, nil
}

// EtcFilesSize bounds the tmpfs that holds a pod's /etc/hosts, /etc/hostname and
// /etc/resolv.conf. The files are bind-mounted writable into the containers (as the kubelet and
// containerd's CRI do), so a container can grow them: on their own small tmpfs it can neither fill
// --root nor make podd read much back (podd never reads them: it keeps what it wrote). The pages
// are charged to the memory cgroup of whoever writes them. A hosts file line takes at most about
// 600 bytes (a 253-character name, its namespace, an address), so 4 MiB hold some 7,000 pods at
// the longest names.
const EtcFilesSize = 4 << 20

// etcFilesDir is the folder of the pod's /etc files: <pod>/etc, a tmpfs of EtcFilesSize. A pod
// made by an earlier podd, whose files lie in the pod folder itself (and are bind-mounted into its
// running containers), keeps them there until it is removed.
func (r *Host) etcFilesDir(dir string) (string, error) {
	if fi, err := os.Lstat(filepath.Join(dir, legacyHostsName)); err == nil && fi.Mode().IsRegular() {
		return dir, nil
	}
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return "", fmt.Errorf("create the pod's /etc files folder: %w", err)
	}
	mounted, err := isMountPoint(etc)
	if err != nil {
		return "", err
	}
	if !mounted {
		opts := "mode=0755,nr_inodes=16,size=" + strconv.Itoa(EtcFilesSize)
		if err := unix.Mount("tmpfs", etc, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
			return "", fmt.Errorf("mount a tmpfs for the pod's /etc files on %s: %w", etc, err)
		}
	}
	return etc, nil
}

// legacyHostsName is the hosts file's name in a pod folder of an earlier podd.
const legacyHostsName = "etc-hosts"

func hostsFileName(etc, podDir string) string {
	if etc == podDir {
		return legacyHostsName
	}
	return "hosts"
}

// podHostname is spec.hostname or the pod's name, cut to a DNS label as Kubernetes does.
func podHostname(p *pod.Pod) string {
	h := p.Spec.Hostname
	if h == "" {
		h = p.Metadata.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func hostsFile(p *pod.Pod, hostname string) ([]byte, error) {
	if p.Spec.HostNetwork {
		data, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return nil, fmt.Errorf("read the host's /etc/hosts: %w", err)
		}
		return data, nil
	}
	var b bytes.Buffer
	writeHostsHeader(&b)
	// A pod without network has no address of its own: its name resolves to a loopback address.
	names := hostname
	if hostname != p.Metadata.Name {
		names += " " + p.Metadata.Name
	}
	fmt.Fprintf(&b, "127.0.1.1\t%s\n", names)
	return b.Bytes(), nil
}

// podResolvConf is the pod's /etc/resolv.conf, as the kubelet makes it from the pod's dnsPolicy
// and dnsConfig (pod.PodResolvConf): the cluster DNS on the bridge's gateway with the cluster's
// search path for ClusterFirst, the host's resolvers for Default.
func (r *Host) podResolvConf(p *pod.Pod) ([]byte, error) {
	host, err := hostResolvConf()
	if err != nil {
		return nil, err
	}
	var cluster pod.ClusterDNS
	if r.cfg.ClusterDomain != "" {
		cluster = pod.ClusterDNS{Nameserver: r.net.gateway.String(), Domain: r.cfg.ClusterDomain}
	}
	rc, omitted := pod.PodResolvConf(p, pod.ParseResolvConf(host), cluster)
	for _, o := range omitted {
		// The kubelet's DNSConfigForming warning: Kubernetes' limits cut what the pod would get.
		r.log.Warn("pod resolv.conf: over Kubernetes' limits (3 nameservers, 32 search paths, 2048 characters), omitted "+o, "pod", p.Metadata.Namespace+"/"+p.Metadata.Name)
	}
	return rc.Bytes(), nil
}

// hostResolvConf is the host's, or systemd-resolved's upstream list when the host points at its
// stub, which a pod in its own netns cannot reach (as the kubelet does).
func hostResolvConf() ([]byte, error) {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read the host's /etc/resolv.conf: %w", err)
	}
	if bytes.Contains(data, []byte("nameserver 127.0.0.53")) {
		if up, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			return up, nil
		}
	}
	return data, nil
}

func (r *Host) setupVolume(podDir string, p *pod.Pod, v pod.Volume) (string, error) {
	switch {
	case v.DownwardAPI != nil:
		path := filepath.Join(podDir, "volumes", v.Name)
		return path, downwardAPIVolume(path, p, v, r.node())
	case pod.IsConfigVolume(v):
		path := filepath.Join(podDir, "volumes", v.Name)
		return path, r.configVolume(path, p, v)
	case v.EmptyDir != nil:
		path := filepath.Join(podDir, "volumes", v.Name)
		if err := os.MkdirAll(path, 0o777); err != nil {
			return "", fmt.Errorf("emptyDir: %w", err)
		}
		// Kubernetes' emptyDir is world-writable whatever the umask, so any runAsUser can use it.
		if err := os.Chmod(path, 0o777); err != nil {
			return "", fmt.Errorf("emptyDir: %w", err)
		}
		if v.EmptyDir.Medium == pod.StorageMediumMemory {
			mounted, err := isMountPoint(path)
			if err != nil {
				return "", err
			}
			if !mounted {
				opts := "mode=0777"
				if v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Value() > 0 {
					opts += ",size=" + strconv.FormatInt(v.EmptyDir.SizeLimit.Value(), 10)
				}
				if err := unix.Mount("tmpfs", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
					return "", fmt.Errorf("emptyDir: mount tmpfs on %s: %w", path, err)
				}
			}
		}
		if sc := p.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
			if err := ownByFSGroup(path, *sc.FSGroup); err != nil {
				return "", fmt.Errorf("emptyDir: %w", err)
			}
		}
		return path, nil
	case v.HostPath != nil:
		t := pod.HostPathUnset
		if v.HostPath.Type != nil {
			t = *v.HostPath.Type
		}
		if err := checkHostPath(v.HostPath.Path, t); err != nil {
			return "", fmt.Errorf("hostPath.path: %w", err)
		}
		return v.HostPath.Path, nil
	case v.PersistentVolumeClaim != nil:
		if r.claims == nil {
			return "", fmt.Errorf("persistentVolumeClaim: podd has no claims here: %w", errdefs.ErrUnavailable)
		}
		path, err := r.claims.ClaimPath(p.Metadata.Namespace, v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return "", fmt.Errorf("persistentVolumeClaim: %w", err)
		}
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("persistentVolumeClaim: the folder of claim %q is missing (%s): %w", v.PersistentVolumeClaim.ClaimName, path, errdefs.ErrUnavailable)
		}
		return path, nil
	}
	return "", fmt.Errorf("volume %q has no source: %w", v.Name, errdefs.ErrInvalidArgument)
}

// checkHostPath applies Kubernetes' hostPath type checks, creating what the *OrCreate types ask for.
func checkHostPath(path string, t pod.HostPathType) error {
	fail := func(what string) error {
		return fmt.Errorf("hostPath type check failed: %s is not a %s: %w", path, what, errdefs.ErrFailedPrecondition)
	}
	fi, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("hostPath %s: %w", path, err)
	}
	exists := err == nil
	switch t {
	case pod.HostPathUnset:
		return nil
	case pod.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(path, 0o755)
		}
		if !fi.IsDir() {
			return fail("directory")
		}
	case pod.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath create file %s: %w", path, err)
			}
			return f.Close()
		}
		if !fi.Mode().IsRegular() {
			return fail("file")
		}
	case pod.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fail("directory")
		}
	case pod.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fail("file")
		}
	case pod.HostPathSocket:
		if !exists || fi.Mode()&os.ModeSocket == 0 {
			return fail("socket")
		}
	case pod.HostPathCharDev:
		if !exists || fi.Mode()&os.ModeCharDevice == 0 {
			return fail("character device")
		}
	case pod.HostPathBlockDev:
		if !exists || fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
			return fail("block device")
		}
	default:
		return fmt.Errorf("hostPath type %q is not a type podd knows: %w", t, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ensureNamespaces creates the pod's namespaces unless all of them exist already.
func (r *Host) ensureNamespaces(ctx context.Context, uid string, kinds []nsKind, hostname string) error {
	missing := false
	for _, k := range kinds {
		if ok, _ := isNSFile(r.nsPath(k, uid)); !ok {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	// A partial set (podd died halfway) is unusable: start again from nothing, the network
	// attachment first (its masquerade rules are found through the netns).
	if err := r.teardownNetwork(ctx, uid); err != nil {
		return err
	}
	r.removeNamespaces(uid)
	paths := make(map[nsKind]string, len(kinds))
	for _, k := range kinds {
		if err := os.MkdirAll(filepath.Join(r.cfg.State, k.dir), 0o711); err != nil {
			return err
		}
		paths[k] = r.nsPath(k, uid)
	}
	return newNamespaces(paths, hostname)
}

// newNamespaces unshares on a locked thread that is never unlocked: Go ends that thread with its
// goroutine, so no other goroutine ever runs in the new namespaces.
func newNamespaces(paths map[nsKind]string, hostname string) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		errc <- func() error {
			flags := 0
			for k := range paths {
				flags |= k.flag
			}
			if err := unix.Unshare(flags); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if flags&unix.CLONE_NEWUTS != 0 {
				if err := unix.Sethostname([]byte(hostname)); err != nil {
					return fmt.Errorf("set hostname: %w", err)
				}
			}
			if flags&unix.CLONE_NEWNET != 0 {
				h, err := netlink.NewHandle()
				if err != nil {
					return fmt.Errorf("netlink: %w", err)
				}
				defer h.Close()
				lo, err := h.LinkByName("lo")
				if err != nil {
					return fmt.Errorf("find lo: %w", err)
				}
				if err := h.LinkSetUp(lo); err != nil {
					return fmt.Errorf("bring lo up: %w", err)
				}
			}
			self := fmt.Sprintf("/proc/%d/task/%d/ns/", os.Getpid(), unix.Gettid())
			for k, path := range paths {
				f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
				if err != nil {
					return fmt.Errorf("create %s: %w", path, err)
				}
				f.Close()
				if err := unix.Mount(self+k.proc, path, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("bind-mount %s namespace on %s: %w", k.proc, path, err)
				}
			}
			return nil
		}()
	}()
	return <-errc
}

func (r *Host) removeNamespaces(uid string) error {
	var errs []error
	for _, k := range []nsKind{netNS, ipcNS, utsNS} {
		path := r.nsPath(k, uid)
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", path, err))
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isNSFile(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return st.Type == nsfsMagic, nil
}

// TeardownSandbox removes the pod's namespaces, mounts, folder and cgroups. Missing parts are fine.
func (r *Host) TeardownSandbox(ctx context.Context, uid string) error {
	if uid == "" || strings.ContainsAny(uid, "/.") {
		return fmt.Errorf("pod uid %q is not a valid uid: %w", uid, errdefs.ErrInvalidArgument)
	}
	// The network goes first and must go: CNI DEL needs the netns to find what to remove.
	if err := r.teardownNetwork(ctx, uid); err != nil {
		return err
	}
	var errs []error
	errs = append(errs, r.removeNamespaces(uid), r.removePIDNamespace(uid))
	fault.Point(fault.SandboxTeardownAfterNamespaces)
	dir := r.PodDir(uid)
	mounts, err := mountsUnder(dir)
	if err != nil {
		errs = append(errs, err)
	}
	unmounted := err == nil
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			unmounted = false
		}
	}
	// Never remove through a mount that is still there: a subPath of a hostPath volume is
	// bind-mounted under the pod's folder, and RemoveAll would delete the host's files.
	if unmounted {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove pod folder: %w", err))
		}
	}
	if err := os.RemoveAll(r.PodStateDir(uid)); err != nil {
		errs = append(errs, fmt.Errorf("remove pod state folder: %w", err))
	}
	// The containers are gone: what is left in the pod's own leaves (a logger orphaned by a shim
	// killed mid-create) would keep the cgroup busy for ever.
	if n, err := cgroups.KillHelpers(r.cgroupFS, r.cfg.CgroupParent, uid); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		r.log.Info("killed podd helpers left in the pod's cgroup", "uid", uid, "processes", n)
	}
	if err := cgroups.RemovePod(ctx, r.cgroupFS, r.cfg.CgroupParent, uid); err != nil {
		errs = append(errs, fmt.Errorf("remove pod cgroup: %w", err))
	}
	return errors.Join(errs...)
}

// ListSandboxes lists the UIDs that have a pod folder or a namespace file.
func (r *Host) ListSandboxes(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, dir := range []string{filepath.Join(r.cfg.Root, "pods"), filepath.Join(r.cfg.State, "pods"), filepath.Join(r.cfg.State, netNS.dir), filepath.Join(r.cfg.State, ipcNS.dir), filepath.Join(r.cfg.State, utsNS.dir), filepath.Join(r.cfg.State, pidNS.dir)} {
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, e := range entries {
			seen[e.Name()] = true
		}
	}
	for _, uid := range r.net.attachedUIDs() {
		seen[uid] = true
	}
	uids := make([]string, 0, len(seen))
	for uid := range seen {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	return uids, nil
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, m := range infos {
		out[i] = m.Mountpoint
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// isMountPoint asks the kernel about path alone (openat2 with RESOLVE_NO_XDEV, which sees bind
// mounts too), reading the mount table only where that cannot tell: a restarted podd checks each
// pod's /etc files folder, and parsing the whole table per pod (a thousand lines with 200 pods)
// was most of its restore time.
func isMountPoint(path string) (bool, error) {
	return mountinfo.Mounted(path)
}

// ownByFSGroup gives an emptyDir to the pod's fsGroup as the kubelet does: its group becomes
// fsGroup and its setgid bit is set, so that what the containers create in it belongs to that
// group too. Only the volume's own folder: podd creates it empty, and files created in it since
// inherit the group.
func ownByFSGroup(path string, gid int64) error {
	if err := os.Lchown(path, -1, int(gid)); err != nil {
		return fmt.Errorf("fsGroup: %w", err)
	}
	if err := os.Chmod(path, 0o777|os.ModeSetgid); err != nil {
		return fmt.Errorf("fsGroup: %w", err)
	}
	return nil
}
