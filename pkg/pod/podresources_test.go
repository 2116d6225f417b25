package pod

import (
	"strings"
	"testing"
)

func podLevel(t *testing.T, doc string) *Pod {
	t.Helper()
	p := &Pod{APIVersion: "v1", Kind: "Pod", Metadata: ObjectMeta{Name: "p", Namespace: "default"},
		Spec: PodSpec{Containers: []Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}}}
	set := func(rl *ResourceList, name, v string) {
		q, err := ParseQuantity(v)
		if err != nil {
			t.Fatal(err)
		}
		if *rl == nil {
			*rl = ResourceList{}
		}
		(*rl)[name] = q
	}
	for _, f := range strings.Fields(doc) {
		// where.kind.name=value: pod.limits.memory=64Mi, a.requests.cpu=100m
		k, v, _ := strings.Cut(f, "=")
		parts := strings.Split(k, ".")
		var r *ResourceRequirements
		switch parts[0] {
		case "pod":
			if p.Spec.Resources == nil {
				p.Spec.Resources = &ResourceRequirements{}
			}
			r = p.Spec.Resources
		case "a":
			r = &p.Spec.Containers[0].Resources
		case "b":
			r = &p.Spec.Containers[1].Resources
		}
		if parts[1] == "limits" {
			set(&r.Limits, parts[2], v)
		} else {
			set(&r.Requests, parts[2], v)
		}
	}
	SetDefaults(p)
	return p
}

func TestPodLevelResources(t *testing.T) {
	tests := []struct {
		doc       string
		qos       QOSClass
		cpuReq    int64
		cpuLimit  int64
		memLimit  int64
		wantError string
	}{
		{"pod.limits.memory=64Mi", QOSBurstable, 0, 0, 64 << 20, ""},
		{"pod.limits.cpu=1 pod.limits.memory=64Mi", QOSGuaranteed, 1000, 1000, 64 << 20, ""},
		{"pod.limits.cpu=1 pod.requests.cpu=500m pod.limits.memory=64Mi", QOSBurstable, 500, 1000, 64 << 20, ""},
		// Pod-level values decide, whatever the containers say.
		{"pod.limits.cpu=2 pod.limits.memory=1Gi a.limits.cpu=1 a.limits.memory=64Mi", QOSGuaranteed, 2000, 2000, 1 << 30, ""},
		{"pod.requests.cpu=100m a.requests.cpu=80m b.requests.cpu=40m", QOSBurstable, 0, 0, 0, "spec.resources.requests.cpu: Invalid value: \"100m\": must be greater than or equal to aggregate container requests of 120m"},
		{"pod.limits.memory=64Mi a.limits.memory=128Mi", QOSBurstable, 0, 0, 0, "spec.resources.limits.memory: Invalid value: \"64Mi\": must be greater than or equal to container a's limit of 128Mi"},
		{"pod.limits.memory=64Mi pod.requests.memory=128Mi", QOSBurstable, 0, 0, 0, "spec.resources.requests.memory: Invalid value: \"128Mi\": must be less than or equal to memory limit of 64Mi"},
		{"pod.limits.ephemeral-storage=1Gi", QOSBurstable, 0, 0, 0, "spec.resources.limits: Unsupported value: \"ephemeral-storage\""},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			p := podLevel(t, tt.doc)
			err := Validate(p)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("Validate: %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := PodQOSClass(&p.Spec); got != tt.qos {
				t.Errorf("QoS %s, want %s", got, tt.qos)
			}
			r := EffectivePodResources(&p.Spec)
			if r.CPURequestMilli != tt.cpuReq || r.CPULimitMilli != tt.cpuLimit || r.MemoryLimit != tt.memLimit {
				t.Errorf("effective %+v, want cpu %d/%d memory %d", r, tt.cpuReq, tt.cpuLimit, tt.memLimit)
			}
		})
	}
}

// TestResourceFieldFallsBackToPodLimit: a container without its own limit reports the pod's, as
// the kubelet does with pod-level resources, and the node's without either.
func TestResourceFieldFallsBackToPodLimit(t *testing.T) {
	node := NodeCapacity{MilliCPU: 2000, MemoryBytes: 8 << 30}
	p := podLevel(t, "pod.limits.memory=64Mi a.limits.memory=32Mi")
	for _, tt := range []struct {
		container, resource, want string
	}{
		{"a", "limits.memory", "33554432"},
		{"b", "limits.memory", "67108864"},
		{"b", "limits.cpu", "2"},
	} {
		got, err := ResourceFieldValue(p, &ResourceFieldSelector{ContainerName: tt.container, Resource: tt.resource}, "", node)
		if err != nil || got != tt.want {
			t.Errorf("%s %s = %q, %v, want %s", tt.container, tt.resource, got, err, tt.want)
		}
	}
}
