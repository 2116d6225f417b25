package controller

import (
	"context"
	"log/slog"
	"reflect"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// PodStatuses is what the Service controller reads of the pods: all of them with their status,
// and a channel closed at the next change of any (the supervisor's Manager implements it).
type PodStatuses interface {
	List(ctx context.Context, namespace string) ([]*pod.Pod, error)
	Changed() <-chan struct{}
}

// ObjectLister is what the Service controller reads of the objects (Objects implements it).
type ObjectLister interface {
	List(kind, namespace string) []object.Object
	Changed() <-chan struct{}
}

// Services is the Services' controller: whenever a Service or any pod changes, it computes every
// Service's endpoints again (ServiceRecords) and hands the cluster DNS its new table. podd gives
// Services no virtual IP, so their endpoints live only there: a readiness change is in the DNS
// answers as soon as the supervisor publishes it.
type Services struct {
	objects ObjectLister
	pods    PodStatuses
	set     func(dns.Records)
	log     *slog.Logger
}

// NewServices makes the controller; set receives every new table (dns.Server's SetRecords).
func NewServices(objects ObjectLister, pods PodStatuses, set func(dns.Records), log *slog.Logger) *Services {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Services{objects: objects, pods: pods, set: set, log: log}
}

// Run follows the Services and the pods until ctx ends.
func (c *Services) Run(ctx context.Context) {
	var last *dns.Records
	for {
		// Taken before the reads: a change after them is not missed.
		objectsChanged, podsChanged := c.objects.Changed(), c.pods.Changed()
		if r, err := c.records(ctx); err != nil {
			c.log.Warn("services: list pods", "err", err)
		} else if last == nil || !reflect.DeepEqual(*last, r) {
			c.set(r)
			last = &r
			c.log.Debug("services: endpoints changed", "services", len(r.Services))
		}
		select {
		case <-ctx.Done():
			return
		case <-objectsChanged:
		case <-podsChanged:
		}
	}
}

func (c *Services) records(ctx context.Context) (dns.Records, error) {
	pods, err := c.pods.List(ctx, "")
	if err != nil {
		return dns.Records{}, err
	}
	var services []*object.Service
	for _, o := range c.objects.List("Service", "") {
		if s, ok := o.(*object.Service); ok {
			services = append(services, s)
		}
	}
	return ServiceRecords(services, pods), nil
}
