// Command podd is the pod daemon: it runs Kubernetes Pods on this host through containerd and
// serves podctl over a unix socket.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/daemon"
	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/logs"
	"github.com/podd-dev/podd/pkg/pidinit"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/pod/podsecurity"
	"github.com/podd-dev/podd/pkg/sandbox"
)

// gcPercent is podd's GOGC unless the environment sets one. podd's live heap is small (about 7 MiB
// with 50 pods) and it allocates little once pods run, so collecting at +25% instead of Go's +100%
// costs little CPU and keeps the heap goal, and the RSS, lower: with 50 pods podd's anonymous RSS
// went from 18.1 to 13.3 MiB (make bench). Not for the loggers: it made them bigger.
const gcPercent = 25

func main() {
	// A container's shim starts podd as the container's logger (containerd's binary log driver):
	// decided before anything else, so that the logger sets up nothing of the daemon.
	if len(os.Args) == 3 && os.Args[1] == logs.LoggerArg {
		os.Exit(logs.LoggerMain(os.Args[2], os.Stderr))
	}
	// PID 1 of a pod's shared PID namespace, when podd-logger is not installed beside podd.
	if len(os.Args) == 2 && os.Args[1] == pidinit.Arg {
		os.Exit(pidinit.Main())
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	app := &cli.App{
		Name:    "podd",
		Usage:   "run Kubernetes Pods on this host with containerd",
		Version: api.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "containerd-address", Value: "/run/containerd/containerd.sock", Usage: "containerd's socket"},
			&cli.StringFlag{Name: "namespace", Value: "podd", Usage: "containerd namespace for everything podd creates"},
			&cli.StringFlag{Name: "root", Value: "/var/lib/podd", Usage: "persistent state: store, volumes, logs"},
			&cli.StringFlag{Name: "state", Value: "/run/podd", Usage: "volatile state: namespaces, runtime files"},
			&cli.StringFlag{Name: "socket", Value: "/run/podd/podd.sock", Usage: "API socket"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-max-size", Value: "10Mi", Usage: "a container log file is rotated before it grows beyond this size (a quantity: 10Mi, 500Ki)"},
			&cli.IntFlag{Name: "log-max-files", Value: logs.DefaultMaxFiles, Usage: "log files kept per container instance, the current one included (at least 2)"},
			&cli.DurationFlag{Name: "restart-backoff-base", Value: 10 * time.Second, Usage: "delay before a container's first restart; doubles on each further one"},
			&cli.StringFlag{Name: "node-name", Usage: "this node's name, the pods' spec.nodeName (default: the hostname)"},
			&cli.DurationFlag{Name: "restart-backoff-max", Value: 5 * time.Minute, Usage: "longest delay between restarts"},
			&cli.StringFlag{Name: "manifests", Value: "/etc/podd/pods.d", Usage: "static pod folder: podd runs the pods its *.yaml, *.yml and *.json files describe (\"\" for none)"},
			&cli.DurationFlag{Name: "manifests-rescan", Value: 10 * time.Second, Usage: "how often the static pod folder is read even without a change notification"},
			&cli.BoolFlag{Name: "stop-pods-on-shutdown", Usage: "on SIGTERM or SIGINT, stop every pod within its grace period before exiting (default: leave them running)"},
			&cli.StringFlag{Name: "cgroup-root", Value: cgroups.DefaultParent, Usage: "cgroup under which every pod's cgroup (pod<uid>) is created, in each hierarchy; never the host's root"},
			&cli.Int64Flag{Name: "pids-limit", Value: 0, Usage: "pids limit of --cgroup-root, all pods' processes together; 0: half of the kernel's pid_max; -1: none"},
			&cli.IntFlag{Name: "warm-sandboxes", Value: sandbox.DefaultWarmSandboxes(), Usage: "pod sandboxes kept prepared ahead (network namespace with its bridge address): a new pod on the bridge without hostPorts takes one and skips that setup; 0: none (default: the number of CPUs, at most 4)"},
			&cli.Int64Flag{Name: "pod-pids-limit", Value: cgroups.DefaultPodPidsLimit, Usage: "pids limit of each pod's cgroup, so that a fork bomb cannot take the host; 0 or -1: none"},
			&cli.StringFlag{Name: "metrics-address", Usage: "serve Prometheus metrics at http://HOST:PORT/metrics (off when empty)"},
			&cli.StringFlag{Name: "pod-cidr", Value: sandbox.DefaultPodCIDR, Usage: "IPv4 subnet of the pods' addresses on podd's bridge"},
			&cli.StringFlag{Name: "bridge", Value: sandbox.DefaultBridge, Usage: "name of podd's bridge device (and of its CNI network)"},
			&cli.BoolFlag{Name: "pod-egress-nat", Value: true, Usage: "masquerade the pods' traffic to addresses outside --pod-cidr (--pod-egress-nat=false to turn off)"},
			&cli.StringFlag{Name: "cni-plugin-dir", Value: strings.Join(sandbox.DefaultPluginDirs, ":"), Usage: "where the CNI plugins are (bridge, host-local, portmap, firewall), colon-separated"},
			&cli.BoolFlag{Name: "cluster-dns", Value: true, Usage: "serve the cluster DNS (Services' names) to the pods on the bridge's gateway, port 53 (--cluster-dns=false: pods with dnsPolicy ClusterFirst get the host's resolvers)"},
			&cli.StringFlag{Name: "cluster-domain", Value: dns.DefaultDomain, Usage: "the cluster DNS's domain: Services are <svc>.<namespace>.svc.<domain>"},
			&cli.StringSliceFlag{Name: "dns-upstream", Usage: "IP or IP:PORT of a resolver the cluster DNS forwards other names to (repeatable; default: the nameservers of the host's /etc/resolv.conf)"},
			&cli.StringFlag{Name: "patterns-image", Usage: "the patterns' helper image archive (make builds bin/podd-patterns.tar), imported the first time a pod asks for " + api.PatternsImage() + "; its etcd variant is the -etcd.tar beside it (default: podd-patterns.tar beside podd, or ../lib/podd/podd-patterns.tar from podd's folder)"},
			// For profiling only (make bench): net/http/pprof on this address, e.g. 127.0.0.1:6060.
			&cli.StringFlag{Name: "pod-security", Value: string(podsecurity.Baseline), Usage: "Pod Security Standards level enforced on the pods of every namespace that --pod-security-namespace does not name: privileged, baseline or restricted (static pods are exempt)"},
			&cli.StringSliceFlag{Name: "pod-security-namespace", Usage: "NAMESPACE=LEVEL: the Pod Security level of one namespace, such as monitoring=privileged for pods that need the host's network, paths or privilege (repeatable)"},
			&cli.StringFlag{Name: "pprof-address", Hidden: true, Usage: "serve net/http/pprof on this TCP address"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "podd:", err)
		os.Exit(1)
	}
}

func run(cliContext *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cliContext.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	maxSize, err := pod.ParseQuantity(cliContext.String("log-max-size"))
	if err != nil || maxSize.Value() <= 0 {
		return fmt.Errorf("--log-max-size %q: want a size above 0, such as 10Mi", cliContext.String("log-max-size"))
	}
	maxFiles := cliContext.Int("log-max-files")
	if maxFiles < 2 {
		return fmt.Errorf("--log-max-files %d: want at least 2 (the current file and one rotated)", maxFiles)
	}
	cgroupRoot, err := cgroupRoot(cliContext.String("cgroup-root"))
	if err != nil {
		return err
	}
	pidsLimit := cliContext.Int64("pod-pids-limit")
	if pidsLimit < -1 {
		return fmt.Errorf("--pod-pids-limit %d: want a number of processes, or 0 or -1 for none", pidsLimit)
	}
	totalPids := cliContext.Int64("pids-limit")
	switch {
	case totalPids < -1:
		return fmt.Errorf("--pids-limit %d: want a number of processes, 0 for half of pid_max or -1 for none", totalPids)
	case totalPids == 0:
		pidMax, err := cgroups.PidMax()
		if err != nil {
			return fmt.Errorf("--pids-limit: read the kernel's pid_max: %w", err)
		}
		totalPids = cgroups.DefaultPidsLimit(pidMax)
	}
	// The shims start podd-logger, installed beside podd, as each container's logger; without
	// it, podd's own binary in its logger mode (slower to start, larger).
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find podd's own binary for the container loggers: %w", err)
	}
	logger := filepath.Join(filepath.Dir(self), "podd-logger")
	if _, err := os.Stat(logger); err != nil {
		logger = self
	}
	patterns, err := patternsArchive(cliContext.String("patterns-image"), self)
	if err != nil {
		return err
	}
	nodeName := cliContext.String("node-name")
	if nodeName == "" {
		if nodeName, err = os.Hostname(); err != nil {
			return fmt.Errorf("--node-name not given and the hostname is unknown: %w", err)
		}
	}
	if cliContext.Duration("manifests-rescan") <= 0 {
		return fmt.Errorf("--manifests-rescan %v: want a duration above 0", cliContext.Duration("manifests-rescan"))
	}
	security, err := podSecurity(cliContext.String("pod-security"), cliContext.StringSlice("pod-security-namespace"))
	if err != nil {
		return err
	}
	upstreams, err := dnsUpstreams(cliContext.StringSlice("dns-upstream"))
	if err != nil {
		return err
	}
	log := slog.New(daemon.NewLogHandler(os.Stderr, level))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if addr := cliContext.String("pprof-address"); addr != "" {
		if err := servePprof(addr, log); err != nil {
			return err
		}
	}
	return daemon.Run(ctx, daemon.Config{
		ContainerdAddress:  cliContext.String("containerd-address"),
		Namespace:          cliContext.String("namespace"),
		Root:               cliContext.String("root"),
		State:              cliContext.String("state"),
		Socket:             cliContext.String("socket"),
		BackoffBase:        cliContext.Duration("restart-backoff-base"),
		BackoffMax:         cliContext.Duration("restart-backoff-max"),
		Version:            api.Version,
		Logger:             logger,
		LogMaxSize:         maxSize.Value(),
		LogMaxFiles:        maxFiles,
		Manifests:          cliContext.String("manifests"),
		ManifestsRescan:    cliContext.Duration("manifests-rescan"),
		StopPodsOnShutdown: cliContext.Bool("stop-pods-on-shutdown"),
		NodeName:           nodeName,
		Network: sandbox.NetworkConfig{
			PodCIDR:    cliContext.String("pod-cidr"),
			Bridge:     cliContext.String("bridge"),
			EgressNAT:  cliContext.Bool("pod-egress-nat"),
			PluginDirs: filepath.SplitList(cliContext.String("cni-plugin-dir")),
		},
		CgroupRoot:     cgroupRoot,
		PodPidsLimit:   max(pidsLimit, 0),
		WarmSandboxes:  max(cliContext.Int("warm-sandboxes"), 0),
		PidsLimit:      max(totalPids, 0),
		MetricsAddress: cliContext.String("metrics-address"),
		PodSecurity:    security,
		ClusterDNS:     cliContext.Bool("cluster-dns"),
		ClusterDomain:  cliContext.String("cluster-domain"),
		DNSUpstreams:   upstreams,
		PatternsImage:  patterns,
	}, log)
}

