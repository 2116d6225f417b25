// Package daemon assembles podd: the containerd runtime, the store, the pod manager and the API
// server on its unix socket, started and stopped in the right order.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/controller/elections"
	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/patterns"
	"github.com/podd-dev/podd/pkg/pod/podsecurity"
	"github.com/podd-dev/podd/pkg/runtime"
	"github.com/podd-dev/podd/pkg/sandbox"
	"github.com/podd-dev/podd/pkg/store"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Config is podd's configuration, from its flags.
type Config struct {
	ContainerdAddress string
	Namespace         string
	Root              string
	State             string
	Socket            string
	Version           string
	// BackoffBase and BackoffMax shape the restart backoff (zero: the kubelet's 10s and 5m).
	BackoffBase, BackoffMax time.Duration
	// Logger is the binary the shims start as each container's logger: podd's own.
	Logger string
	// LogMaxSize and LogMaxFiles are the rotation of the container logs (0: the defaults).
	LogMaxSize  int64
	LogMaxFiles int
	// Manifests is the static pod folder ("" for none) and ManifestsRescan how often it is read
	// even without an inotify event.
	Manifests       string
	ManifestsRescan time.Duration
	// StopPodsOnShutdown: on SIGTERM/SIGINT podd stops every pod within its grace period before it
	// exits, instead of leaving them running.
	StopPodsOnShutdown bool
	// NodeName is the pods' spec.nodeName (podd --node-name, the hostname by default).
	NodeName string
	// Network is the pods' bridge network (--pod-cidr, --bridge, --pod-egress-nat, --cni-plugin-dir).
	Network sandbox.NetworkConfig
	// CgroupRoot is the cgroup under which every pod's cgroup lives (default podd); PodPidsLimit
	// is each pod cgroup's pids limit (0: none).
	CgroupRoot   string
	PodPidsLimit int64
	// PidsLimit is the pids limit of CgroupRoot: all pods' processes together; 0: none.
	PidsLimit int64
	// WarmSandboxes is the size of the pool of warm sandboxes (--warm-sandboxes); 0: none.
	WarmSandboxes int
	// MetricsAddress is where /metrics is served over TCP; "" serves none.
	MetricsAddress string
	// PodSecurity is each namespace's Pod Security Standards level, enforced on the pods the
	// API creates (--pod-security, --pod-security-namespace).
	PodSecurity podsecurity.Policy
	// ClusterDNS serves the cluster DNS on the bridge's gateway, port 53 (--cluster-dns), for
	// ClusterDomain (--cluster-domain), forwarding other names to DNSUpstreams (--dns-upstream;
	// empty: the host's /etc/resolv.conf).
	ClusterDNS    bool
	ClusterDomain string
	DNSUpstreams  []string
	// PatternsImage is the archive of the patterns' helper image (api.PatternsImage), imported
	// when a pod asks for that image and it is missing; "" for none.
	PatternsImage string
}

