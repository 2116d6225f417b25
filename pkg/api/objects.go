package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/podd-dev/podd/pkg/api/wire"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/object"
)

// Objects is what the server needs for the kinds beside Pod (pkg/controller's Objects, with
// manifests read by pkg/manifest; the daemon wires it).
type Objects interface {
	// Apply creates or updates every object of a manifest (Pods too), all or none.
	Apply(ctx context.Context, manifest []byte) ([]controller.Result, error)
	// DeleteManifest deletes every object a manifest names; missing ones are reported, not errors.
	DeleteManifest(ctx context.Context, manifest []byte, grace *time.Duration) ([]controller.Result, error)
	Delete(ctx context.Context, kind, namespace, name string, grace *time.Duration) error
	Get(kind, namespace, name string) (object.Object, error)
	List(kind, namespace string) []object.Object
	// Scale sets the replicas of a Deployment, ReplicaSet or StatefulSet, stored before it returns.
	Scale(ctx context.Context, kind, namespace, name string, replicas int32) (object.Object, error)
	// RolloutRestart, RolloutUndo and RolloutPause are `kubectl rollout restart|undo|pause|resume`
	// of a Deployment.
	RolloutRestart(ctx context.Context, namespace, name string, now time.Time) (object.Object, error)
	RolloutUndo(ctx context.Context, namespace, name string, toRevision int64) (string, error)
	RolloutPause(ctx context.Context, namespace, name string, paused bool) (string, error)
}

// ScaleRequest is the body of PUT /v1/objects/{resource}/{namespace}/{name}/scale.
type ScaleRequest struct {
	Replicas *int32 `json:"replicas"`
}

// Rollout actions.
const (
	RolloutRestart = "restart"
	RolloutUndo    = "undo"
	RolloutPause   = "pause"
	RolloutResume  = "resume"
)

// RolloutRequest is the body of POST /v1/objects/deployments/{namespace}/{name}/rollout.
type RolloutRequest struct {
	Action     string `json:"action"`
	ToRevision int64  `json:"toRevision,omitempty"`
}

// RolloutResponse says what a rollout request did, in kubectl's words.
type RolloutResponse struct {
	Message string `json:"message"`
}

// ApplyResponse is the answer to apply and to delete of a manifest.
type ApplyResponse struct {
	Results []controller.Result `json:"results"`
}

// ObjectList is the answer to a list of one kind.
type ObjectList struct {
	Items []json.RawMessage `json:"items"`
}

// Option configures the server.
type Option func(*server)

// WithObjects serves the kinds beside Pod.
func WithObjects(o Objects) Option { return func(s *server) { s.objects = o } }

func (s *server) objectRoutes() []route {
	return []route{
		{"POST /v1/apply", s.apply},
		{"POST /v1/delete", s.deleteManifest},
		{"GET /v1/objects/{resource}", s.listObjects},
		{"GET /v1/objects/{resource}/{namespace}/{name}", s.getObject},
		{"DELETE /v1/objects/{resource}/{namespace}/{name}", s.deleteObject},
		{"PUT /v1/objects/{resource}/{namespace}/{name}/scale", s.scaleObject},
		{"POST /v1/objects/{resource}/{namespace}/{name}/rollout", s.rolloutObject},
	}
}

func (s *server) needObjects() error {
	if s.objects == nil {
		return fmt.Errorf("this socket serves only its pod: %w", errdefs.ErrNotImplemented)
	}
	return nil
}

func (s *server) apply(w http.ResponseWriter, r *http.Request) error {
	if err := s.needObjects(); err != nil {
		return err
	}
	manifest, err := readBody(w, r, maxManifestBytes, "manifest")
	if err != nil {
		return err
	}
	if len(manifest) == 0 {
		return invalid("the request body is empty: send a manifest (YAML or JSON)")
	}
	results, err := s.objects.Apply(r.Context(), manifest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ApplyResponse{Results: results})
	return nil
}

func (s *server) deleteManifest(w http.ResponseWriter, r *http.Request) error {
	if err := s.needObjects(); err != nil {
		return err
	}
	g, err := wire.Grace(r.URL.Query())
	if err != nil {
		return err
	}
	manifest, err := readBody(w, r, maxManifestBytes, "manifest")
	if err != nil {
		return err
	}
	results, err := s.objects.DeleteManifest(r.Context(), manifest, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ApplyResponse{Results: results})
	return nil
}

func (s *server) kind(r *http.Request) (object.Kind, error) {
	if err := s.needObjects(); err != nil {
		return object.Kind{}, err
	}
	res := r.PathValue("resource")
	k, ok := object.Resolve(res)
	if !ok {
		return object.Kind{}, fmt.Errorf("the server doesn't have a resource type %q: %w", res, errdefs.ErrNotFound)
	}
	return k, nil
}

