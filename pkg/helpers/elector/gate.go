package elector

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Gate is the readiness the leadership depends on in auto mode: the elector campaigns only while
// the gate says ready, and resigns as soon as it says unready. The local backend needs none (podd
// gates its own elections); the etcd backend follows the pod through its API socket (PodGate).
type Gate interface {
	// Ready answers whether the application is ready now, and a channel closed at the next change.
	Ready() (bool, <-chan struct{})
}

// podView is what the gate reads of GET /pod.
type podView struct {
	Metadata struct {
		DeletionTimestamp *time.Time `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Name string `json:"name"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		ContainerStatuses []struct {
			Name  string `json:"name"`
			Ready bool   `json:"ready"`
			State struct {
				Running *struct{} `json:"running"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// appReady: every guarded container (none named: the pod's regular containers) runs and is
// ready, and the pod is not being deleted. A named container the pod lacks is never ready.
func appReady(p *podView, guard []string) bool {
	if p.Metadata.DeletionTimestamp != nil {
		return false
	}
	if len(guard) == 0 {
		for _, c := range p.Spec.Containers {
			guard = append(guard, c.Name)
		}
	}
	for _, name := range guard {
		ok := false
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == name {
				ok = cs.Ready && cs.State.Running != nil
			}
		}
		if !ok {
			return false
		}
	}
	return len(guard) > 0
}

// PodGate follows the readiness of the pod's application through the pod's own API socket: it
// reads GET /pod at once after each of the pod's events (a container that dies or fails a probe
// makes one) and every Interval otherwise (a container turning ready makes none). Until its first
// answer, and while podd does not answer, the gate holds its last verdict (unready at first): a
// restarting podd does not depose a leader, and the lease still bounds how long it leads.
type PodGate struct {
	l        *Local
	guard    []string
	Interval time.Duration

	mu      sync.Mutex
	ready   bool
	changed chan struct{}
}

// NewPodGate follows the containers named in guard (none: the pod's regular containers).
func NewPodGate(l *Local, guard []string) *PodGate {
	return &PodGate{l: l, guard: guard, Interval: 250 * time.Millisecond, changed: make(chan struct{})}
}

// Ready implements Gate.
func (g *PodGate) Ready() (bool, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ready, g.changed
}

func (g *PodGate) set(ready bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ready != g.ready {
		g.ready = ready
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// Run follows the pod until ctx ends.
func (g *PodGate) Run(ctx context.Context) {
	kick := make(chan struct{}, 1)
	go g.followEvents(ctx, kick)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		var p podView
		if _, err := g.l.do(ctx, http.MethodGet, "/pod", nil, &p); err == nil {
			g.set(appReady(&p, g.guard))
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(g.Interval)
	}
}

// followEvents kicks a read at each of the pod's events, reconnecting while ctx lasts.
func (g *PodGate) followEvents(ctx context.Context, kick chan<- struct{}) {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podd/pod/events?watch=true", nil)
		if err != nil {
			return
		}
		if resp, err := g.l.hc.Do(req); err == nil {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if json.Valid(sc.Bytes()) {
					select {
					case kick <- struct{}{}:
					default:
					}
				}
			}
			resp.Body.Close()
		}
		sleep(ctx, time.Second)
	}
}
