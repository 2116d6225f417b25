package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// PodSocketName is the per-pod API socket's name in its folder (pod.APISocketMountPath inside
// the containers, so that podctl there finds it at its default path /run/podd/podd.sock).
const PodSocketName = "podd.sock"

// PodWatcher is what the per-pod sockets need of the pod manager: the pods, and a channel that
// is closed at the next change of any of them.
type PodWatcher interface {
	Pods
	Changed() <-chan struct{}
}

// PodSockets serves one unix socket per pod that asked for it (pod.AnnotationAPISocket), through
// which the pod's containers read their own pod and its events, and nothing else: the socket is
// the pod's identity, so no credentials are needed. A connection from a process that is not one
// of the pod's (peer, by SO_PEERCRED and the pod's cgroup) is refused before any request is read. The same endpoints as the main API answer
// (GET /v1/namespaces/{ns}/pods/{name}, GET /v1/events, GET /v1/version) but only for the pod
// itself, plus the short GET /pod and GET /pod/events.
type PodSockets struct {
	pods    PodWatcher
	dir     func(uid string) string
	peer    PeerCheck
	limits  Limits
	version string
	log     *slog.Logger
	// selfScale, when set, serves POST /scale (WithSelfScale).
	selfScale SelfScaler
	// elections, when set, serves /elections/... (WithElections).
	elections Elector
	// runs, when set, serves POST /run (WithRuns); podCgroup finds the asking container.
	runs      CopyRunner
	podCgroup func(uid string) string

	mu      sync.Mutex
	sockets map[string]*podSocket // pod UID →
}

type podSocket struct {
	srv *http.Server
	dir string
}

// NewPodSockets returns the per-pod sockets; dir gives the folder of a pod's socket, which the
// runtime mounts into the containers (runtime.PodAPIDir); peer admits the pod's own processes
// (CgroupPeers), and nil admits none. Each socket has PodLimits.
func NewPodSockets(pods PodWatcher, dir func(uid string) string, peer PeerCheck, version string, log *slog.Logger) *PodSockets {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if peer == nil {
		peer = func(string, int32) error {
			return fmt.Errorf("podd was started without a check of the pod's processes: %w", errdefs.ErrPermissionDenied)
		}
	}
	return &PodSockets{pods: pods, dir: dir, peer: peer, limits: PodLimits, version: version, log: log, sockets: map[string]*podSocket{}}
}

// Run opens a socket for every pod that wants one, now (after a podd restart too) and whenever
// pods change, and closes the sockets of pods that are gone, removing their folders. When ctx
// ends it closes every socket but leaves the folders: they are mounted into running containers,
// and the next podd listens in them again.
func (s *PodSockets) Run(ctx context.Context) {
	for {
		changed := s.pods.Changed()
		s.reconcile(ctx)
		select {
		case <-changed:
		case <-ctx.Done():
			s.mu.Lock()
			for uid, ps := range s.sockets {
				ps.srv.Close()
				delete(s.sockets, uid)
			}
			s.mu.Unlock()
			return
		}
	}
}

func (s *PodSockets) reconcile(ctx context.Context) {
	pods, err := s.pods.List(ctx, "")
	if err != nil {
		s.log.Warn("per-pod API sockets: list pods", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, p := range pods {
		uid := p.Metadata.UID
		if !pod.WantsAPISocket(p, "") {
			continue
		}
		want[uid] = true
		if s.sockets[uid] != nil {
			continue
		}
		ps, err := s.open(ctx, p)
		if err != nil {
			// Tried again at the next change of any pod.
			s.log.Warn("per-pod API socket", "pod", p.Metadata.Namespace+"/"+p.Metadata.Name, "err", err)
			continue
		}
		s.sockets[uid] = ps
	}
	for uid, ps := range s.sockets {
		if want[uid] {
			continue
		}
		ps.srv.Close()
		os.RemoveAll(ps.dir)
		os.Remove(filepath.Dir(ps.dir)) // the pod's state folder, when nothing else is left in it
		delete(s.sockets, uid)
	}
}

func (s *PodSockets) open(ctx context.Context, p *pod.Pod) (*podSocket, error) {
	dir := s.dir(p.Metadata.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, PodSocketName)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Any user of the pod's containers may connect, whatever its uid: the mode lets them, and
	// peerListener then admits only the pod's processes.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	own := &ownPod{pods: s.pods, namespace: p.Metadata.Namespace, name: p.Metadata.Name, uid: p.Metadata.UID}
	log := s.log.With("pod", p.Metadata.Namespace+"/"+p.Metadata.Name, "socket", "pod")
	main := NewServer(own, noImages{}, s.version, log)
	mux := http.NewServeMux()
	mux.Handle("GET /pod", rewrite(main, podPath(own.namespace, own.name), nil))
	mux.Handle("GET /pod/events", rewrite(main, "/v1/events", url.Values{"namespace": {own.namespace}, "pod": {own.name}}))
	mux.Handle("GET /", main)
	if s.selfScale != nil {
		mux.Handle("POST /scale", own.scale(s.selfScale))
	}
	if s.elections != nil {
		own.electionRoutes(mux, s.elections)
	}
	if s.runs != nil {
		mux.Handle("POST /run", own.run(s.runs, s.podCgroup))
	}
	// Everything else but GET is refused by its method, before a byte of its body is read.
	mux.Handle("/", http.HandlerFunc(own.refuseMethod))
	srv := NewHTTPServer(mux, s.limits, context.WithoutCancel(ctx))
	peers := &peerListener{Listener: ln, uid: own.uid, pod: own.namespace + "/" + own.name, check: s.peer, log: log}
	go srv.Serve(Listen(peers, s.limits))
	return &podSocket{srv: srv, dir: dir}, nil
}

// refuseMethod answers a request the pod's socket does not take, without reading its body, and
// closes the connection so that the body is not read after the answer either.
func (o *ownPod) refuseMethod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Allow", http.MethodGet)
	writeError(w, &Error{Class: ClassFailedPrecondition, Message: fmt.Sprintf(
		"%s %s is not allowed through the pod's own API socket, which reads pod %s/%s only (GET)", r.Method, r.URL.Path, o.namespace, o.name)})
}

// rewrite serves a short path as the main API's path (and query) for the pod.
func rewrite(h http.Handler, path string, query url.Values) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, ""
		q := r.URL.Query()
		for k, v := range query {
			q[k] = v
		}
		r2.URL.RawQuery = q.Encode()
		h.ServeHTTP(w, r2)
	})
}

