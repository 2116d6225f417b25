package controller

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// PodLister is what the Service controller reads of the pods: all of them, with their status.
type PodLister interface {
	List(ctx context.Context, namespace string) ([]*pod.Pod, error)
}

// ObjectLister is what the Service controller reads of the objects (Objects implements it).
type ObjectLister interface {
	List(kind, namespace string) []object.Object
}

// Services is the Services' controller: at every change of a Service or of any pod (Run wakes it),
// it computes every Service's endpoints again (ServiceRecords) and hands the cluster DNS its new
// table when they differ. podd gives Services no virtual IP, so their endpoints live only there: a
// readiness change is in the DNS answers as soon as the supervisor publishes it.
type Services struct {
	Objects ObjectLister
	Pods    PodLister
	// Set receives every new table (dns.Server's SetRecords).
	Set func(dns.Records)
	Log *slog.Logger

	last       *dns.Records
	mismatches map[string]bool // those logged already
}

// Name names the controller in logs.
func (c *Services) Name() string { return "services" }

// Sync publishes the endpoints as they are now.
func (c *Services) Sync(ctx context.Context) (time.Duration, error) {
	pods, err := c.Pods.List(ctx, "")
	if err != nil {
		return 0, err
	}
	var services []*object.Service
	for _, o := range c.Objects.List("Service", "") {
		if s, ok := o.(*object.Service); ok {
			services = append(services, s)
		}
	}
	r, mismatches := ServiceRecords(services, pods)
	c.report(mismatches)
	if c.last != nil && reflect.DeepEqual(*c.last, r) {
		return 0, nil
	}
	c.Set(r)
	c.last = &r
	if c.Log != nil {
		n := 0
		for _, s := range r.Services {
			n += len(s.Endpoints)
		}
		c.Log.Debug("services: endpoints changed", "services", len(r.Services), "endpoints", n)
	}
	return 0, nil
}

// report logs each pod left out of a Service for its named targetPort, once while it lasts.
func (c *Services) report(mismatches []string) {
	now := map[string]bool{}
	for _, m := range mismatches {
		now[m] = true
		if !c.mismatches[m] && c.Log != nil {
			c.Log.Warn("services: a pod left out of a Service's endpoints", "reason", m)
		}
	}
	c.mismatches = now
}
