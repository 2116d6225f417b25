package pod

import (
	"reflect"
	"testing"
)

func TestDefaultPullPolicy(t *testing.T) {
	const digest = "sha256:2376a0c12759aa1214ba83e771ff252c7b1663216b192fbe5e0fb364e952f85c"
	tests := []struct {
		image string
		want  PullPolicy
	}{
		{"busybox", PullAlways},
		{"busybox:latest", PullAlways},
		{"docker.io/library/busybox:latest", PullAlways},
		{"busybox:1.36", PullIfNotPresent},
		{"busybox:Latest", PullIfNotPresent},
		{"localhost:5000/a/b", PullAlways},
		{"localhost:5000/a/b:latest", PullAlways},
		{"localhost:5000/a/b:1.0", PullIfNotPresent},
		{"registry.example.com:443/team/app", PullAlways},
		{"a/b:1.0@" + digest, PullIfNotPresent},
		{"busybox@" + digest, PullIfNotPresent},
		{"busybox:latest@" + digest, PullIfNotPresent},
		{"localhost:5000/busybox@" + digest, PullIfNotPresent},
		{"", PullAlways},
	}
	for _, tt := range tests {
		if got := defaultPullPolicy(tt.image); got != tt.want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func TestSetDefaults(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		Containers: []Container{{
			Name:  "app",
			Image: "busybox:1.36",
			Ports: []ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: "UDP"}},
			Env:   []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}}},
		}},
		Volumes: []Volume{{Name: "h", HostPath: &HostPathVolumeSource{Path: "/h"}}},
	}}
	SetDefaults(p)
	unset := HostPathUnset
	grace := int64(30)
	want := &Pod{
		APIVersion: "v1",
		Kind:       "Pod",
		Metadata:   ObjectMeta{Namespace: "default"},
		Spec: PodSpec{
			RestartPolicy:                 RestartAlways,
			TerminationGracePeriodSeconds: &grace,
			ServiceAccountName:            "default",
			DeprecatedServiceAccount:      "default",
			Containers: []Container{{
				Name:            "app",
				Image:           "busybox:1.36",
				ImagePullPolicy: PullIfNotPresent,
				Ports:           []ContainerPort{{ContainerPort: 80, Protocol: "TCP"}, {ContainerPort: 53, Protocol: "UDP"}},
				Env:             []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}},
			}},
			Volumes: []Volume{{Name: "h", HostPath: &HostPathVolumeSource{Path: "/h", Type: &unset}}},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("SetDefaults gave\n%+v\nwant\n%+v", p, want)
	}

	// A second pass changes nothing.
	SetDefaults(p)
	if !reflect.DeepEqual(p, want) {
		t.Errorf("SetDefaults is not idempotent")
	}
}

func TestSetDefaultsKeepsValues(t *testing.T) {
	grace := int64(0)
	file := HostPathFile
	p := &Pod{
		APIVersion: "v2",
		Kind:       "Other",
		Metadata:   ObjectMeta{Namespace: "tools"},
		Spec: PodSpec{
			RestartPolicy:                 RestartNever,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []Container{{Image: "busybox", ImagePullPolicy: PullNever, Ports: []ContainerPort{{ContainerPort: 1, Protocol: "SCTP"}}}},
			Volumes:                       []Volume{{HostPath: &HostPathVolumeSource{Type: &file}}},
		},
	}
	SetDefaults(p)
	c := p.Spec.Containers[0]
	if p.APIVersion != "v2" || p.Kind != "Other" || p.Metadata.Namespace != "tools" || p.Spec.RestartPolicy != RestartNever ||
		*p.Spec.TerminationGracePeriodSeconds != 0 || c.ImagePullPolicy != PullNever || c.Ports[0].Protocol != "SCTP" ||
		*p.Spec.Volumes[0].HostPath.Type != HostPathFile {
		t.Errorf("SetDefaults overwrote a value: %+v", p)
	}
}

func TestSetDefaultsHostNetwork(t *testing.T) {
	p := &Pod{Spec: PodSpec{HostNetwork: true, Containers: []Container{{
		Ports: []ContainerPort{{ContainerPort: 80}, {ContainerPort: 81, HostPort: 81}},
	}}}}
	SetDefaults(p)
	for _, port := range p.Spec.Containers[0].Ports {
		if port.HostPort != port.ContainerPort {
			t.Errorf("with hostNetwork, hostPort %d for containerPort %d", port.HostPort, port.ContainerPort)
		}
	}
}

func TestSetDefaultsProbesAndInitContainers(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		InitContainers: []Container{{Image: "busybox:1.36", Ports: []ContainerPort{{ContainerPort: 9}}}},
		Containers: []Container{{
			Image:          "busybox",
			LivenessProbe:  &Probe{HTTPGet: &HTTPGetAction{Port: IntOrString{IntVal: 80}}},
			ReadinessProbe: &Probe{TCPSocket: &TCPSocketAction{Port: IntOrString{IntVal: 80}}, PeriodSeconds: 2, FailureThreshold: 1},
			Lifecycle:      &Lifecycle{PreStop: &LifecycleHandler{HTTPGet: &HTTPGetAction{Port: IntOrString{IntVal: 80}, Scheme: "HTTPS"}}},
		}},
	}}
	SetDefaults(p)
	init := p.Spec.InitContainers[0]
	if init.ImagePullPolicy != PullIfNotPresent || init.Ports[0].Protocol != "TCP" {
		t.Errorf("init container not defaulted: %+v", init)
	}
	c := p.Spec.Containers[0]
	want := Probe{HTTPGet: &HTTPGetAction{Port: IntOrString{IntVal: 80}, Path: "/", Scheme: "HTTP"}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	if !reflect.DeepEqual(*c.LivenessProbe, want) {
		t.Errorf("liveness probe = %+v, want %+v", *c.LivenessProbe, want)
	}
	if r := c.ReadinessProbe; r.PeriodSeconds != 2 || r.FailureThreshold != 1 || r.TimeoutSeconds != 1 || r.SuccessThreshold != 1 {
		t.Errorf("readiness probe = %+v", *r)
	}
	if h := c.Lifecycle.PreStop.HTTPGet; h.Path != "/" || h.Scheme != "HTTPS" {
		t.Errorf("preStop httpGet = %+v", *h)
	}
}

// serviceAccountName defaults as the API server's conversion and ServiceAccount admission make it:
// the new field wins over its deprecated alias, which then repeats it; neither gives "default".
func TestServiceAccountNameDefaults(t *testing.T) {
	for _, tt := range []struct{ name, alias, want string }{
		{"", "", "default"},
		{"builder", "", "builder"},
		{"", "builder", "builder"},
		{"builder", "legacy", "builder"},
	} {
		p := &Pod{Spec: PodSpec{ServiceAccountName: tt.name, DeprecatedServiceAccount: tt.alias}}
		SetDefaults(p)
		if p.Spec.ServiceAccountName != tt.want || p.Spec.DeprecatedServiceAccount != tt.want {
			t.Errorf("serviceAccountName %q, serviceAccount %q: defaulted to %q, %q; want %q for both",
				tt.name, tt.alias, p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount, tt.want)
		}
	}
}
