package pod

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
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

const hostPortPod = `apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers:
  - {name: a, image: "busybox:1"}
  - name: b
    image: "busybox:1"
    ports:
    - {containerPort: 80, hostPort: 8080}
`

func TestCreateRefusesTakenHostPort(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := m.Create(context.Background(), []byte(strings.Replace(hostPortPod, "NAME", "first", 1))); err != nil {
		t.Fatal(err)
	}
	for _, manifest := range []string{
		strings.Replace(hostPortPod, "NAME", "second", 1),
		// Two new pods that want the same port: the second is refused, and so both are.
		strings.Replace(hostPortPod, "NAME", "third", 1) + "---\n" + strings.Replace(strings.Replace(hostPortPod, "NAME", "fourth", 1), "hostPort: 8080", "hostPort: 9090", 1) +
			"---\n" + strings.Replace(strings.Replace(hostPortPod, "NAME", "fifth", 1), "hostPort: 8080", "hostPort: 9090", 1),
	} {
		_, err := m.Create(context.Background(), []byte(manifest))
		if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), "spec.containers[1].ports[0].hostPort: port 8080/TCP on 0.0.0.0 is already in use by pod default/first") {
			t.Errorf("err = %v, want already exists naming spec.containers[1].ports[0].hostPort", err)
		}
	}
	if n := st.count(); n != 1 {
		t.Errorf("store has %d records, want 1", n)
	}
}

func TestBuildPlanAddressesInEnv(t *testing.T) {
	pods, err := Decode([]byte(`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: a
    image: "busybox:1"
    env:
    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
    - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: HOSTS, valueFrom: {fieldRef: {fieldPath: status.hostIPs}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	SetDefaults(p)
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
	sb := &Sandbox{PodIPs: []string{"10.123.0.5", "fd00::5"}, HostIP: "192.0.2.2"}
	plan, err := BuildPlan(p, &p.Spec.Containers[0], &ImageConfig{Cmd: []string{"sh"}}, sb, 0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"IP=10.123.0.5", "IPS=10.123.0.5,fd00::5", "HOST=192.0.2.2", "HOSTS=192.0.2.2"}
	if !slices.Equal(plan.Env, want) {
		t.Errorf("env %q, want %q", plan.Env, want)
	}
	if p.Status.PodIP != "" {
		t.Errorf("BuildPlan changed the pod's status: %+v", p.Status)
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

// TestExamplesValidate: the example manifests in specs/examples decode and validate.
func TestExamplesValidate(t *testing.T) {
	paths, err := filepath.Glob("../../specs/examples/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pods, err := Decode(data)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		for _, p := range pods {
			SetDefaults(p)
			if err := Validate(p); err != nil {
				t.Errorf("%s: pod %s: %v", path, p.Metadata.Name, err)
			}
		}
	}
}
