package controller

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Replicate yourself: a container asks, through its pod's own API socket, to change the replica
// count of the workload its pod belongs to. The workload opts in with bounds.
const (
	// AnnotationSelfScale on a Deployment, ReplicaSet or StatefulSet allows its pods to scale it:
	// "min=1,max=8[,window=5m]". window is the scale-down stabilisation window (default 5m, as the
	// HPA's): a scale-down goes no lower than the highest count asked for within it.
	AnnotationSelfScale = "podd.io/self-scale"
	// AnnotationScaleDownVictim on a ReplicaSet names the pod its next scale-down removes first:
	// the replica that asked to go.
	AnnotationScaleDownVictim = "podd.io/scale-down-victim"

	defaultSelfScaleWindow = 5 * time.Minute
	// maxScaleKeys bounds the idempotency keys remembered per workload.
	maxScaleKeys = 256
)

// Outcomes of a request to scale.
const (
	ScaleGranted = "Granted"
	ScaleClamped = "Clamped"
	ScaleRefused = "Refused"
)

// ScaleRequest is what a pod asks: a target (Replicas) or a change (Delta), why, and a key that
// makes a retried request count once. Self with Delta -1 asks that the asking pod be the one
// removed.
type ScaleRequest struct {
	Replicas       *int32 `json:"replicas,omitempty"`
	Delta          *int32 `json:"delta,omitempty"`
	Self           bool   `json:"self,omitempty"`
	Reason         string `json:"reason,omitempty"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// ScaleDecision is the answer: what was decided, on which workload, from and to which count.
type ScaleDecision struct {
	Outcome string `json:"outcome"`
	Kind    string `json:"kind,omitempty"`
	Name    string `json:"name,omitempty"`
	From    int32  `json:"from"`
	To      int32  `json:"to"`
	Message string `json:"message"`
}

// SelfScale decides the scale requests of pods. It changes only spec.replicas of the workload
// (and a ReplicaSet's victim annotation), through Objects, so the workload's controller does the
// rest as for `podctl scale`.
type SelfScale struct {
	Objects *Objects
	Events  *events.Recorder
	Now     func() time.Time

	mu    sync.Mutex
	state map[string]*selfScaleState // workload key → its recent asks
}

type selfScaleState struct {
	asks []scaleAsk               // within the window, oldest first
	keys map[string]ScaleDecision // idempotency key → the decision it got
	key  []string                 // keys in arrival order, to forget the oldest
}

type scaleAsk struct {
	at     time.Time
	target int32
}

type selfScalePolicy struct {
	min, max int32
	window   time.Duration
}

// parseSelfScale reads the annotation's "min=1,max=8,window=5m".
func parseSelfScale(v string) (selfScalePolicy, error) {
	p := selfScalePolicy{min: 0, max: -1, window: defaultSelfScaleWindow}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return p, fmt.Errorf("%s: %q: want key=value", AnnotationSelfScale, part)
		}
		switch k {
		case "min", "max":
			n, err := strconv.ParseInt(val, 10, 32)
			if err != nil || n < 0 {
				return p, fmt.Errorf("%s: %s=%q: want a whole number, 0 or more", AnnotationSelfScale, k, val)
			}
			if k == "min" {
				p.min = int32(n)
			} else {
				p.max = int32(n)
			}
		case "window":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return p, fmt.Errorf("%s: window=%q: want a duration such as 30s", AnnotationSelfScale, val)
			}
			p.window = d
		default:
			return p, fmt.Errorf("%s: unknown key %q (min, max, window)", AnnotationSelfScale, k)
		}
	}
	if p.max < 0 {
		return p, fmt.Errorf("%s: max is required", AnnotationSelfScale)
	}
	if p.min > p.max {
		return p, fmt.Errorf("%s: min %d is above max %d", AnnotationSelfScale, p.min, p.max)
	}
	return p, nil
}

// Request decides what pod namespace/name asks. A refusal is a decision (Refused, with why), not
// an error; errors are for requests that make no sense or a store that fails.
func (s *SelfScale) Request(ctx context.Context, namespace, podName string, asker *pod.Pod, req ScaleRequest) (ScaleDecision, error) {
	if (req.Replicas == nil) == (req.Delta == nil) {
		return ScaleDecision{}, fmt.Errorf("give either replicas or delta: %w", errdefs.ErrInvalidArgument)
	}
	if req.Self && (req.Delta == nil || *req.Delta != -1) {
		return ScaleDecision{}, fmt.Errorf("self asks that this pod be the one removed: it goes with delta -1 only: %w", errdefs.ErrInvalidArgument)
	}
	if len(req.Reason) > 256 || len(req.IdempotencyKey) > 128 {
		return ScaleDecision{}, fmt.Errorf("reason (256 bytes) or idempotencyKey (128 bytes) too long: %w", errdefs.ErrInvalidArgument)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	target, rs, err := s.workload(namespace, asker)
	if err != nil {
		return s.refuse(asker, nil, err.Error()), nil
	}
	m := target.GetMetadata()
	policy, err := parseSelfScale(m.Annotations[AnnotationSelfScale])
	if _, ok := m.Annotations[AnnotationSelfScale]; !ok {
		err = fmt.Errorf("%s %s does not let its pods scale it (annotation %s)", strings.ToLower(target.GetKind()), m.Name, AnnotationSelfScale)
	}
	if err != nil {
		return s.refuse(asker, target, err.Error()), nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[string]*selfScaleState{}
	}
	key := object.KeyOf(target) + "/" + m.UID
	st := s.state[key]
	if st == nil {
		st = &selfScaleState{keys: map[string]ScaleDecision{}}
		s.state[key] = st
	}
	if req.IdempotencyKey != "" {
		if d, ok := st.keys[req.IdempotencyKey]; ok {
			return d, nil
		}
	}
	current := replicasOf(target)
	want := current
	if req.Replicas != nil {
		want = *req.Replicas
	} else {
		want = current + *req.Delta
	}
	d := ScaleDecision{Outcome: ScaleGranted, Kind: target.GetKind(), Name: m.Name, From: current}
	asked := want
	want = max(policy.min, min(policy.max, want))
	if want != asked {
		d.Outcome = ScaleClamped
		d.Message = fmt.Sprintf("asked for %d, clamped to [%d, %d]", asked, policy.min, policy.max)
	}
	// The HPA's stabilisation: a scale-down goes no lower than the highest count asked for
	// within the window (a scale-up is at once).
	t := now()
	kept := st.asks[:0]
	for _, a := range st.asks {
		if t.Sub(a.at) <= policy.window {
			kept = append(kept, a)
		}
	}
	st.asks = append(kept, scaleAsk{at: t, target: want})
	if want < current {
		highest := want
		for _, a := range st.asks {
			highest = max(highest, a.target)
		}
		if highest > want {
			d.Outcome = ScaleClamped
			d.Message = strings.TrimPrefix(d.Message+fmt.Sprintf("; held at %d by the %s stabilisation window", min(highest, current), policy.window), "; ")
			want = min(highest, current)
		}
	}
	d.To = want
	if want != current {
		if req.Self && rs != nil && want == current-1 {
			// The asking pod goes first: the ReplicaSet reads this when it scales down.
			if _, err := s.Objects.Update(ctx, "ReplicaSet", rs.Metadata.Namespace, rs.Metadata.Name, func(o object.Object) error {
				setAnnotation(o.GetMetadata(), AnnotationScaleDownVictim, asker.Metadata.Name)
				return nil
			}); err != nil {
				return ScaleDecision{}, err
			}
		}
		if _, err := s.Objects.Scale(ctx, target.GetKind(), m.Namespace, m.Name, want); err != nil {
			return ScaleDecision{}, err
		}
	}
	if d.Message == "" {
		d.Message = fmt.Sprintf("scaled from %d to %d", current, want)
	}
	if req.Reason != "" {
		d.Message += ": " + req.Reason
	}
	if req.IdempotencyKey != "" {
		st.keys[req.IdempotencyKey] = d
		st.key = append(st.key, req.IdempotencyKey)
		if len(st.key) > maxScaleKeys {
			delete(st.keys, st.key[0])
			st.key = st.key[1:]
		}
	}
	s.event(target, "Normal", "SelfScale"+d.Outcome, "pod %s asked: %s %s", asker.Metadata.Name, strings.ToLower(d.Outcome), d.Message)
	return d, nil
}

func (s *SelfScale) refuse(asker *pod.Pod, target object.Object, why string) ScaleDecision {
	d := ScaleDecision{Outcome: ScaleRefused, Message: why}
	if target != nil {
		d.Kind, d.Name = target.GetKind(), target.GetMetadata().Name
		d.From = replicasOf(target)
		d.To = d.From
		s.event(target, "Warning", "SelfScaleRefused", "pod %s asked: refused: %s", asker.Metadata.Name, why)
	} else if s.Events != nil {
		s.Events.Pod(asker, "", "Warning", "SelfScaleRefused", "refused: %s", why)
	}
	return d
}

func (s *SelfScale) event(obj object.Object, typ, reason, format string, args ...any) {
	if s.Events != nil {
		s.Events.Object(objectRef(obj), typ, reason, format, args...)
	}
}

// workload finds what scales the pod: its StatefulSet, its ReplicaSet's Deployment, or its
// ReplicaSet; rs is the pod's ReplicaSet when it has one.
func (s *SelfScale) workload(namespace string, p *pod.Pod) (object.Object, *object.ReplicaSet, error) {
	for _, ref := range p.Metadata.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		switch ref.Kind {
		case "StatefulSet":
			o, err := s.Objects.Get("StatefulSet", namespace, ref.Name)
			if err != nil || o.GetMetadata().UID != ref.UID {
				return nil, nil, fmt.Errorf("the pod's StatefulSet %s is gone", ref.Name)
			}
			return o, nil, nil
		case "ReplicaSet":
			o, err := s.Objects.Get("ReplicaSet", namespace, ref.Name)
			if err != nil || o.GetMetadata().UID != ref.UID {
				return nil, nil, fmt.Errorf("the pod's ReplicaSet %s is gone", ref.Name)
			}
			rs := o.(*object.ReplicaSet)
			for _, up := range rs.Metadata.OwnerReferences {
				if up.Kind == "Deployment" && up.Controller != nil && *up.Controller {
					d, err := s.Objects.Get("Deployment", namespace, up.Name)
					if err != nil || d.GetMetadata().UID != up.UID {
						return nil, nil, fmt.Errorf("the pod's Deployment %s is gone", up.Name)
					}
					return d, rs, nil
				}
			}
			return rs, rs, nil
		}
	}
	return nil, nil, fmt.Errorf("pod %s belongs to no Deployment, ReplicaSet or StatefulSet", p.Metadata.Name)
}

func replicasOf(o object.Object) int32 {
	var r *int32
	switch x := o.(type) {
	case *object.Deployment:
		r = x.Spec.Replicas
	case *object.ReplicaSet:
		r = x.Spec.Replicas
	case *object.StatefulSet:
		r = x.Spec.Replicas
	}
	if r == nil {
		return 1
	}
	return *r
}
