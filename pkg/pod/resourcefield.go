package pod

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/containerd/errdefs"
)

// NodeCapacity is this host's cpu and memory: what a container without a limit may use, and
// so what the downward API reports as its limit (the kubelet reports its node's allocatable).
type NodeCapacity struct {
	MilliCPU    int64
	MemoryBytes int64
}

// resourceFieldResources are the resources a resourceFieldRef may select.
var resourceFieldResources = []string{"limits.cpu", "limits.memory", "requests.cpu", "requests.memory"}

// Divisors Kubernetes allows, by the kind of resource.
var (
	cpuDivisors    = []string{"1m", "1"}
	memoryDivisors = []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
)

// checkResourceFieldRef validates a resourceFieldRef: own is the container the env belongs to
// ("" in a downwardAPI volume, where containerName is required); containers are the pod's names.
func checkResourceFieldRef(errs *ErrorList, field string, ref *ResourceFieldSelector, own string, containers []string) {
	switch {
	case ref.ContainerName == "" && own == "":
		errs.required(field+".containerName", "")
	case ref.ContainerName != "" && !slices.Contains(containers, ref.ContainerName):
		errs.notFound(field+".containerName", ref.ContainerName)
	}
	if ref.Resource == "" {
		errs.required(field+".resource", "")
		return
	}
	if !slices.Contains(resourceFieldResources, ref.Resource) {
		errs.unsupported(field+".resource", ref.Resource, resourceFieldResources...)
		return
	}
	if ref.Divisor == nil {
		return
	}
	allowed := memoryDivisors
	if ref.Resource == "limits.cpu" || ref.Resource == "requests.cpu" {
		allowed = cpuDivisors
	}
	if !slices.ContainsFunc(allowed, func(s string) bool {
		q, _ := ParseQuantity(s)
		return q.MilliValue() == ref.Divisor.MilliValue()
	}) {
		errs.unsupported(field+".divisor", ref.Divisor.String(), allowed...)
	}
}

// ResourceFieldValue is the value of a resourceFieldRef as the kubelet computes it: the
// container's limit (the node's capacity when it has none) or request, divided by the divisor
// (default 1) and rounded up. own names the container when the reference does not.
func ResourceFieldValue(p *Pod, ref *ResourceFieldSelector, own string, node NodeCapacity) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = own
	}
	var c *Container
	for _, list := range [][]Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				c = &list[i]
			}
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q: %w", name, errdefs.ErrInvalidArgument)
	}
	divMilli, divValue := int64(1000), int64(1)
	if ref.Divisor != nil && ref.Divisor.MilliValue() > 0 {
		divMilli, divValue = ref.Divisor.MilliValue(), max(ref.Divisor.Value(), 1)
	}
	q, set := Quantity{}, false
	switch ref.Resource {
	case "limits.cpu", "limits.memory":
		q, set = c.Resources.Limits[ref.Resource[len("limits."):]]
	case "requests.cpu", "requests.memory":
		q, set = c.Resources.Requests[ref.Resource[len("requests."):]]
	default:
		return "", fmt.Errorf("resourceFieldRef: resource %q is not supported: %w", ref.Resource, errdefs.ErrInvalidArgument)
	}
	// Without a limit of its own, a container may use the pod's (pod-level resources), and
	// without that the node's.
	if !set || q.MilliValue() == 0 {
		if r := p.Spec.Resources; r != nil && (ref.Resource == "limits.cpu" || ref.Resource == "limits.memory") {
			q, set = r.Limits[ref.Resource[len("limits."):]]
		}
	}
	switch ref.Resource {
	case "limits.cpu":
		milli := q.MilliValue()
		if !set || milli == 0 {
			milli = node.MilliCPU
		}
		return ceilDiv(milli, divMilli), nil
	case "requests.cpu":
		return ceilDiv(q.MilliValue(), divMilli), nil
	case "limits.memory":
		bytes := q.Value()
		if !set || bytes == 0 {
			bytes = node.MemoryBytes
		}
		return ceilDiv(bytes, divValue), nil
	default: // requests.memory
		return ceilDiv(q.Value(), divValue), nil
	}
}

func ceilDiv(a, b int64) string {
	return strconv.FormatInt(int64(math.Ceil(float64(a)/float64(b))), 10)
}
