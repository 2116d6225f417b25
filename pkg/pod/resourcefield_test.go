package pod

import (
	"slices"
	"strings"
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

func TestResourceFieldRefInEnv(t *testing.T) {
	const head = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: app
    image: busybox
    resources: {limits: {cpu: 500m, memory: 64Mi}}
    env:
`
	for _, tt := range []struct{ name, env, field, detail string }{
		{"unsupported resource", "    - {name: X, valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage}}}\n", "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource", `Unsupported value: "limits.ephemeral-storage"`},
		{"no such container", "    - {name: X, valueFrom: {resourceFieldRef: {containerName: db, resource: limits.cpu}}}\n", "spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName", `Not found: "db"`},
		{"memory divisor", "    - {name: X, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1m}}}\n", "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor", `Unsupported value: "1m"`},
		{"both sources", "    - {name: X, valueFrom: {fieldRef: {fieldPath: metadata.name}, resourceFieldRef: {resource: limits.cpu}}}\n", "spec.containers[0].env[0].valueFrom", "more than one field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(head + tt.env))
			errs := fieldErrors(t, err)
			if !slices.ContainsFunc(errs, func(e *FieldError) bool { return e.Field == tt.field && strings.Contains(e.Detail, tt.detail) }) {
				t.Errorf("want %s: %q; got:\n%v", tt.field, tt.detail, err)
			}
		})
	}
	pods, err := Decode([]byte(head + "    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}\n    - {name: MEM, valueFrom: {resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	env, err := ResolveEnv(p, &p.Spec.Containers[0], nil, NodeCapacity{MilliCPU: 2000, MemoryBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "CPU=500") || !slices.Contains(env, "MEM=64") {
		t.Errorf("env %v, want CPU=500 and MEM=64", env)
	}
}
