package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/podd-dev/podd/pkg/api/wire"
)

// Limits on request bodies that are read whole; image archives are streamed and not limited.
const (
	maxManifestBytes = 16 << 20
	maxExecBodyBytes = 1 << 20
)

type server struct {
	pods    Pods
	objects Objects
	images  Images
	// elections, when set, serves GET /v1/elections (WithElections).
	elections Elector
	version   string
	log       *slog.Logger
	mux       *http.ServeMux
}

// NewServer returns the HTTP handler of podd's API (specs/api.md) over pods and images. log may be
// nil; every request is logged at debug level.
func NewServer(pods Pods, images Images, version string, log *slog.Logger, opts ...Option) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{pods: pods, images: images, version: version, log: log, mux: http.NewServeMux()}
	for _, opt := range opts {
		opt(s)
	}
	routes := []route{
		{"POST /v1/pods", s.createPods},
		{"GET /v1/pods", s.listPods},
		{"GET /v1/namespaces/{namespace}/pods/{name}", s.getPod},
		{"DELETE /v1/namespaces/{namespace}/pods/{name}", s.removePod},
		{"GET /v1/namespaces/{namespace}/pods/{name}/wait", s.waitPod},
		{"POST /v1/namespaces/{namespace}/pods/{name}/stop", s.stopPod},
		{"PATCH /v1/namespaces/{namespace}/pods/{name}/metadata", s.patchMetadata},
		{"GET /v1/namespaces/{namespace}/pods/{name}/logs", s.podLogs},
		{"POST /v1/namespaces/{namespace}/pods/{name}/exec", s.podExec},
		{"GET /v1/namespaces/{namespace}/pods/{name}/stats", s.podStats},
		{"GET /v1/namespaces/{namespace}/pods/{name}/top", s.podTop},
		{"GET /v1/stats", s.listStats},
		{"GET /v1/events", s.listEvents},
		{"POST /v1/images/import", s.importImages},
		{"GET /v1/images", s.listImages},
		{"POST /v1/images/pull", s.pullImage},
		{"DELETE /v1/images", s.removeImage},
		{"GET /v1/version", s.getVersion},
		{"GET /v1/elections", s.listElections},
		{"/", s.noRoute},
	}
	routes = append(routes, s.objectRoutes()...)
	for _, r := range routes {
		s.mux.Handle(r.pattern, s.handler(r.handle))
	}
	return s
}

type route struct {
	pattern string
	handle  func(http.ResponseWriter, *http.Request) error
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Duration("duration", time.Since(start)))
}

// handler adapts a handler that returns its error; the error is written unless the handler already
// answered (then it is only logged).
func (s *server) handler(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		apiErr := toError(err)
		if apiErr.Class == ClassInternal {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "request failed",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", apiErr.Message))
		}
		if rec, ok := w.(*recorder); ok && rec.status != 0 {
			return
		}
		writeError(w, apiErr)
	})
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Class.HTTPStatus(), ErrorResponse{Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorResponse{Error: &Error{Class: ClassInternal, Message: "encode response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// recorder remembers the status for the request log; Unwrap lets http.ResponseController reach
// Flush and Hijack of the real writer.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	// 1xx are informational: the final status is still to come.
	if r.status == 0 && status >= 200 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// markHijacked records the status of a connection the handler took over.
func markHijacked(w http.ResponseWriter, status int) {
	if rec, ok := w.(*recorder); ok {
		rec.status = status
	}
}

func (s *server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		if _, pattern := s.mux.Handler(&http.Request{Method: m, URL: r.URL, Host: r.Host}); pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		for _, m := range allowed {
			w.Header().Add("Allow", m)
		}
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: &Error{
			Class:   ClassInvalid,
			Message: fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path),
		}})
		return nil
	}
	return &Error{Class: ClassNotFound, Message: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)}
}

func (s *server) createPods(w http.ResponseWriter, r *http.Request) error {
	manifest, err := readBody(w, r, maxManifestBytes, "manifest")
	if err != nil {
		return err
	}
	if len(manifest) == 0 {
		return invalid("the request body is empty: send a pod manifest (YAML or JSON)")
	}
	pods, err := s.pods.Create(r.Context(), manifest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, PodList{Items: nonNil(pods)})
	return nil
}

func (s *server) listPods(w http.ResponseWriter, r *http.Request) error {
	pods, err := s.pods.List(r.Context(), r.URL.Query().Get("namespace"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PodList{Items: nonNil(pods)})
	return nil
}

func (s *server) getPod(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pods.Get(r.Context(), r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *server) waitPod(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pods.WaitStarted(r.Context(), r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *server) stopPod(w http.ResponseWriter, r *http.Request) error {
	g, err := wire.Grace(r.URL.Query())
	if err != nil {
		return err
	}
	p, err := s.pods.Stop(r.Context(), r.PathValue("namespace"), r.PathValue("name"), g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *server) removePod(w http.ResponseWriter, r *http.Request) error {
	g, err := wire.Grace(r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.pods.Remove(r.Context(), r.PathValue("namespace"), r.PathValue("name"), g); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logTrailer carries an error that happened after a log stream had started, when the status can no
// longer say it.
const logTrailer = "Podd-Error"

func (s *server) podLogs(w http.ResponseWriter, r *http.Request) error {
	opts, err := wire.LogRequest(r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	lw := &logWriter{w: w, rc: http.NewResponseController(w)}
	err = s.pods.Logs(r.Context(), r.PathValue("namespace"), r.PathValue("name"), opts, lw)
	if err != nil && !lw.started {
		return err
	}
	if !lw.started {
		lw.start()
	}
	if err != nil {
		body, _ := json.Marshal(toError(err))
		w.Header().Set(logTrailer, string(body))
	}
	return nil
}

// logWriter sends the header on the first write only, so that an error before any log line is still
// a proper error response, and flushes every write so that the client sees lines as they come.
type logWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (lw *logWriter) start() {
	lw.started = true
	h := lw.w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Trailer", logTrailer)
	lw.w.WriteHeader(http.StatusOK)
}

func (lw *logWriter) Write(p []byte) (int, error) {
	if !lw.started {
		lw.start()
	}
	n, err := lw.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, lw.rc.Flush()
}

func (s *server) importImages(w http.ResponseWriter, r *http.Request) error {
	images, err := s.images.Import(r.Context(), streamBody(w, r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ImageList{Items: nonNil(images)})
	return nil
}

func (s *server) listImages(w http.ResponseWriter, r *http.Request) error {
	images, err := s.images.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ImageList{Items: nonNil(images)})
	return nil
}

func imageRef(r *http.Request) (string, error) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		return "", invalid("the query parameter ref is required (an image reference)")
	}
	return ref, nil
}

func (s *server) pullImage(w http.ResponseWriter, r *http.Request) error {
	ref, err := imageRef(r)
	if err != nil {
		return err
	}
	img, err := s.images.Pull(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, img)
	return nil
}

func (s *server) removeImage(w http.ResponseWriter, r *http.Request) error {
	ref, err := imageRef(r)
	if err != nil {
		return err
	}
	if err := s.images.Remove(r.Context(), ref); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) getVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, VersionInfo{Version: s.version})
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}
