package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/podd-dev/podd/pkg/pod"
)

// StatsList is the body of GET /v1/stats.
type StatsList struct {
	Items []*pod.PodStats `json:"items"`
}

// TopResponse is the body of GET /v1/namespaces/{namespace}/pods/{name}/top.
type TopResponse struct {
	Containers []pod.ContainerProcesses `json:"containers"`
}

func (s *server) podStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.pods.Stats(r.Context(), r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *server) listStats(w http.ResponseWriter, r *http.Request) error {
	list, err := s.pods.AllStats(r.Context(), r.URL.Query().Get("namespace"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*pod.PodStats{}
	}
	writeJSON(w, http.StatusOK, StatsList{Items: list})
	return nil
}

func (s *server) podTop(w http.ResponseWriter, r *http.Request) error {
	procs, err := s.pods.Top(r.Context(), r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		return err
	}
	if procs == nil {
		procs = []pod.ContainerProcesses{}
	}
	writeJSON(w, http.StatusOK, TopResponse{Containers: procs})
	return nil
}

// PodStats reads one pod's figures.
func (c *Client) PodStats(ctx context.Context, namespace, name string) (*pod.PodStats, error) {
	var st pod.PodStats
	if err := c.do(ctx, request{method: http.MethodGet, path: podPath(namespace, name, "stats")}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ListStats reads the figures of every pod of a namespace, or of all when namespace is "".
func (c *Client) ListStats(ctx context.Context, namespace string) ([]*pod.PodStats, error) {
	var q url.Values
	if namespace != "" {
		q = url.Values{"namespace": {namespace}}
	}
	var list StatsList
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/stats", query: q}, &list)
	return list.Items, err
}

// Top lists the processes of the pod's running containers.
func (c *Client) Top(ctx context.Context, namespace, name string) ([]pod.ContainerProcesses, error) {
	var resp TopResponse
	err := c.do(ctx, request{method: http.MethodGet, path: podPath(namespace, name, "top")}, &resp)
	return resp.Containers, err
}