// patternsArchive finds the helper image's archive: the flag's file, which must exist, or the
// first of podd-patterns.tar beside podd and ../lib/podd/podd-patterns.tar (make install's
// place) that exists; "" when none does (a pod that asks for the helpers then fails to pull).
func patternsArchive(flag, self string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("--patterns-image: %w", err)
		}
		return flag, nil
	}
	dir := filepath.Dir(self)
	for _, p := range []string{filepath.Join(dir, "podd-patterns.tar"), filepath.Join(dir, "..", "lib", "podd", "podd-patterns.tar")} {
		if _, err := os.Stat(p); err == nil {
			return filepath.Clean(p), nil
		}
	}
	return "", nil
}

// dnsUpstreams reads the --dns-upstream flags: IP or IP:PORT (port 53 when left out).
func dnsUpstreams(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		if ip, err := netip.ParseAddr(v); err == nil {
			out = append(out, netip.AddrPortFrom(ip, 53).String())
			continue
		}
		ap, err := netip.ParseAddrPort(v)
		if err != nil || ap.Port() == 0 {
			return nil, fmt.Errorf("--dns-upstream %q: want an IP address or IP:PORT, such as 127.0.0.1:5353", v)
		}
		out = append(out, ap.String())
	}
	return out, nil
}

// podSecurity reads --pod-security and the --pod-security-namespace flags.
func podSecurity(def string, namespaces []string) (podsecurity.Policy, error) {
	level, err := podsecurity.ParseLevel(def)
	if err != nil {
		return podsecurity.Policy{}, fmt.Errorf("--pod-security: %w", err)
	}
	policy := podsecurity.Policy{Default: level, Namespaces: map[string]podsecurity.Level{}}
	for _, v := range namespaces {
		ns, l, err := podsecurity.ParseNamespaceLevel(v)
		if err != nil {
			return podsecurity.Policy{}, fmt.Errorf("--pod-security-namespace: %w", err)
		}
		if prev, ok := policy.Namespaces[ns]; ok && prev != l {
			return podsecurity.Policy{}, fmt.Errorf("--pod-security-namespace: namespace %q given twice, as %s and as %s", ns, prev, l)
		}
		policy.Namespaces[ns] = l
	}
	return policy, nil
}

// cgroupRoot checks --cgroup-root: a relative cgroup path below the host's root ("podd",
// "system.slice/podd"), never the root itself, which would put pods beside the host's services.
func cgroupRoot(v string) (string, error) {
	clean := path.Clean("/" + v)
	if clean == "/" || strings.Contains(v, "..") || strings.ContainsAny(v, "\x00") {
		return "", fmt.Errorf("--cgroup-root %q: want a cgroup below the host's root, such as podd", v)
	}
	return strings.TrimPrefix(clean, "/"), nil
}
