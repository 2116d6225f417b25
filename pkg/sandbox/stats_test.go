package sandbox

import (
	"testing"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestPodLimits(t *testing.T) {
	q := pod.MustParseQuantity
	p := &pod.Pod{Spec: pod.PodSpec{Containers: []pod.Container{
		{Name: "a", Resources: pod.ResourceRequirements{Limits: pod.ResourceList{"cpu": q("500m"), "memory": q("64Mi")}, Requests: pod.ResourceList{"cpu": q("500m")}}},
		{Name: "b", Resources: pod.ResourceRequirements{Limits: pod.ResourceList{"memory": q("32Mi")}, Requests: pod.ResourceList{"cpu": q("100m")}}},
	}}}
	got := podLimits(p, 4096)
	want := cgroups.PodLimits{CPUShares: 614, CPUQuota: 0, CPUPeriod: 100000, MemoryLimit: 96 << 20, PidsLimit: 4096}
	if got != want {
		t.Errorf("podLimits = %+v, want %+v", got, want)
	}
}
