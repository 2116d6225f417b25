package controller

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// ServiceRecords computes every Service's endpoints from the pods, as Kubernetes' endpoints
// controller does, and returns them as the cluster DNS's table:
//
//   - a Service without a selector has no endpoints podd manages (Kubernetes leaves them to the
//     user): its name does not resolve;
//   - its pods are those of its namespace whose labels hold every pair of spec.selector, that have
//     an address and have not ended (phase Succeeded or Failed);
//   - of those, the ready ones (condition Ready True) are its endpoints; with
//     spec.publishNotReadyAddresses all of them are;
//   - an endpoint's hostname is the pod's spec.hostname when its spec.subdomain is the Service's
//     name (a StatefulSet's members, with the headless Service as serviceName);
//   - a named targetPort is looked up among the pod's container ports, as Kubernetes does per pod.
//     podd has no virtual IP to map the Service's port to it, so a pod whose port of that name is
//     another number than the Service's port (or that has none) is left out, and said in mismatches
//     rather than reached at a wrong port.
func ServiceRecords(services []*object.Service, pods []*pod.Pod) (records dns.Records, mismatches []string) {
	byNamespace := map[string][]*pod.Pod{}
	for _, p := range pods {
		byNamespace[p.Metadata.Namespace] = append(byNamespace[p.Metadata.Namespace], p)
	}
	for _, svc := range services {
		s := dns.Service{
			Namespace: svc.Metadata.Namespace,
			Name:      svc.Metadata.Name,
			Headless:  svc.Spec.ClusterIP == "None",
		}
		for _, p := range svc.Spec.Ports {
			s.Ports = append(s.Ports, dns.Port{Name: p.Name, Protocol: p.Protocol, Port: uint16(p.Port)})
		}
		if len(svc.Spec.Selector) > 0 {
			for _, p := range byNamespace[s.Namespace] {
				if !selects(svc.Spec.Selector, p.Metadata.Labels) || !serving(p, svc.Spec.PublishNotReadyAddresses) {
					continue
				}
				if m := namedPortMismatch(svc, p); m != "" {
					mismatches = append(mismatches, m)
					continue
				}
				hostname := ""
				if p.Spec.Subdomain == svc.Metadata.Name && p.Spec.Hostname != "" {
					hostname = p.Spec.Hostname
				}
				for _, ip := range podIPs(p) {
					s.Endpoints = append(s.Endpoints, dns.Endpoint{IP: ip, Hostname: hostname})
				}
			}
			sort.Slice(s.Endpoints, func(i, j int) bool { return s.Endpoints[i].IP.Less(s.Endpoints[j].IP) })
		}
		records.Services = append(records.Services, s)
	}
	return records, mismatches
}

// namedPortMismatch says why pod p cannot serve one of svc's named targetPorts at the Service's
// port number; "" when it can.
func namedPortMismatch(svc *object.Service, p *pod.Pod) string {
	for i, sp := range svc.Spec.Ports {
		if sp.TargetPort == nil || !sp.TargetPort.IsStr {
			continue
		}
		name := sp.TargetPort.StrVal
		var found *pod.ContainerPort
		for _, c := range append(append([]pod.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
			for j := range c.Ports {
				if c.Ports[j].Name == name {
					found = &c.Ports[j]
				}
			}
		}
		switch {
		case found == nil:
			return fmt.Sprintf("service %s/%s: spec.ports[%d].targetPort %q: pod %s has no port of that name; it is not an endpoint",
				svc.Metadata.Namespace, svc.Metadata.Name, i, name, p.Metadata.Name)
		case found.ContainerPort != sp.Port:
			return fmt.Sprintf("service %s/%s: spec.ports[%d].targetPort %q is port %d of pod %s, not the Service's port %d: podd gives Services no virtual IP to map one to the other, so the pod is not an endpoint",
				svc.Metadata.Namespace, svc.Metadata.Name, i, name, found.ContainerPort, p.Metadata.Name, sp.Port)
		}
	}
	return ""
}

// selects: a Service's selector is a plain map, every pair of which must be among the labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// serving: the pod is an endpoint now (ready, or any that runs with publishNotReadyAddresses).
func serving(p *pod.Pod, publishNotReady bool) bool {
	switch p.Status.Phase {
	case pod.PodSucceeded, pod.PodFailed:
		return false
	}
	if publishNotReady {
		return true
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func podIPs(p *pod.Pod) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil && !containsAddr(out, ip) {
			out = append(out, ip)
		}
	}
	add(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	return out
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, a := range list {
		if a == ip {
			return true
		}
	}
	return false
}
