package pod

import (
	"testing"
)

func rl(kv ...string) ResourceList {
	out := ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = MustParseQuantity(kv[i+1])
	}
	return out
}

func ctrWith(limits, requests ResourceList) Container {
	return Container{Name: "c", Image: "busybox", Resources: ResourceRequirements{Limits: limits, Requests: requests}}
}

func TestPodQOSClass(t *testing.T) {
	always := RestartAlways
	tests := []struct {
		name string
		spec PodSpec
		want QOSClass
	}{
		{"nothing set", PodSpec{Containers: []Container{ctrWith(nil, nil)}}, QOSBestEffort},
		{"zero requests count as unset", PodSpec{Containers: []Container{ctrWith(nil, rl("cpu", "0"))}}, QOSBestEffort},
		{"limits equal requests", PodSpec{Containers: []Container{ctrWith(rl("cpu", "500m", "memory", "64Mi"), rl("cpu", "500m", "memory", "64Mi"))}}, QOSGuaranteed},
		{"only a memory limit", PodSpec{Containers: []Container{ctrWith(rl("memory", "64Mi"), rl("memory", "64Mi"))}}, QOSBurstable},
		{"request below limit", PodSpec{Containers: []Container{ctrWith(rl("cpu", "1", "memory", "64Mi"), rl("cpu", "500m", "memory", "64Mi"))}}, QOSBurstable},
		{"one of two containers unlimited", PodSpec{Containers: []Container{
			ctrWith(rl("cpu", "1", "memory", "64Mi"), rl("cpu", "1", "memory", "64Mi")), ctrWith(nil, nil)}}, QOSBurstable},
		{"an init container counts", PodSpec{
			InitContainers: []Container{ctrWith(nil, rl("cpu", "100m"))},
			Containers:     []Container{ctrWith(nil, nil)}}, QOSBurstable},
		{"sidecar and main both guaranteed", PodSpec{
			InitContainers: []Container{func() Container {
				c := ctrWith(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))
				c.RestartPolicy = &always
				return c
			}()},
			Containers: []Container{ctrWith(rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))}}, QOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodQOSClass(&tt.spec); got != tt.want {
				t.Errorf("PodQOSClass = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOOMScoreAdj(t *testing.T) {
	const gi = int64(1) << 30
	tests := []struct {
		qos      QOSClass
		req, cap int64
		want     int
	}{
		{QOSGuaranteed, gi, 8 * gi, -997},
		{QOSBestEffort, 0, 8 * gi, 1000},
		{QOSBurstable, 0, 8 * gi, 999},
		{QOSBurstable, 2 * gi, 8 * gi, 750},
		{QOSBurstable, 8 * gi, 8 * gi, 2},
		{QOSBurstable, 16 * gi, 8 * gi, 2},
		{QOSBurstable, 1, 8 * gi, 999},
	}
	for _, tt := range tests {
		if got := OOMScoreAdj(tt.qos, tt.req, tt.cap); got != tt.want {
			t.Errorf("OOMScoreAdj(%s, %d, %d) = %d, want %d", tt.qos, tt.req, tt.cap, got, tt.want)
		}
	}
}

func TestEffectivePodResources(t *testing.T) {
	always := RestartAlways
	sidecar := ctrWith(rl("cpu", "100m", "memory", "10Mi"), rl("cpu", "100m"))
	sidecar.RestartPolicy = &always
	tests := []struct {
		name string
		spec PodSpec
		want PodResources
	}{
		{"sums when all set", PodSpec{Containers: []Container{
			ctrWith(rl("cpu", "500m", "memory", "64Mi"), rl("cpu", "250m")),
			ctrWith(rl("cpu", "1", "memory", "32Mi"), rl("cpu", "1")),
		}}, PodResources{CPURequestMilli: 1250, CPULimitMilli: 1500, MemoryLimit: 96 << 20}},
		{"no pod limit when one container has none", PodSpec{Containers: []Container{
			ctrWith(rl("cpu", "500m", "memory", "64Mi"), rl("cpu", "500m")),
			ctrWith(rl("memory", "32Mi"), nil),
		}}, PodResources{CPURequestMilli: 500, MemoryLimit: 96 << 20}},
		{"a big init container wins", PodSpec{
			InitContainers: []Container{ctrWith(rl("cpu", "2", "memory", "1Gi"), rl("cpu", "2"))},
			Containers:     []Container{ctrWith(rl("cpu", "500m", "memory", "64Mi"), rl("cpu", "500m"))},
		}, PodResources{CPURequestMilli: 2000, CPULimitMilli: 2000, MemoryLimit: 1 << 30}},
		{"sidecars add to the mains", PodSpec{
			InitContainers: []Container{sidecar},
			Containers:     []Container{ctrWith(rl("cpu", "500m", "memory", "64Mi"), rl("cpu", "500m"))},
		}, PodResources{CPURequestMilli: 600, CPULimitMilli: 600, MemoryLimit: 74 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EffectivePodResources(&tt.spec); got != tt.want {
				t.Errorf("EffectivePodResources = %+v, want %+v", got, tt.want)
			}
		})
	}
}
