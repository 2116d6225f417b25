package supervisor

import (
	"fmt"

	"github.com/podd-dev/podd/pkg/pod"
)

// bindNode gives the pod this host's name, as the Kubernetes scheduler binds a pod to a node. A
// manifest may name the node already (kubectl get -o yaml writes it) but only this one: a pod
// meant for another host must not quietly run here.
func (m *Manager) bindNode(p *pod.Pod) error {
	switch p.Spec.NodeName {
	case "":
		p.Spec.NodeName = m.opts.NodeName
	case m.opts.NodeName:
	default:
		return &pod.FieldError{Field: "spec.nodeName", Detail: fmt.Sprintf("Invalid value: %q: this podd runs node %q (podd --node-name); leave spec.nodeName out or set it to that name",
			p.Spec.NodeName, m.opts.NodeName)}
	}
	return nil
}
