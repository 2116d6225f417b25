package controller

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestServiceRecords(t *testing.T) {
	mkPod := func(ns, name, ip string, ready bool, labels map[string]string) *pod.Pod {
		p := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
		p.Status.Phase = pod.PodRunning
		p.Status.PodIP = ip
		if ip != "" {
			p.Status.PodIPs = []pod.PodIP{{IP: ip}}
		}
		p.Status.Conditions = []pod.PodCondition{{Type: "Ready", Status: map[bool]string{true: "True", false: "False"}[ready]}}
		return p
	}
	web := map[string]string{"app": "web", "tier": "front"}
	done := mkPod("default", "done", "10.1.0.9", true, web)
	done.Status.Phase = pod.PodSucceeded
	member := mkPod("default", "db-0", "10.1.0.20", true, map[string]string{"app": "db"})
	member.Spec.Hostname, member.Spec.Subdomain = "db-0", "db"
	stranger := mkPod("default", "db-x", "10.1.0.21", true, map[string]string{"app": "db"})
	stranger.Spec.Hostname, stranger.Spec.Subdomain = "db-x", "other"
	pods := []*pod.Pod{
		mkPod("default", "web-b", "10.1.0.3", true, web),
		mkPod("default", "web-a", "10.1.0.2", true, web),
		mkPod("default", "web-unready", "10.1.0.4", false, web),
		mkPod("default", "web-noip", "", true, web),
		mkPod("default", "other-labels", "10.1.0.5", true, map[string]string{"app": "web"}),
		mkPod("other", "web-elsewhere", "10.1.0.6", true, web),
		done, member, stranger,
	}
	svc := func(name string, selector map[string]string, mutate func(*object.Service)) *object.Service {
		s := &object.Service{Metadata: pod.ObjectMeta{Namespace: "default", Name: name}}
		s.Spec.Selector = selector
		s.Spec.Ports = []object.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	ep := func(ip, host string) dns.Endpoint { return dns.Endpoint{IP: netip.MustParseAddr(ip), Hostname: host} }
	port := []dns.Port{{Name: "http", Protocol: "TCP", Port: 80}}
	got, mismatches := ServiceRecords([]*object.Service{
		svc("web", web, nil),
		svc("all", web, func(s *object.Service) { s.Spec.PublishNotReadyAddresses = true }),
		svc("db", map[string]string{"app": "db"}, func(s *object.Service) { s.Spec.ClusterIP = "None" }),
		svc("manual", nil, nil),
	}, pods)
	want := dns.Records{Services: []dns.Service{
		{Namespace: "default", Name: "web", Ports: port, Endpoints: []dns.Endpoint{ep("10.1.0.2", ""), ep("10.1.0.3", "")}},
		{Namespace: "default", Name: "all", Ports: port, Endpoints: []dns.Endpoint{ep("10.1.0.2", ""), ep("10.1.0.3", ""), ep("10.1.0.4", "")}},
		{Namespace: "default", Name: "db", Headless: true, Ports: port, Endpoints: []dns.Endpoint{ep("10.1.0.20", "db-0"), ep("10.1.0.21", "")}},
		{Namespace: "default", Name: "manual", Ports: port},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ServiceRecords:\n got %s\nwant %s", show(got), show(want))
	}
	if len(mismatches) != 0 {
		t.Errorf("mismatches %v, want none", mismatches)
	}
}

// TestServiceRecordsNamedTargetPort: a named targetPort is found among each pod's ports; a pod
// whose port of that name is another number than the Service's port, or that has none, is no
// endpoint, and is said.
func TestServiceRecordsNamedTargetPort(t *testing.T) {
	mkPod := func(name, ip string, port int32) *pod.Pod {
		p := &pod.Pod{Metadata: pod.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}}}
		p.Spec.Containers = []pod.Container{{Name: "app"}}
		if port > 0 {
			p.Spec.Containers[0].Ports = []pod.ContainerPort{{Name: "http", ContainerPort: port}}
		}
		p.Status.Phase, p.Status.PodIP = pod.PodRunning, ip
		p.Status.Conditions = []pod.PodCondition{{Type: "Ready", Status: "True"}}
		return p
	}
	svc := &object.Service{Metadata: pod.ObjectMeta{Namespace: "default", Name: "web"}}
	svc.Spec.Selector = map[string]string{"app": "web"}
	svc.Spec.Ports = []object.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: &pod.IntOrString{StrVal: "http", IsStr: true}}}
	got, mismatches := ServiceRecords([]*object.Service{svc}, []*pod.Pod{mkPod("right", "10.1.0.2", 80), mkPod("wrong", "10.1.0.3", 8080), mkPod("none", "10.1.0.4", 0)})
	if eps := got.Services[0].Endpoints; len(eps) != 1 || eps[0].IP.String() != "10.1.0.2" {
		t.Errorf("endpoints %v, want only the pod whose port http is 80", eps)
	}
	if len(mismatches) != 2 || !strings.Contains(mismatches[0], `spec.ports[0].targetPort "http" is port 8080 of pod wrong, not the Service's port 80`) ||
		!strings.Contains(mismatches[1], "pod none has no port of that name") {
		t.Errorf("mismatches:\n%s", strings.Join(mismatches, "\n"))
	}
}

func show(r dns.Records) string {
	s := ""
	for _, svc := range r.Services {
		s += fmt.Sprintf("\n  %s/%s headless=%v ports=%v endpoints=%v", svc.Namespace, svc.Name, svc.Headless, svc.Ports, svc.Endpoints)
	}
	return s
}
