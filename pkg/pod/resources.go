package pod

import (
	"fmt"
	"slices"
)

// Resource names podd implements in a container's resources.
const (
	ResourceCPU    = "cpu"
	ResourceMemory = "memory"
)

// ResourceList maps a resource name (cpu, memory) to a quantity.
type ResourceList map[string]Quantity

// ResourceRequirements are a container's resources: limits are enforced (CFS quota, memory limit),
// requests weigh the container against others (cpu shares or weight) and decide its QoS class.
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// QOSClass is a pod's quality of service class, as Kubernetes derives it from the requests and
// limits of its containers.
type QOSClass string

const (
	QOSGuaranteed QOSClass = "Guaranteed"
	QOSBurstable  QOSClass = "Burstable"
	QOSBestEffort QOSClass = "BestEffort"
)

var resourceNames = []string{ResourceCPU, ResourceMemory}

// setResourceDefaults copies a limit into an unset request, as Kubernetes' API server does.
func setResourceDefaults(r *ResourceRequirements) {
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if r.Requests == nil {
			r.Requests = ResourceList{}
		}
		r.Requests[name] = q
	}
}

// checkResources validates one container's resources as Kubernetes does: known names, no negative
// quantity, a request no larger than its limit.
func checkResources(errs *ErrorList, field string, r ResourceRequirements) {
	for _, list := range []struct {
		name string
		rl   ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for _, name := range sortedKeys(list.rl) {
			q := list.rl[name]
			f := fmt.Sprintf("%s.resources.%s.%s", field, list.name, name)
			if !slices.Contains(resourceNames, name) {
				errs.unsupported(fmt.Sprintf("%s.resources.%s", field, list.name), name, resourceNames...)
				continue
			}
			if q.Sign() < 0 {
				errs.invalid(f, q.String(), "must be greater than or equal to 0")
			}
		}
	}
	for _, name := range resourceNames {
		limit, hasLimit := r.Limits[name]
		req, hasReq := r.Requests[name]
		if hasLimit && hasReq && req.MilliValue() > limit.MilliValue() {
			errs.invalid(fmt.Sprintf("%s.resources.requests.%s", field, name), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String()))
		}
	}
}

func sortedKeys(m ResourceList) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkPodResources(p *Pod, errs *ErrorList) {
	checkPodLevelResources(p, errs)
	for i, c := range p.Spec.Containers {
		checkResources(errs, fmt.Sprintf("spec.containers[%d]", i), c.Resources)
	}
	for i, c := range p.Spec.InitContainers {
		checkResources(errs, fmt.Sprintf("spec.initContainers[%d]", i), c.Resources)
	}
}

