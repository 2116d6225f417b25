package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/pod"
)

// NetworkConfig is podd's pod network: one bridge, attached through CNI.
type NetworkConfig struct {
	// PodCIDR is the subnet the pods' addresses come from (host-local IPAM); the bridge takes its
	// first address as the pods' gateway.
	PodCIDR string
	// Bridge is the host's bridge device; podd's CNI network carries the same name.
	Bridge string
	// EgressNAT masquerades traffic from the pods to addresses outside PodCIDR (bridge ipMasq).
	EgressNAT bool
	// PluginDirs are searched for the CNI plugins (bridge, host-local, portmap, firewall).
	PluginDirs []string
}

// Defaults of NetworkConfig. 10.88.0.0/16 is podman's and 10.89.0.0/16 onwards its extra networks'.
const (
	DefaultPodCIDR = "10.123.0.0/16"
	DefaultBridge  = "podd0"
	podIfName      = "eth0"
)

// DefaultPluginDirs: Debian's containernetworking-plugins, then the upstream release's place.
var DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniNetwork attaches pods to podd's bridge. Everything it keeps lives under --state/cni, so a
// reboot, which ends every netns, also forgets every attachment and address.
type cniNetwork struct {
	cfg     NetworkConfig
	dir     string // --state/cni
	cni     *libcni.CNIConfig
	list    *libcni.NetworkConfigList
	gateway netip.Addr
	nodeIP  string // status.hostIP
}

// netState is what podd keeps of a pod's attachment besides the CNI cache: enough to answer
// status.podIP without a new ADD after a restart and to write the other pods' hosts files, and
// enough for a DEL that libcni's cache cannot feed. It is written before the CNI ADD (without
// IPs) and again after it: libcni caches the ADD's config and result only once every plugin has
// run, so a podd killed in between would otherwise leave the plugins' iptables rules with no
// record of the config, port mappings and address a DEL needs to remove them.
type netState struct {
	UID string `json:"uid"`
	// Name is the pod's; none in a warm sandbox's state, which no pod took yet (warm.go): it has
	// no names and no hosts file.
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Hostname  string   `json:"hostname"`
	IPs       []string `json:"ips"`
	HostsPath string   `json:"hostsPath"`
	// Config is the conflist of the ADD and Ports its port mappings (the portmap plugin's
	// runtimeConfig), for a DEL without a cached result.
	Config json.RawMessage `json:"config,omitempty"`
	Ports  []portMapping   `json:"ports,omitempty"`
	// FQDN is <hostname>.<subdomain>.<namespace>.svc.<cluster domain> for a pod with a
	// spec.subdomain, first among its own names in its hosts file, as the kubelet writes it.
	FQDN string `json:"fqdn,omitempty"`
}

// portMapping is the portmap plugin's runtimeConfig entry.
type portMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

func validateNetworkConfig(cfg *NetworkConfig) (netip.Prefix, error) {
	prefix, err := netip.ParsePrefix(cfg.PodCIDR)
	if err != nil || !prefix.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("--pod-cidr %q: want an IPv4 subnet such as %s: %w", cfg.PodCIDR, DefaultPodCIDR, errdefs.ErrInvalidArgument)
	}
	if prefix.Bits() > 28 || prefix.Bits() < 8 {
		return netip.Prefix{}, fmt.Errorf("--pod-cidr %q: the prefix length must be between 8 and 28: %w", cfg.PodCIDR, errdefs.ErrInvalidArgument)
	}
	if prefix.Masked() != prefix {
		return netip.Prefix{}, fmt.Errorf("--pod-cidr %q: host bits are set (did you mean %s?): %w", cfg.PodCIDR, prefix.Masked(), errdefs.ErrInvalidArgument)
	}
	if len(cfg.Bridge) == 0 || len(cfg.Bridge) > 15 || strings.ContainsAny(cfg.Bridge, "/ \t\n:") || cfg.Bridge == "." || cfg.Bridge == ".." {
		return netip.Prefix{}, fmt.Errorf("--bridge %q: want a network device name of 1 to 15 characters: %w", cfg.Bridge, errdefs.ErrInvalidArgument)
	}
	return prefix, nil
}