// Run serves until ctx is cancelled, then stops serving and leaves the pods running (or stops
// them first, with StopPodsOnShutdown). Under systemd it reports READY=1 once the API serves and
// reconciliation is done, pings the watchdog while the supervisor is healthy, says STOPPING=1
// when it begins to shut down, and holds a logind shutdown inhibitor so that a host shutdown
// gives the pods their grace periods.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	sd := newNotifier(log)
	sd.status("reconciling")
	clusterDomain := ""
	if cfg.ClusterDNS {
		clusterDomain = cfg.ClusterDomain
	}
	configs := &objectConfigs{} // its objects are loaded before the supervisor starts
	host, err := sandbox.New(sandbox.Config{
		Configs:       configs,
		Root:          cfg.Root,
		State:         cfg.State,
		Network:       cfg.Network,
		ClusterDomain: clusterDomain,
		// Pods never go in the host's root cgroup: cmd/podd refuses an empty or "/" root.
		CgroupParent:  cfg.CgroupRoot,
		PodPidsLimit:  cfg.PodPidsLimit,
		PidsLimit:     cfg.PidsLimit,
		PIDInit:       cfg.Logger,
		WarmSandboxes: cfg.WarmSandboxes,
	}, log)
	if err != nil {
		return err
	}
	rt, err := connect(ctx, runtime.Config{
		Address:      cfg.ContainerdAddress,
		Namespace:    cfg.Namespace,
		Root:         cfg.Root,
		State:        cfg.State,
		Logger:       cfg.Logger,
		LogMaxSize:   cfg.LogMaxSize,
		LogMaxFiles:  cfg.LogMaxFiles,
		SubPaths:     host,
		CgroupParent: cfg.CgroupRoot,
		LocalImages:  localImages(cfg.PatternsImage, log),
	}, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for containerd
		}
		return err
	}
	defer rt.Close()
	st, err := store.Open(filepath.Join(cfg.Root, "podd.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	// Not cancelled with ctx: with StopPodsOnShutdown the workers stop the pods after ctx ends.
	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	// The cluster DNS answers as long as pods may run under this podd: until Run returns.
	var resolver *dns.Server
	if cfg.ClusterDNS {
		if resolver, err = startClusterDNS(workers, cfg, host, log); err != nil {
			return err
		}
		defer resolver.Shutdown()
	}
	recorder := events.New()
	mgr := supervisor.NewManager(supervisor.Options{
		Events:      recorder,
		Runtime:     rt,
		Sandbox:     host,
		Store:       st,
		Log:         log,
		LogRoot:     filepath.Join(cfg.Root, "logs"),
		BackoffBase: cfg.BackoffBase,
		BackoffMax:  cfg.BackoffMax,
		NodeName:    cfg.NodeName,
		Configs:     configs,
	})
	// The objects are loaded before the pods start: a pod's claims are found through them.
	objects, err := controller.NewObjects(ctx, st, mgr, cfg.PodSecurity.Admit, log)
	if err != nil {
		return err
	}
	configs.objs = objects
	admit := newAdmission()
	host.SetClaims(controller.ClaimPaths{Objects: objects, Root: cfg.Root})
	if err := mgr.Start(workers); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if cfg.Manifests != "" {
		// The first sync is part of reconciliation: READY=1 comes after it.
		first := make(chan struct{})
		static := controller.NewStatic(mgr, recorder, log, 0)
		static.Expand = admit.expandPods
		go controller.Watch(workers, cfg.Manifests, cfg.ManifestsRescan, log, static.Sync, func() { close(first) })
		select {
		case <-first:
		case <-ctx.Done():
		}
	}

	reconcilers := append(controllers(objects, mgr, recorder, log), statefulControllers(objects, mgr, cfg.Root, log)...)
	if resolver != nil {
		reconcilers = append(reconcilers, &controller.Services{Objects: objects, Pods: mgr, Set: resolver.SetRecords, Log: log})
	}
	controller.Run(workers, objects, mgr, log, reconcilers...)
	// Local leader elections: podd arbitrates among its pods, through their API sockets.
	elector, err := elections.NewService(mgr, st, recorder, log, nil)
	if err != nil {
		return err
	}
	elector.WithFencer(fencer{mgr: mgr, rt: rt})
	go elector.Run(workers)
	var handler http.Handler = api.NewServer(apiPods{mgr, cfg.PodSecurity, admit}, rt, cfg.Version, log, api.WithObjects(apiObjects{objects, admit}), api.WithElections(elector))
	if cfg.MetricsAddress != "" {
		stopMetrics, h, err := serveMetrics(ctx, cfg.MetricsAddress, mgr, handler, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
		handler = h
	}
	ln, activated, err := apiListener(cfg.Socket)
	if err != nil {
		return err
	}
	// Long requests (exec sessions, waits) end with the daemon: hijacked connections outlive Shutdown.
	requests, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	srv := api.NewHTTPServer(handler, api.MainLimits, requests)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(api.Listen(ln, api.MainLimits)) }()
	podSockets := make(chan struct{})
	go func() {
		defer close(podSockets)
		podCgroup := func(uid string) string { return cgroups.PodPath(cfg.CgroupRoot, uid) }
		selfScale := &controller.SelfScale{Objects: objects, Events: recorder}
		api.NewPodSockets(apiPods{mgr, cfg.PodSecurity, admit}, host.PodAPIDir, api.CgroupPeers(podCgroup), cfg.Version, log).WithSelfScale(selfScale).WithElections(elector).WithRuns(mgr, podCgroup).Run(requests)
	}()
	log.Info("podd is serving", "socket", cfg.Socket, "socket_activated", activated, "containerd", cfg.ContainerdAddress, "namespace", cfg.Namespace)
	pods, _ := mgr.List(ctx, "")
	sd.notify(sddaemon.SdNotifyReady)
	sd.status("serving %d pods", len(pods))
	go sd.watchdog(workers, watchdogInterval(log), mgr.Check)
	if os.Getenv("NOTIFY_SOCKET") != "" {
		if ld, err := dialLogind(); err != nil {
			log.Warn("no logind: a host shutdown will not wait for the pods' grace periods", "err", err)
		} else {
			go inhibitShutdown(workers, ld, log, mgr.StopAll, mgr.ResumeAll)
		}
	}

	select {
	case err = <-served:
	case <-ctx.Done():
		sd.notify(sddaemon.SdNotifyStopping)
		if cfg.StopPodsOnShutdown {
			sd.status("stopping pods")
			log.Info("podd is shutting down: stopping every pod within its grace period")
			if err := mgr.StopAll(context.WithoutCancel(ctx)); err != nil {
				log.Warn("stop pods on shutdown", "err", err)
			}
		} else {
			log.Info("podd is shutting down; pods keep running")
		}
		sd.status("shutting down")
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		endRequests()
		err = srv.Shutdown(shutdown)
		cancel()
	}
	endRequests()
	<-podSockets
	stopWorkers()
	mgr.Wait()
	if !activated {
		os.Remove(cfg.Socket) // an activated socket is systemd's, and stays for the next podd
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// apiListener is the socket systemd passed (socket activation), or else the API socket podd opens.
func apiListener(path string) (ln net.Listener, activated bool, err error) {
	if ln, err = activatedListener(); err != nil || ln != nil {
		return ln, ln != nil, err
	}
	ln, err = listen(path)
	return ln, false, err
}

// listen opens the API socket with mode 0660, replacing a stale socket file left by a dead podd.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("another podd is serving on %s", path)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

// localImages maps the helper image's reference to its archive, when there is one.
func localImages(patterns string, log *slog.Logger) map[string]string {
	if patterns == "" {
		log.Warn("no patterns' helper image archive (podd-patterns.tar beside podd, or --patterns-image): pods that inject a pattern's helper cannot start", "image", api.PatternsImage())
		return nil
	}
	out := map[string]string{}
	// The etcd variant (the helpers with the etcd client) is the archive beside it,
	// podd-patterns-etcd.tar for podd-patterns.tar.
	etcd := strings.TrimSuffix(patterns, ".tar") + "-etcd.tar"
	for image, archive := range map[string]string{api.PatternsImage(): patterns, patternsVariant("etcd"): etcd} {
		ref, err := runtime.NormalizeRef(image)
		if err != nil {
			log.Warn("patterns' helper image", "error", err)
			continue
		}
		if _, err := os.Stat(archive); err != nil && archive == etcd {
			log.Info("no etcd variant of the patterns' helper image: pods whose elector uses etcd cannot start", "image", image, "archive", archive)
			continue
		}
		out[ref] = archive
	}
	return out
}

// patternsVariant is the reference of a variant of the helper image (patterns.VariantImage).
func patternsVariant(variant string) string {
	return patterns.VariantImage(api.PatternsImage(), variant)
}
