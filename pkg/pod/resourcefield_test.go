package pod

import (
	"testing"
)

func TestResourceFieldValue(t *testing.T) {
	q := func(s string) *Quantity {
		v, err := ParseQuantity(s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	p := &Pod{Spec: PodSpec{
		Containers: []Container{
			{Name: "app", Resources: ResourceRequirements{
				Limits:   ResourceList{"cpu": *q("500m"), "memory": *q("64Mi")},
				Requests: ResourceList{"cpu": *q("250m"), "memory": *q("32Mi")},
			}},
			{Name: "free"}, // no limits: the node's capacity
		},
		InitContainers: []Container{{Name: "init", Resources: ResourceRequirements{Limits: ResourceList{"cpu": *q("1.5")}}}},
	}}
	node := NodeCapacity{MilliCPU: 2000, MemoryBytes: 24 << 30}
	for _, tt := range []struct {
		name, own string
		ref       ResourceFieldSelector
		want      string
	}{
		{"cpu limit in cores, rounded up", "app", ResourceFieldSelector{Resource: "limits.cpu"}, "1"},
		{"cpu limit in millicores", "app", ResourceFieldSelector{Resource: "limits.cpu", Divisor: q("1m")}, "500"},
		{"cpu request", "app", ResourceFieldSelector{Resource: "requests.cpu", Divisor: q("1m")}, "250"},
		{"memory limit in bytes", "app", ResourceFieldSelector{Resource: "limits.memory"}, "67108864"},
		{"memory limit in Mi", "app", ResourceFieldSelector{Resource: "limits.memory", Divisor: q("1Mi")}, "64"},
		{"memory request in M, rounded up", "app", ResourceFieldSelector{Resource: "requests.memory", Divisor: q("1M")}, "34"},
		{"another container by name", "", ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: q("1m")}, "500"},
		{"an init container", "", ResourceFieldSelector{ContainerName: "init", Resource: "limits.cpu", Divisor: q("1m")}, "1500"},
		{"no cpu limit: the node's", "free", ResourceFieldSelector{Resource: "limits.cpu"}, "2"},
		{"no memory limit: the node's", "free", ResourceFieldSelector{Resource: "limits.memory", Divisor: q("1Gi")}, "24"},
		{"no request: 0", "free", ResourceFieldSelector{Resource: "requests.memory"}, "0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResourceFieldValue(p, &tt.ref, tt.own, node)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := ResourceFieldValue(p, &ResourceFieldSelector{ContainerName: "db", Resource: "limits.cpu"}, "", node); err == nil {
		t.Error("a reference to no container gave a value")
	}
}
