package pod

import (
	"testing"
)

func TestHostPortsOverlap(t *testing.T) {
	port := func(ip, proto string, hp int32) ContainerPort {
		return ContainerPort{ContainerPort: 80, HostPort: hp, HostIP: ip, Protocol: proto}
	}
	for _, tc := range []struct {
		name string
		a, b ContainerPort
		want bool
	}{
		{"same", port("", "TCP", 8080), port("", "TCP", 8080), true},
		{"all addresses and one", port("", "TCP", 8080), port("127.0.0.1", "TCP", 8080), true},
		{"0.0.0.0 and one", port("127.0.0.1", "TCP", 8080), port("0.0.0.0", "TCP", 8080), true},
		{"two addresses", port("127.0.0.1", "TCP", 8080), port("192.0.2.2", "TCP", 8080), false},
		{"protocols", port("", "TCP", 8080), port("", "UDP", 8080), false},
		{"ports", port("", "TCP", 8080), port("", "TCP", 8081), false},
	} {
		if got := hostPortsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: overlap = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNetworkMode(t *testing.T) {
	p := &Pod{}
	if m := NetworkMode(p); m != NetworkBridge {
		t.Errorf("default mode %s", m)
	}
	p.Metadata.Annotations = map[string]string{AnnotationNetwork: "none"}
	if m := NetworkMode(p); m != NetworkNone {
		t.Errorf("annotated mode %s", m)
	}
	p.Spec.HostNetwork = true
	if m := NetworkMode(p); m != NetworkHost {
		t.Errorf("hostNetwork mode %s", m)
	}
}