func (s *server) listObjects(w http.ResponseWriter, r *http.Request) error {
	k, err := s.kind(r)
	if err != nil {
		return err
	}
	list := ObjectList{Items: []json.RawMessage{}}
	for _, o := range s.objects.List(k.Kind, r.URL.Query().Get("namespace")) {
		data, err := json.Marshal(o)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, data)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *server) getObject(w http.ResponseWriter, r *http.Request) error {
	k, err := s.kind(r)
	if err != nil {
		return err
	}
	o, err := s.objects.Get(k.Kind, r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (s *server) deleteObject(w http.ResponseWriter, r *http.Request) error {
	k, err := s.kind(r)
	if err != nil {
		return err
	}
	g, err := wire.Grace(r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.objects.Delete(r.Context(), k.Kind, r.PathValue("namespace"), r.PathValue("name"), g); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxSmallBody bounds the JSON bodies of scale and rollout requests.
const maxSmallBody = 4096

func (s *server) scaleObject(w http.ResponseWriter, r *http.Request) error {
	k, err := s.kind(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxSmallBody, "scale request")
	if err != nil {
		return err
	}
	var req ScaleRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return invalid(fmt.Sprintf("scale request: %v", err))
	}
	if req.Replicas == nil {
		return invalid("scale request: replicas is required")
	}
	obj, err := s.objects.Scale(r.Context(), k.Kind, r.PathValue("namespace"), r.PathValue("name"), *req.Replicas)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *server) rolloutObject(w http.ResponseWriter, r *http.Request) error {
	k, err := s.kind(r)
	if err != nil {
		return err
	}
	if k.Kind != "Deployment" {
		return invalid(fmt.Sprintf("rollout of %s is not supported: only deployments", k.Resource))
	}
	body, err := readBody(w, r, maxSmallBody, "rollout request")
	if err != nil {
		return err
	}
	var req RolloutRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return invalid(fmt.Sprintf("rollout request: %v", err))
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	var msg string
	switch req.Action {
	case RolloutRestart:
		if _, err = s.objects.RolloutRestart(r.Context(), ns, name, time.Now().UTC()); err == nil {
			msg = "deployment.apps/" + name + " restarted"
		}
	case RolloutUndo:
		msg, err = s.objects.RolloutUndo(r.Context(), ns, name, req.ToRevision)
	case RolloutPause, RolloutResume:
		msg, err = s.objects.RolloutPause(r.Context(), ns, name, req.Action == RolloutPause)
	default:
		return invalid(fmt.Sprintf("rollout request: action %q: want restart, undo, pause or resume", req.Action))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RolloutResponse{Message: msg})
	return nil
}

// Scale sets the replicas of a Deployment, ReplicaSet or StatefulSet.
func (c *Client) Scale(ctx context.Context, k object.Kind, namespace, name string, replicas int32) (object.Object, error) {
	body, _ := json.Marshal(ScaleRequest{Replicas: &replicas})
	o := k.New()
	err := c.do(ctx, request{method: http.MethodPut, path: objectPath(k, namespace, name) + "/scale", body: bytes.NewReader(body), contentType: "application/json"}, o)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Rollout asks for a rollout action on a Deployment and returns kubectl's sentence about it.
func (c *Client) Rollout(ctx context.Context, k object.Kind, namespace, name string, req RolloutRequest) (string, error) {
	body, _ := json.Marshal(req)
	var resp RolloutResponse
	err := c.do(ctx, request{method: http.MethodPost, path: objectPath(k, namespace, name) + "/rollout", body: bytes.NewReader(body), contentType: "application/json"}, &resp)
	return resp.Message, err
}

// Apply creates or updates the objects of a manifest, all or none.
func (c *Client) Apply(ctx context.Context, manifest []byte) ([]controller.Result, error) {
	var resp ApplyResponse
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/apply", body: bytes.NewReader(manifest), contentType: "application/yaml"}, &resp)
	return resp.Results, err
}

// DeleteManifest deletes the objects a manifest names.
func (c *Client) DeleteManifest(ctx context.Context, manifest []byte, grace *int64) ([]controller.Result, error) {
	var resp ApplyResponse
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/delete", query: graceQuery(grace), body: bytes.NewReader(manifest), contentType: "application/yaml"}, &resp)
	return resp.Results, err
}

// ListObjects lists the objects of a kind in namespace ("" for all).
func (c *Client) ListObjects(ctx context.Context, k object.Kind, namespace string) ([]object.Object, error) {
	var list ObjectList
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/objects/" + k.Resource, query: q}, &list); err != nil {
		return nil, err
	}
	out := make([]object.Object, 0, len(list.Items))
	for _, item := range list.Items {
		o := k.New()
		if err := json.Unmarshal(item, o); err != nil {
			return nil, &Error{Class: ClassInternal, Message: fmt.Sprintf("decode a %s: %v", k.Kind, err)}
		}
		out = append(out, o)
	}
	return out, nil
}

// GetObject reads one object.
func (c *Client) GetObject(ctx context.Context, k object.Kind, namespace, name string) (object.Object, error) {
	o := k.New()
	err := c.do(ctx, request{method: http.MethodGet, path: objectPath(k, namespace, name)}, o)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// DeleteObject deletes one object (and what it owns).
func (c *Client) DeleteObject(ctx context.Context, k object.Kind, namespace, name string, grace *int64) error {
	return c.do(ctx, request{method: http.MethodDelete, path: objectPath(k, namespace, name), query: graceQuery(grace)}, nil)
}

func objectPath(k object.Kind, namespace, name string) string {
	return "/v1/objects/" + k.Resource + "/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}
