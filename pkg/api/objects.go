package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

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
	g, err := grace(r)
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
	g, err := grace(r)
	if err != nil {
		return err
	}
	if err := s.objects.Delete(r.Context(), k.Kind, r.PathValue("namespace"), r.PathValue("name"), g); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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
