package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/podd-dev/podd/pkg/controller/elections"
	"github.com/podd-dev/podd/pkg/pod"
)

// Elector is podd's local leader election (elections.Service).
type Elector interface {
	Campaign(ctx context.Context, asker *pod.Pod, name string, req elections.CampaignRequest) (*elections.Grant, error)
	Renew(asker *pod.Pod, name string, req elections.TokenRequest) (*elections.Grant, error)
	Resign(asker *pod.Pod, name string, req elections.TokenRequest) error
	Ack(asker *pod.Pod, name string, req elections.AckRequest) (*elections.AckResponse, error)
	Get(namespace, name string) elections.View
	List(namespace string) []elections.View
	Watch(ctx context.Context, namespace, name string, fn func(elections.View) error) error
}

// maxElectionBody bounds an election request's body: a few small fields.
const maxElectionBody = 4 << 10

// WithElections lets the pods' sockets take part in local leader elections.
func (s *PodSockets) WithElections(x Elector) *PodSockets {
	s.elections = x
	return s
}

// WithElections serves GET /v1/elections on the main API.
func WithElections(x Elector) Option { return func(s *server) { s.elections = x } }

func (s *server) listElections(w http.ResponseWriter, r *http.Request) error {
	if s.elections == nil {
		return &Error{Class: ClassNotFound, Message: "this podd runs no elections"}
	}
	views := s.elections.List(r.URL.Query().Get("namespace"))
	if views == nil {
		views = []elections.View{}
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

// NotLeaderResponse is the body of a 409 answer: the error, and the election as it stands.
type NotLeaderResponse struct {
	Error *Error `json:"error"`
	elections.View
}

func (o *ownPod) electionRoutes(mux *http.ServeMux, x Elector) {
	mux.Handle("POST /elections/{name}/campaign", o.electionHandler(func(w http.ResponseWriter, r *http.Request, asker *pod.Pod) error {
		var req elections.CampaignRequest
		if err := decodeElectionBody(w, r, &req, `{"ttlMillis": 2000, "wait": true, "guard": ["app"]}`); err != nil {
			return err
		}
		g, err := x.Campaign(r.Context(), asker, r.PathValue("name"), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, g)
		return nil
	}))
	mux.Handle("POST /elections/{name}/renew", o.electionHandler(func(w http.ResponseWriter, r *http.Request, asker *pod.Pod) error {
		var req elections.TokenRequest
		if err := decodeElectionBody(w, r, &req, `{"token": N}`); err != nil {
			return err
		}
		g, err := x.Renew(asker, r.PathValue("name"), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, g)
		return nil
	}))
	mux.Handle("POST /elections/{name}/resign", o.electionHandler(func(w http.ResponseWriter, r *http.Request, asker *pod.Pod) error {
		var req elections.TokenRequest
		if err := decodeElectionBody(w, r, &req, `{"token": N}`); err != nil {
			return err
		}
		if err := x.Resign(asker, r.PathValue("name"), req); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, x.Get(o.namespace, r.PathValue("name")))
		return nil
	}))
	mux.Handle("POST /elections/{name}/ack", o.electionHandler(func(w http.ResponseWriter, r *http.Request, asker *pod.Pod) error {
		var req elections.AckRequest
		if err := decodeElectionBody(w, r, &req, `{"token": N}`); err != nil {
			return err
		}
		a, err := x.Ack(asker, r.PathValue("name"), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}))
	mux.Handle("GET /elections/{name}", o.electionHandler(func(w http.ResponseWriter, r *http.Request, _ *pod.Pod) error {
		writeJSON(w, http.StatusOK, x.Get(o.namespace, r.PathValue("name")))
		return nil
	}))
	mux.Handle("GET /elections/{name}/watch", o.electionHandler(func(w http.ResponseWriter, r *http.Request, _ *pod.Pod) error {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		return x.Watch(r.Context(), o.namespace, r.PathValue("name"), func(v elections.View) error {
			body, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "event: election\ndata: %s\n\n", body); err != nil {
				return err
			}
			return rc.Flush()
		})
	}))
}

func decodeElectionBody(w http.ResponseWriter, r *http.Request, v any, want string) error {
	body, err := readBody(w, r, maxElectionBody, "election request")
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid(fmt.Sprintf("election request: %v (want %s)", err, want))
	}
	return nil
}

// electionHandler reads the asking pod (the socket's own), runs h, and answers a refusal with 409
// and the election as it stands.
func (o *ownPod) electionHandler(h func(http.ResponseWriter, *http.Request, *pod.Pod) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() error {
			asker, err := o.self(r.Context())
			if err != nil {
				return err
			}
			return h(w, r, asker)
		}()
		if err == nil || errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return
		}
		var nl *elections.NotLeaderError
		if errors.As(err, &nl) {
			writeJSON(w, http.StatusConflict, NotLeaderResponse{Error: &Error{Class: ClassAlreadyExists, Message: nl.Error()}, View: nl.View})
			return
		}
		writeError(w, toError(err))
	})
}

// ElectionList is the answer of GET /v1/elections as podctl prints it with -o json|yaml.
type ElectionList struct {
	Items []elections.View `json:"items"`
}

// Elections lists the local leader elections of namespace ("" for all).
func (c *Client) Elections(ctx context.Context, namespace string) ([]elections.View, error) {
	var views []elections.View
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/elections", query: q}, &views)
	return views, err
}