func newCNINetwork(cfg NetworkConfig, state string) (*cniNetwork, error) {
	if cfg.PodCIDR == "" {
		cfg.PodCIDR = DefaultPodCIDR
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = DefaultPluginDirs
	}
	prefix, err := validateNetworkConfig(&cfg)
	if err != nil {
		return nil, err
	}
	n := &cniNetwork{cfg: cfg, dir: filepath.Join(state, "cni"), gateway: prefix.Addr().Next()}
	for _, d := range []string{n.dir, n.stateDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	conf := n.conflist(prefix)
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	// Written for people and tools to read; podd itself uses the bytes it just made.
	if err := os.WriteFile(filepath.Join(n.dir, "podd.conflist"), append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write CNI config: %w", err)
	}
	if n.list, err = libcni.ConfListFromBytes(data); err != nil {
		return nil, fmt.Errorf("CNI config: %w", err)
	}
	n.cni = libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(n.dir, "cache"), &crashExec{
		Exec: &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}},
		last: n.list.Plugins[len(n.list.Plugins)-1].Network.Type,
	})
	n.nodeIP = nodeIP(cfg.Bridge, n.gateway.String())
	return n, nil
}

// conflist is podd's own CNI network: bridge with host-local IPAM, portmap for hostPorts (with
// snat, so that the host's 127.0.0.1 reaches them too), firewall to let the pods' traffic pass a
// FORWARD policy of DROP.
func (n *cniNetwork) conflist(prefix netip.Prefix) map[string]any {
	return map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.cfg.Bridge,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      n.cfg.Bridge,
				"isGateway":   true,
				"ipMasq":      n.cfg.EgressNAT,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  []any{[]any{map[string]any{"subnet": prefix.String(), "gateway": n.gateway.String()}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(n.dir, "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}, "snat": true},
			map[string]any{"type": "firewall", "backend": "iptables"},
		},
	}
}

// warm says whether the state is a warm sandbox's that no pod took yet.
func (st *netState) warm() bool { return st.Name == "" }

func (n *cniNetwork) stateDir() string            { return filepath.Join(n.dir, "pods") }
func (n *cniNetwork) statePath(uid string) string { return filepath.Join(n.stateDir(), uid+".json") }

func (n *cniNetwork) readState(uid string) (*netState, error) {
	data, err := os.ReadFile(n.statePath(uid))
	if err != nil {
		return nil, err
	}
	var st netState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read pod network state %s: %w", n.statePath(uid), err)
	}
	return &st, nil
}

func (n *cniNetwork) writeState(st *netState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := n.statePath(st.UID) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, n.statePath(st.UID))
}

// allStates lists the pods attached to the bridge, as their state files say.
func (n *cniNetwork) allStates() []*netState {
	entries, _ := os.ReadDir(n.stateDir())
	var out []*netState
	for _, e := range entries {
		uid, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if st, err := n.readState(uid); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// ReadyWarmSandboxes lists by UID the warm sandboxes under podd's state folder (--state) that no
// pod took and that have their address, as their network state files say: for a test or a bench
// that watches a podd's pool from outside.
func ReadyWarmSandboxes(state string) map[string]bool {
	out := map[string]bool{}
	for _, st := range (&cniNetwork{dir: filepath.Join(state, "cni")}).allStates() {
		if st.warm() && len(st.IPs) > 0 {
			out[st.UID] = true
		}
	}
	return out
}

func portMappings(p *pod.Pod) []portMapping {
	var out []portMapping
	for _, cs := range [][]pod.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			for _, port := range c.Ports {
				if port.HostPort == 0 {
					continue
				}
				out = append(out, portMapping{HostPort: port.HostPort, ContainerPort: port.ContainerPort, Protocol: strings.ToLower(port.Protocol), HostIP: port.HostIP})
			}
		}
	}
	return out
}

