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
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/runtime"
	"github.com/podd-dev/podd/pkg/store"
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
	// Network is the pods' bridge network (--pod-cidr, --bridge, --pod-egress-nat, --cni-plugin-dir).
	Network runtime.NetworkConfig
}

// Run serves until ctx is cancelled, then stops serving and leaves the pods running.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	rt, err := runtime.New(ctx, runtime.Config{
		Address:     cfg.ContainerdAddress,
		Namespace:   cfg.Namespace,
		Root:        cfg.Root,
		State:       cfg.State,
		Logger:      cfg.Logger,
		LogMaxSize:  cfg.LogMaxSize,
		LogMaxFiles: cfg.LogMaxFiles,
		Network:     cfg.Network,
	}, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	st, err := store.Open(filepath.Join(cfg.Root, "podd.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	workers, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	mgr := pod.NewManager(pod.Options{
		Runtime:     rt,
		Store:       st,
		Log:         log,
		LogRoot:     filepath.Join(cfg.Root, "logs"),
		BackoffBase: cfg.BackoffBase,
		BackoffMax:  cfg.BackoffMax,
	})
	if err := mgr.Start(workers); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}

	ln, err := listen(cfg.Socket)
	if err != nil {
		return err
	}
	// Long requests (exec sessions, waits) end with the daemon: hijacked connections outlive Shutdown.
	requests, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	srv := &http.Server{
		Handler:           api.NewServer(mgr, rt, cfg.Version, log),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return requests },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("podd is serving", "socket", cfg.Socket, "containerd", cfg.ContainerdAddress, "namespace", cfg.Namespace)

	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("podd is shutting down; pods keep running")
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		endRequests()
		err = srv.Shutdown(shutdown)
		cancel()
	}
	stopWorkers()
	mgr.Wait()
	os.Remove(cfg.Socket)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
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