// PodQOSClass is the kubelet's GetPodQOS: BestEffort when no container requests or limits
// anything, Guaranteed when every container's cpu and memory limits are set and equal to its
// requests, Burstable otherwise. A zero quantity counts as unset, as in Kubernetes.
func PodQOSClass(spec *PodSpec) QOSClass {
	if spec.Resources != nil && (len(spec.Resources.Requests) > 0 || len(spec.Resources.Limits) > 0) {
		return podLevelQOS(spec.Resources)
	}
	requests, limits := map[string]bool{}, map[string]bool{}
	guaranteed := true
	for c := range spec.AllContainers() {
		for name, q := range c.Resources.Requests {
			if slices.Contains(resourceNames, name) && q.MilliValue() > 0 {
				requests[name] = true
			}
		}
		full := 0
		for name, q := range c.Resources.Limits {
			if slices.Contains(resourceNames, name) && q.MilliValue() > 0 {
				limits[name] = true
				full++
				if req, ok := c.Resources.Requests[name]; ok && req.MilliValue() != q.MilliValue() {
					guaranteed = false
				}
			}
		}
		if full != len(resourceNames) {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return QOSBestEffort
	}
	if guaranteed && len(limits) == len(resourceNames) {
		return QOSGuaranteed
	}
	return QOSBurstable
}

// The kubelet's oom_score_adj values (pkg/kubelet/qos/policy.go).
const (
	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// OOMScoreAdj is the oom_score_adj the kubelet gives a container of a pod of class qos: -997 for
// Guaranteed, 1000 for BestEffort, and for Burstable 1000 - 1000*memoryRequest/capacity clamped
// to [2, 999] (so that a Burstable container is always killed before a Guaranteed one and after
// a BestEffort one). capacity is the machine's memory in bytes.
func OOMScoreAdj(qos QOSClass, memoryRequest, capacity int64) int {
	switch qos {
	case QOSGuaranteed:
		return guaranteedOOMScoreAdj
	case QOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if capacity <= 0 {
		return 999
	}
	adj := 1000 - (1000*memoryRequest)/capacity
	if adj < 2 {
		return 2
	}
	if adj >= besteffortOOMScoreAdj {
		return besteffortOOMScoreAdj - 1
	}
	return int(adj)
}

// PodResources are the sums a pod cgroup carries. A limit is set (>0) only when every container
// of the pod sets it, as the kubelet does; otherwise one container without a limit could use
// anything and a pod limit would only mislead.
type PodResources struct {
	CPURequestMilli int64 // sum of requests: the pod cgroup's share of the cpu
	CPULimitMilli   int64 // 0: unlimited
	MemoryLimit     int64 // bytes; 0: unlimited
}

// EffectivePodResources computes the pod's sums as Kubernetes' PodRequests/PodLimits do: the
// larger of the main containers plus sidecars, and of each regular init container plus the
// sidecars started before it (init containers run one at a time).
func EffectivePodResources(spec *PodSpec) PodResources {
	var out PodResources
	out.CPURequestMilli, _ = effective(spec, func(r ResourceRequirements) (int64, bool) { return milli(r.Requests, ResourceCPU) })
	if v, ok := effective(spec, func(r ResourceRequirements) (int64, bool) { return milli(r.Limits, ResourceCPU) }); ok {
		out.CPULimitMilli = v
	}
	if v, ok := effective(spec, func(r ResourceRequirements) (int64, bool) { return value(r.Limits, ResourceMemory) }); ok {
		out.MemoryLimit = v
	}
	podLevelOverrides(spec, &out)
	return out
}

func milli(rl ResourceList, name string) (int64, bool) {
	q, ok := rl[name]
	if !ok || q.MilliValue() <= 0 {
		return 0, false
	}
	return q.MilliValue(), true
}

func value(rl ResourceList, name string) (int64, bool) {
	q, ok := rl[name]
	if !ok || q.Value() <= 0 {
		return 0, false
	}
	return q.Value(), true
}

// effective sums get over the pod's containers the Kubernetes way; ok is false when a container
// lacks the value (the sum is then still returned, for requests).
func effective(spec *PodSpec, get func(ResourceRequirements) (int64, bool)) (int64, bool) {
	all := true
	var sidecars, initMax int64
	for _, c := range spec.InitContainers {
		v, ok := get(c.Resources)
		all = all && ok
		if c.RestartPolicy != nil && *c.RestartPolicy == RestartAlways {
			sidecars += v
			initMax = max(initMax, sidecars)
			continue
		}
		initMax = max(initMax, sidecars+v)
	}
	var mains int64
	for _, c := range spec.Containers {
		v, ok := get(c.Resources)
		all = all && ok
		mains += v
	}
	return max(mains+sidecars, initMax), all
}

// Pod-level resources (Kubernetes' PodLevelResources): spec.resources bounds the whole pod.

// checkPodLevelResources validates spec.resources as Kubernetes does: cpu and memory only,
// requests no more than limits, requests at least the containers' requests together, and limits
// at least each container's limit.
func checkPodLevelResources(p *Pod, errs *ErrorList) {
	r := p.Spec.Resources
	if r == nil {
		return
	}
	checkResources(errs, "spec", *r)
	for _, name := range resourceNames {
		if req, ok := r.Requests[name]; ok {
			var sum int64
			for _, c := range p.Spec.Containers {
				if q, ok := c.Resources.Requests[name]; ok {
					sum += q.MilliValue()
				}
			}
			if req.MilliValue() < sum {
				errs.invalid("spec.resources.requests."+name, req.String(), "must be greater than or equal to aggregate container requests of "+formatMilli(sum, name))
			}
		}
		if limit, ok := r.Limits[name]; ok {
			for c := range p.Spec.AllContainers() {
				if q, ok := c.Resources.Limits[name]; ok && q.MilliValue() > limit.MilliValue() {
					errs.invalid("spec.resources.limits."+name, limit.String(), fmt.Sprintf("must be greater than or equal to container %s's limit of %s", c.Name, q.String()))
				}
			}
		}
	}
}

// podLevelQOS is the QoS class of a pod with pod-level resources: Guaranteed when cpu and memory
// limits are set and equal to the requests, BestEffort with neither, Burstable otherwise.
func podLevelQOS(r *ResourceRequirements) QOSClass {
	guaranteed := true
	for _, name := range resourceNames {
		limit, ok := r.Limits[name]
		if !ok || limit.MilliValue() <= 0 {
			guaranteed = false
			continue
		}
		if req, ok := r.Requests[name]; ok && req.MilliValue() != limit.MilliValue() {
			guaranteed = false
		}
	}
	if guaranteed {
		return QOSGuaranteed
	}
	return QOSBurstable
}

// podLevelOverrides puts the pod-level values in place of the containers' sums.
func podLevelOverrides(spec *PodSpec, out *PodResources) {
	r := spec.Resources
	if r == nil {
		return
	}
	if v, ok := milli(r.Requests, ResourceCPU); ok {
		out.CPURequestMilli = v
	}
	if v, ok := milli(r.Limits, ResourceCPU); ok {
		out.CPULimitMilli = v
		if _, hasRequest := r.Requests[ResourceCPU]; !hasRequest {
			out.CPURequestMilli = v // a request defaults to its limit, as Kubernetes defaults it
		}
	}
	if v, ok := value(r.Limits, ResourceMemory); ok {
		out.MemoryLimit = v
	}
}

// formatMilli writes a sum of milli-units as Kubernetes would print it: millicores for cpu, bytes
// for memory.
func formatMilli(sum int64, name string) string {
	if name == ResourceCPU {
		return fmt.Sprintf("%dm", sum)
	}
	return fmt.Sprint(sum / 1000)
}