func (n *cniNetwork) runtimeConf(uid, netns string, ports []portMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: uid, NetNS: netns, IfName: podIfName}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// attach returns the pod's addresses: from its state file when it is attached already (a podd
// restart must not ADD twice), else from the CNI cache (podd died right after an ADD), else by a
// CNI ADD. A failed ADD is undone.
func (n *cniNetwork) attach(ctx context.Context, p *pod.Pod, netns, hostname, fqdn, hostsPath string) ([]string, error) {
	uid := p.Metadata.UID
	if st, err := n.readState(uid); err == nil && len(st.IPs) > 0 {
		if st.warm() && p.Metadata.Name != "" {
			// A warm sandbox the pod took (warm.go): from now on the pod's names are in it.
			st.Name, st.Namespace, st.Hostname, st.HostsPath, st.FQDN = p.Metadata.Name, p.Metadata.Namespace, hostname, hostsPath, fqdn
			if err := n.writeState(st); err != nil {
				return nil, fmt.Errorf("record pod network state: %w", err)
			}
		}
		return st.IPs, nil
	}
	ports := portMappings(p)
	rt := n.runtimeConf(uid, netns, ports)
	var ips []string
	if cached, err := n.cni.GetNetworkListCachedResult(n.list, rt); err == nil && cached != nil {
		ips, _ = resultIPs(cached)
	}
	st := &netState{UID: uid, Name: p.Metadata.Name, Namespace: p.Metadata.Namespace, Hostname: hostname, HostsPath: hostsPath, FQDN: fqdn, Config: n.list.Bytes, Ports: ports}
	if len(ips) == 0 {
		// Whatever a crash mid-ADD left (a veth, an address, rules) goes first, with the config
		// and ports that ADD recorded.
		if n.hasAttachment(uid) || hasLink(netns, podIfName) {
			_ = n.del(ctx, uid, netns, ports)
		}
		if err := n.writeState(st); err != nil {
			return nil, fmt.Errorf("record pod network state: %w", err)
		}
		res, err := n.cni.AddNetworkList(ctx, n.list, rt)
		if err != nil {
			if derr := n.detach(context.WithoutCancel(ctx), uid, netns); derr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", derr))
			}
			// A plugin that failed halfway may have made rules its DEL does not find.
			if _, serr := n.sweep(context.WithoutCancel(ctx)); serr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", serr))
			}
			return nil, fmt.Errorf("attach to network %s (CNI ADD): %w", n.cfg.Bridge, err)
		}
		if ips, err = resultIPs(res); err != nil {
			return nil, err
		}
	}
	st.IPs = ips
	if err := n.writeState(st); err != nil {
		return nil, fmt.Errorf("record pod network state: %w", err)
	}
	return ips, nil
}

// crashExec runs the CNI plugins, with a crash point after the ADD of the chain's last plugin:
// the instant before libcni caches the result.
type crashExec struct {
	invoke.Exec
	last string // the type of the chain's last plugin
}

func (e *crashExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	out, err := e.Exec.ExecPlugin(ctx, pluginPath, stdin, environ)
	if err == nil && filepath.Base(pluginPath) == e.last && slices.Contains(environ, "CNI_COMMAND=ADD") {
		fault.Point(fault.NetworkAfterAdd)
	}
	return out, err
}

func resultIPs(r types.Result) ([]string, error) {
	res, err := types100.GetResult(r)
	if err != nil {
		return nil, fmt.Errorf("CNI result: %w", err)
	}
	var ips []string
	for _, ip := range res.IPs {
		ips = append(ips, ip.Address.IP.String())
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("CNI result has no address")
	}
	return ips, nil
}

