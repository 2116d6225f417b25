package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// Pods find each other by name through their hosts files, which podd rewrites in place whenever a
// pod on the bridge gets its address or goes: `<pod>` for pods of the same namespace and
// `<pod>.<namespace>` for all. Unlike a DNS server inside podd, the files keep answering while podd
// is down or restarting, cost no process and no port, and need no resolver on the bridge; the cost
// is one small write per pod and change. libc (glibc, musl, busybox) reads /etc/hosts on every
// lookup, so a change is seen at once; a program that caches answers itself sees it later.

// syncHosts writes every bridge pod's hosts file: its own entries and one line per other pod.
// Only the failure to write the file of pod self ("" for none) is returned: another pod whose
// container filled its own /etc files' tmpfs must not stop this one. r.netMu must be held.
func (r *Host) syncHosts(self string) error {
	// Warm sandboxes (no name) have neither names nor a hosts file yet.
	states := slices.DeleteFunc(r.net.allStates(), (*netState).warm)
	sort.Slice(states, func(i, j int) bool {
		a, b := states[i], states[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	var errs []error
	for _, st := range states {
		data := podHosts(st, states)
		sum := sha256.Sum256(data)
		if old, ok := r.hostsWritten[st.UID]; ok && old == sum {
			continue
		}
		err := writeInPlace(st.HostsPath, data)
		switch {
		case err == nil:
			r.hostsWritten[st.UID] = sum
		case os.IsNotExist(err):
			// the pod's folder is being removed
		case st.UID == self:
			errs = append(errs, fmt.Errorf("update hosts file of pod %s/%s: %w", st.Namespace, st.Name, err))
		default:
			r.log.Warn("update hosts file", "pod", st.Namespace+"/"+st.Name, "err", err)
		}
	}
	return errors.Join(errs...)
}

// writeInPlace makes the file at path hold data without reading it (a container can write into
// it) and without renaming over it (it is bind-mounted into containers). The new content goes
// over the old, then the file is cut to its length: a reader never finds it empty (as between a
// truncate and a write), at worst a moment's tail of old lines. When that finds no space (a
// container filled the file's tmpfs), the file is emptied first.
func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if errors.Is(err, syscall.ENOSPC) {
		if err = f.Truncate(0); err == nil {
			_, err = f.WriteAt(data, 0)
		}
	}
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// podHosts is the hosts file of the pod st, with all as the pods on the bridge.
func podHosts(st *netState, all []*netState) []byte {
	var b bytes.Buffer
	writeHostsHeader(&b)
	own := st.Hostname
	if st.FQDN != "" {
		own = st.FQDN + " " + own
	}
	if st.Name != st.Hostname {
		own += " " + st.Name
	}
	own += " " + st.Name + "." + st.Namespace
	for _, ip := range st.IPs {
		fmt.Fprintf(&b, "%s\t%s\n", ip, own)
	}
	b.WriteString("# Other pods on podd's bridge.\n")
	for _, o := range all {
		if o.UID == st.UID || len(o.IPs) == 0 {
			continue
		}
		names := o.Name + "." + o.Namespace
		if o.Namespace == st.Namespace {
			names += " " + o.Name
		}
		fmt.Fprintf(&b, "%s\t%s\n", o.IPs[0], names)
	}
	return b.Bytes()
}

// podFQDN is the pod's fully qualified name when it has a spec.subdomain and podd serves a
// cluster domain (the kubelet's rule for the hosts file): <hostname>.<subdomain>.<ns>.svc.<domain>.
func (r *Host) podFQDN(p *pod.Pod, hostname string) string {
	if p.Spec.Subdomain == "" || r.cfg.ClusterDomain == "" {
		return ""
	}
	return hostname + "." + p.Spec.Subdomain + "." + p.Metadata.Namespace + ".svc." + strings.TrimSuffix(r.cfg.ClusterDomain, ".")
}

func writeHostsHeader(b *bytes.Buffer) {
	b.WriteString("# podd-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
}

// CheckHostPorts refuses a pod whose hostPorts a process on the host holds already, by binding
// each one for a moment. Ports of other pods are not sockets (portmap's DNAT rules publish them):
// pkg/pod checks those against the pods it knows.
func (r *Host) CheckHostPorts(ctx context.Context, p *pod.Pod) error {
	var errs []error
	for _, hp := range pod.HostPorts(p) {
		ip := hp.Port.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		addr := net.JoinHostPort(ip, fmt.Sprint(hp.Port.HostPort))
		var err error
		switch strings.ToUpper(hp.Port.Protocol) {
		case "UDP":
			var c net.PacketConn
			if c, err = (&net.ListenConfig{}).ListenPacket(ctx, "udp", addr); err == nil {
				c.Close()
			}
		default:
			var l net.Listener
			if l, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr); err == nil {
				l.Close()
			}
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			errs = append(errs, fmt.Errorf("%s.hostPort: port %d/%s on %s is already in use: %w",
				hp.Field, hp.Port.HostPort, hp.Port.Protocol, ip, errdefs.ErrAlreadyExists))
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			errs = append(errs, fmt.Errorf("%s.hostIP: %s is not an address of this host: %w", hp.Field, ip, errdefs.ErrInvalidArgument))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s.hostPort: port %d/%s on %s cannot be published: %w", hp.Field, hp.Port.HostPort, hp.Port.Protocol, ip, err))
		}
	}
	return errors.Join(errs...)
}