// ownPod is Pods restricted to one pod, read-only: what a pod's own socket may do.
type ownPod struct {
	pods                 Pods
	namespace, name, uid string
}

var _ Pods = (*ownPod)(nil)

func (o *ownPod) refuse(what string) error {
	return fmt.Errorf("%s is not allowed through the pod's own API socket, which reads pod %s/%s only: %w", what, o.namespace, o.name, errdefs.ErrFailedPrecondition)
}

func (o *ownPod) notMine(namespace, name string) error {
	return fmt.Errorf("pod %q not found in namespace %q: this socket serves only pod %s/%s: %w", name, namespace, o.namespace, o.name, errdefs.ErrNotFound)
}

func (o *ownPod) self(ctx context.Context) (*pod.Pod, error) {
	p, err := o.pods.Get(ctx, o.namespace, o.name)
	if err != nil {
		return nil, err
	}
	if p.Metadata.UID != o.uid { // a pod of the same name made since: not this one
		return nil, o.notMine(o.namespace, o.name)
	}
	return p, nil
}

func (o *ownPod) Get(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	if namespace != o.namespace || name != o.name {
		return nil, o.notMine(namespace, name)
	}
	return o.self(ctx)
}

func (o *ownPod) List(ctx context.Context, namespace string) ([]*pod.Pod, error) {
	if namespace != "" && namespace != o.namespace {
		return nil, nil
	}
	p, err := o.self(ctx)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []*pod.Pod{p}, nil
}

func (o *ownPod) WaitStarted(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	if namespace != o.namespace || name != o.name {
		return nil, o.notMine(namespace, name)
	}
	if _, err := o.self(ctx); err != nil {
		return nil, err
	}
	return o.pods.WaitStarted(ctx, namespace, name)
}

func (o *ownPod) mine(namespace, name string) bool {
	return (namespace == "" || namespace == o.namespace) && (name == "" || name == o.name)
}

func (o *ownPod) Events(ctx context.Context, namespace, name string) ([]pod.Event, error) {
	if !o.mine(namespace, name) {
		return nil, nil
	}
	all, err := o.pods.Events(ctx, o.namespace, o.name)
	if err != nil {
		return nil, err
	}
	var out []pod.Event
	for _, e := range all {
		if e.InvolvedObject.UID == o.uid {
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *ownPod) WatchEvents(ctx context.Context, namespace, name string, fn func(pod.Event) error) error {
	if !o.mine(namespace, name) {
		<-ctx.Done()
		return nil
	}
	return o.pods.WatchEvents(ctx, o.namespace, o.name, func(e pod.Event) error {
		if e.InvolvedObject.UID != o.uid {
			return nil
		}
		return fn(e)
	})
}

func (o *ownPod) Create(context.Context, []byte) ([]*pod.Pod, error) {
	return nil, o.refuse("creating pods")
}

func (o *ownPod) Stop(context.Context, string, string, *time.Duration) (*pod.Pod, error) {
	return nil, o.refuse("stopping a pod")
}

func (o *ownPod) UpdateMetadata(context.Context, string, string, pod.MetadataPatch) (*pod.Pod, error) {
	return nil, o.refuse("changing labels or annotations")
}

func (o *ownPod) Remove(context.Context, string, string, *time.Duration) error {
	return o.refuse("removing a pod")
}

func (o *ownPod) Logs(context.Context, string, string, supervisor.LogOptions, io.Writer) error {
	return o.refuse("reading logs")
}

func (o *ownPod) Exec(context.Context, string, string, string, supervisor.ExecOptions) (int, error) {
	return 0, o.refuse("exec")
}

// noImages refuses every image operation.
type noImages struct{}

func (noImages) refuse() error {
	return fmt.Errorf("images are not available through a pod's own API socket: %w", errdefs.ErrFailedPrecondition)
}

func (n noImages) Import(context.Context, io.Reader) ([]pod.Image, error) { return nil, n.refuse() }
func (n noImages) List(context.Context) ([]pod.Image, error)              { return nil, n.refuse() }
func (n noImages) Pull(context.Context, string) (*pod.Image, error)       { return nil, n.refuse() }
func (n noImages) Remove(context.Context, string) error                   { return n.refuse() }