// detach undoes attach; it is idempotent.
func (n *cniNetwork) detach(ctx context.Context, uid, netns string) error {
	if err := n.del(ctx, uid, netns, nil); err != nil {
		return err
	}
	if err := os.Remove(n.statePath(uid)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// del runs the CNI DEL of the pod's attachment. The CNI cache supplies the config, port mappings
// and result of each ADD that completed, under whatever network name podd had then (so a podd
// restarted with another --bridge or --pod-cidr still removes the right rules). An ADD that podd
// did not see complete has no cache entry: then the config and ports come from the state file
// written before that ADD (else the current network's, with ports), and the result that the
// firewall plugin needs to find its rules is made of the addresses host-local holds for the pod.
func (n *cniNetwork) del(ctx context.Context, uid, netns string, ports []portMapping) error {
	type del struct {
		list *libcni.NetworkConfigList
		rt   *libcni.RuntimeConf
	}
	var dels []del
	for _, name := range n.cachedNetworks(uid) {
		rt := n.runtimeConf(uid, netns, nil)
		data, cachedRT, err := n.cni.GetNetworkListCachedConfig(&libcni.NetworkConfigList{Name: name}, rt)
		if err != nil || data == nil {
			continue
		}
		list, err := libcni.ConfListFromBytes(data)
		if err != nil {
			continue
		}
		rt.CapabilityArgs = cachedRT.CapabilityArgs
		dels = append(dels, del{list, rt})
	}
	if len(dels) == 0 {
		list := n.list
		if st, err := n.readState(uid); err == nil && len(st.Config) > 0 {
			if l, err := libcni.ConfListFromBytes(st.Config); err == nil {
				list, ports = l, st.Ports
			}
		}
		list, err := withPrevResult(list, n.reservedAddresses(list, uid))
		if err != nil {
			return fmt.Errorf("detach from network %s: %w", n.cfg.Bridge, err)
		}
		dels = append(dels, del{list, n.runtimeConf(uid, netns, ports)})
	}
	for _, d := range dels {
		if err := n.cni.DelNetworkList(ctx, d.list, d.rt); err != nil {
			return fmt.Errorf("detach from network %s (CNI DEL): %w", d.list.Name, err)
		}
	}
	return nil
}

// ipamConf is what podd reads of a host-local IPAM config.
type ipamConf struct {
	Type    string `json:"type"`
	DataDir string `json:"dataDir"`
	Ranges  [][]struct {
		Subnet string `json:"subnet"`
	} `json:"ranges"`
}

// reservedAddresses lists the addresses (with their subnet's prefix length) that the host-local
// IPAM of list holds for the container id: one file per address in <dataDir>/<network>, holding
// "<containerID>\r\n<ifname>".
func (n *cniNetwork) reservedAddresses(list *libcni.NetworkConfigList, id string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range list.Plugins {
		var conf struct {
			IPAM ipamConf `json:"ipam"`
		}
		if json.Unmarshal(p.Bytes, &conf) != nil || conf.IPAM.Type != "host-local" || conf.IPAM.DataDir == "" {
			continue
		}
		var subnets []netip.Prefix
		for _, rs := range conf.IPAM.Ranges {
			for _, r := range rs {
				if pfx, err := netip.ParsePrefix(r.Subnet); err == nil {
					subnets = append(subnets, pfx)
				}
			}
		}
		for addr, owner := range hostLocalReservations(filepath.Join(conf.IPAM.DataDir, list.Name)) {
			if owner != id {
				continue
			}
			bits := addr.BitLen()
			for _, s := range subnets {
				if s.Contains(addr) {
					bits = s.Bits()
				}
			}
			out = append(out, netip.PrefixFrom(addr, bits))
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// hostLocalReservations maps the addresses host-local has handed out in dir to their container IDs.
func hostLocalReservations(dir string) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		addr, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue // last_reserved_ip.0, lock
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if id, _, _ := strings.Cut(string(data), "\n"); strings.TrimSpace(id) != "" {
			out[addr] = strings.TrimSpace(id)
		}
	}
	return out
}

// withPrevResult returns list with a CNI result holding addrs as every plugin's prevResult, as
// libcni passes a cached result on DEL. Without addresses list is returned as it is.
func withPrevResult(list *libcni.NetworkConfigList, addrs []netip.Prefix) (*libcni.NetworkConfigList, error) {
	if len(addrs) == 0 {
		return list, nil
	}
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion}
	for _, a := range addrs {
		res.IPs = append(res.IPs, &types100.IPConfig{Address: net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}})
	}
	converted, err := res.GetAsVersion(list.CNIVersion)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := converted.PrintTo(&buf); err != nil {
		return nil, err
	}
	var conf map[string]any
	if err := json.Unmarshal(list.Bytes, &conf); err != nil {
		return nil, err
	}
	plugins, _ := conf["plugins"].([]any)
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok {
			m["prevResult"] = json.RawMessage(buf.Bytes())
		}
	}
	data, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(data)
}

// cacheEntries maps libcni's cached results, named <network>-<containerID>-<ifname>, to the pod
// UIDs (36 characters) and network names in them.
func (n *cniNetwork) cacheEntries() (uids, networks []string) {
	entries, _ := os.ReadDir(filepath.Join(n.dir, "cache", "results"))
	for _, e := range entries {
		rest, ok := strings.CutSuffix(e.Name(), "-"+podIfName)
		if !ok || len(rest) < 38 || rest[len(rest)-37] != '-' {
			continue
		}
		uids = append(uids, rest[len(rest)-36:])
		networks = append(networks, rest[:len(rest)-37])
	}
	return uids, networks
}

// cachedNetworks lists the networks that the CNI cache holds an attachment of the pod to.
func (n *cniNetwork) cachedNetworks(uid string) []string {
	var out []string
	uids, networks := n.cacheEntries()
	for i := range uids {
		if uids[i] == uid {
			out = append(out, networks[i])
		}
	}
	return out
}

// hasLink: the netns at path has a device of that name.
func hasLink(path, name string) bool {
	if path == "" {
		return false
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return false
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return false
	}
	defer h.Close()
	_, err = h.LinkByName(name)
	return err == nil
}

