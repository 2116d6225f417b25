package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/pod"
)

// SelfScaler decides a pod's request to scale the workload it belongs to (controller.SelfScale).
type SelfScaler interface {
	Request(ctx context.Context, namespace, podName string, asker *pod.Pod, req controller.ScaleRequest) (controller.ScaleDecision, error)
}

// maxScaleBody bounds a scale request's body: a few small fields.
const maxScaleBody = 4 << 10

// WithSelfScale lets the pods' sockets take POST /scale: replicate yourself.
func (s *PodSockets) WithSelfScale(x SelfScaler) *PodSockets {
	s.selfScale = x
	return s
}

// scale serves POST /scale on a pod's socket: the pod asks to change its workload's replicas.
// The answer is the decision (granted, clamped or refused, with why).
func (o *ownPod) scale(x SelfScaler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() error {
			body, err := readBody(w, r, maxScaleBody, "scale request")
			if err != nil {
				return err
			}
			var req controller.ScaleRequest
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return invalid(fmt.Sprintf("scale request: %v (want {\"delta\": -1|1|…} or {\"replicas\": N}, with reason, idempotencyKey, self)", err))
			}
			asker, err := o.pods.Get(r.Context(), o.namespace, o.name)
			if err != nil {
				return err
			}
			d, err := x.Request(r.Context(), o.namespace, o.name, asker, req)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, d)
			return nil
		}()
		if err != nil {
			writeError(w, toError(err))
		}
	})
}

// SelfScale asks, through a pod's own socket, to change the replicas of the pod's workload.
func (c *Client) SelfScale(ctx context.Context, req controller.ScaleRequest) (*controller.ScaleDecision, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var d controller.ScaleDecision
	if err := c.do(ctx, request{method: http.MethodPost, path: "/scale", body: bytes.NewReader(body), contentType: "application/json"}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