// hasAttachment: the pod may hold something of the network. An ADD cut short before host-local
// allocated an address left at most a veth in the pod's netns, which goes with the netns.
func (n *cniNetwork) hasAttachment(uid string) bool {
	return slices.Contains(n.attachedUIDs(), uid)
}

// attachedUIDs lists pods that still hold something of the network: a state file, a cache entry
// or an address, so that reconciliation finds attachments whose pod folder is gone.
func (n *cniNetwork) attachedUIDs() []string {
	var uids []string
	for _, st := range n.allStates() {
		uids = append(uids, st.UID)
	}
	cached, _ := n.cacheEntries()
	uids = append(uids, cached...)
	// host-local keeps one file per address, named by it, holding "<containerID>\r\n<ifname>".
	nets, _ := os.ReadDir(filepath.Join(n.dir, "ipam"))
	for _, nd := range nets {
		for _, id := range hostLocalReservations(filepath.Join(n.dir, "ipam", nd.Name())) {
			uids = append(uids, id)
		}
	}
	return uids
}

// nodeIP is status.hostIP: the address of the host's default route, as the kubelet reports the
// node's IP; without a default route, the first global IPv4 address that is not the bridge's;
// failing that the bridge's gateway address, which every pod reaches.
func nodeIP(bridge, gateway string) string {
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if r.Src != nil {
			return r.Src.String()
		}
		if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			if ip := firstGlobalV4(link); ip != "" {
				return ip
			}
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().Name == bridge || l.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip := firstGlobalV4(l); ip != "" {
			return ip
		}
	}
	return gateway
}

func firstGlobalV4(link netlink.Link) string {
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
	for _, a := range addrs {
		if a.IP.IsGlobalUnicast() {
			return a.IP.String()
		}
	}
	return ""
}

// setupNetwork attaches a bridge pod and fills in the sandbox's addresses.
func (r *Host) setupNetwork(ctx context.Context, p *pod.Pod, sb *pod.Sandbox) error {
	sb.HostIP = r.net.nodeIP
	switch pod.NetworkMode(p) {
	case pod.NetworkHost:
		sb.PodIPs = []string{r.net.nodeIP}
		return nil
	case pod.NetworkNone:
		return nil
	}
	r.netMu.Lock()
	defer r.netMu.Unlock()
	start := time.Now()
	ips, err := r.net.attach(ctx, p, sb.NetNSPath, sb.Hostname, r.podFQDN(p, sb.Hostname), sb.HostsPath)
	if err != nil {
		return err
	}
	r.log.Debug("pod network attached", "pod", p.Metadata.Namespace+"/"+p.Metadata.Name, "ips", ips, "duration", time.Since(start))
	sb.PodIPs = ips
	return nil
}

// teardownNetwork detaches the pod (whatever its mode: a DEL of nothing is fine) and takes its
// names out of the other pods' hosts files.
func (r *Host) teardownNetwork(ctx context.Context, uid string) error {
	netns := r.nsPath(netNS, uid)
	if ok, _ := isNSFile(netns); !ok {
		netns = ""
	}
	r.netMu.Lock()
	defer r.netMu.Unlock()
	if !r.net.hasAttachment(uid) {
		return nil
	}
	st, _ := r.net.readState(uid)
	if err := r.net.detach(ctx, uid, netns); err != nil {
		return err
	}
	if netns == "" {
		// Without the netns the bridge plugin's DEL cannot find its masquerade rules.
		r.sweepNetworkLocked(ctx)
	}
	delete(r.hostsWritten, uid)
	if st != nil {
		if err := r.syncHosts(""); err != nil {
			r.log.Warn("update hosts files", "err", err)
		}
	}
	return nil
}

// SweepNetwork removes the iptables rules and per-pod chains that the pod network's plugins left
// for pods that hold nothing of the network any more (see planSweep). The supervisor runs it once
// the start-up reconciliation has removed the orphan sandboxes.
func (r *Host) SweepNetwork(ctx context.Context) error {
	r.netMu.Lock()
	defer r.netMu.Unlock()
	return r.sweepNetworkLocked(ctx)
}

func (r *Host) sweepNetworkLocked(ctx context.Context) error {
	removed, err := r.net.sweep(ctx)
	if len(removed) > 0 {
		r.log.Info("removed orphan iptables rules of the pod network", "network", r.net.cfg.Bridge, "count", len(removed), "rules", removed)
	}
	if err != nil {
		r.log.Warn("sweep the pod network's orphan iptables rules", "network", r.net.cfg.Bridge, "err", err)
	}
	return err
}
