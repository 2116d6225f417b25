package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestDownwardAPIValidation(t *testing.T) {
	item := func(lines string) string { return downwardHead + "      items:\n" + lines }
	tests := []struct {
		name     string
		manifest string
		field    string
		detail   string
	}{
		{"absolute path", item("      - {path: /etc/x, fieldRef: {fieldPath: metadata.name}}\n"), "spec.volumes[0].downwardAPI.items[0].path", "must be a relative path"},
		{"backstep", item("      - {path: a/../../x, fieldRef: {fieldPath: metadata.name}}\n"), "spec.volumes[0].downwardAPI.items[0].path", "must not contain '..'"},
		{"dotdot prefix", item("      - {path: ..data, fieldRef: {fieldPath: metadata.name}}\n"), "spec.volumes[0].downwardAPI.items[0].path", "must not start with '..'"},
		{"missing path", item("      - {fieldRef: {fieldPath: metadata.name}}\n"), "spec.volumes[0].downwardAPI.items[0].path", "Required value"},
		{"duplicate path", item("      - {path: name, fieldRef: {fieldPath: metadata.name}}\n      - {path: ./name, fieldRef: {fieldPath: metadata.uid}}\n"), "spec.volumes[0].downwardAPI.items[1].path", "Duplicate value"},
		{"no source", item("      - {path: name}\n"), "spec.volumes[0].downwardAPI.items[0].fieldRef", "must specify fieldRef"},
		{"unsupported fieldPath", item("      - {path: n, fieldRef: {fieldPath: spec.nodeName}}\n"), "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath", `Unsupported value: "spec.nodeName"`},
		{"bad label key", item("      - {path: n, fieldRef: {fieldPath: \"metadata.labels['a b']\"}}\n"), "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath", "name part must consist of"},
		{"bad apiVersion", item("      - {path: n, fieldRef: {apiVersion: v2, fieldPath: metadata.name}}\n"), "spec.volumes[0].downwardAPI.items[0].fieldRef.apiVersion", `Unsupported value: "v2"`},
		{"resourceFieldRef without containerName", item("      - {path: cpu, resourceFieldRef: {resource: limits.cpu}}\n"), "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName", "Required value"},
		{"resourceFieldRef of no container", item("      - {path: cpu, resourceFieldRef: {containerName: db, resource: limits.cpu}}\n"), "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName", `Not found: "db"`},
		{"resourceFieldRef resource", item("      - {path: cpu, resourceFieldRef: {containerName: app, resource: limits.gpu}}\n"), "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.resource", `Unsupported value: "limits.gpu"`},
		{"resourceFieldRef cpu divisor", item("      - {path: cpu, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1Mi}}\n"), "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.divisor", `Unsupported value: "1Mi"`},
		{"fieldRef and resourceFieldRef", item("      - {path: cpu, fieldRef: {fieldPath: metadata.name}, resourceFieldRef: {containerName: app, resource: limits.cpu}}\n"), "spec.volumes[0].downwardAPI.items[0]", "may not both be specified"},
		{"mode too large", item("      - {path: n, mode: 512, fieldRef: {fieldPath: metadata.name}}\n"), "spec.volumes[0].downwardAPI.items[0].mode", "between 0 and 0777"},
		{"defaultMode negative", downwardHead + "      defaultMode: -1\n", "spec.volumes[0].downwardAPI.defaultMode", "between 0 and 0777"},
		{"two sources", downwardHead + "      items: []\n    emptyDir: {}\n", "spec.volumes[0].downwardAPI", "may not specify more than 1 volume type"},
		{"node elsewhere is no decode error but spec.nodeName must be a string", strings.Replace(downwardHead, "spec:\n", "spec:\n  nodeName: 7\n", 1) + "      items: []\n", "spec.nodeName", "must be a string"},
		{"api-socket bad value", strings.Replace(downwardHead, "note: hi", "note: hi, podd.io/api-socket: nope", 1) + "      items: []\n", "metadata.annotations[podd.io/api-socket]", `"nope" is not a container of the pod`},
		{"api-socket mount clash", strings.Replace(downwardHead, "image: busybox\n", "image: busybox\n    volumeMounts: [{name: info, mountPath: /run/podd/}]\n", 1) + "      items: []\n" + "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.manifest
			if tt.field == "" { // the clash needs the annotation
				m = strings.Replace(m, "note: hi", "note: hi, podd.io/api-socket: \"true\"", 1)
				tt.field, tt.detail = "spec.containers[0].volumeMounts[0].mountPath", "per-pod API socket"
			}
			pods, err := Decode([]byte(m))
			if pods != nil {
				t.Fatal("Decode returned pods along with an error")
			}
			errs := fieldErrors(t, err)
			if !slices.ContainsFunc(errs, func(e *pod.FieldError) bool { return e.Field == tt.field && strings.Contains(e.Detail, tt.detail) }) {
				t.Errorf("want %s: %q; got:\n%v", tt.field, tt.detail, err)
			}
		})
	}
}

func TestDownwardAPIFiles(t *testing.T) {
	m := downwardHead + `      defaultMode: 0400
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: meta/name, fieldRef: {fieldPath: metadata.name}}
      - {path: namespace, fieldRef: {fieldPath: metadata.namespace}}
      - {path: uid, mode: 0644, fieldRef: {fieldPath: metadata.uid}}
      - {path: app, fieldRef: {fieldPath: "metadata.labels['app']"}}
      - {path: missing, fieldRef: {fieldPath: "metadata.annotations['nope']"}}
`
	pods, err := Decode([]byte(m))
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	p.Metadata.UID = "u-1"
	files, err := pod.DownwardAPIFiles(p, p.Spec.Volumes[0].DownwardAPI, pod.NodeCapacity{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]pod.VolumeFile{
		"labels":      {Data: []byte("app=\"web\"\ntier=\"front\""), Mode: 0o400},
		"annotations": {Data: []byte(`note="hi"`), Mode: 0o400},
		"meta/name":   {Data: []byte("web"), Mode: 0o400},
		"namespace":   {Data: []byte("default"), Mode: 0o400},
		"uid":         {Data: []byte("u-1"), Mode: 0o644},
		"app":         {Data: []byte("web"), Mode: 0o400},
		"missing":     {Data: []byte(""), Mode: 0o400},
	}
	if len(files) != len(want) {
		t.Errorf("got %d files, want %d: %v", len(files), len(want), files)
	}
	for path, w := range want {
		if g, ok := files[path]; !ok || string(g.Data) != string(w.Data) || g.Mode != w.Mode {
			t.Errorf("%s = %q mode %o, want %q mode %o", path, g.Data, g.Mode, w.Data, w.Mode)
		}
	}
}

// TestDownwardExample keeps the documented example valid.
func TestDownwardExample(t *testing.T) {
	data, err := os.ReadFile("../../specs/examples/downward.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !pod.HasDownwardAPIVolume(pods[0]) || !pod.WantsAPISocket(pods[0], "app") {
		t.Errorf("the example lost its downwardAPI volume or its API socket")
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
	pod.SetDefaults(p)
	if err := pod.Validate(p); err != nil {
		t.Fatal(err)
	}
	sb := &pod.Sandbox{PodIPs: []string{"10.123.0.5", "fd00::5"}, HostIP: "192.0.2.2"}
	plan, err := pod.BuildPlan(p, &p.Spec.Containers[0], &pod.ImageConfig{Cmd: []string{"sh"}}, sb, 0, t.TempDir(), pod.PodQOSClass(&p.Spec), nil)
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

// TestExamplesValidate: the example manifests in specs/examples decode and validate: as Pods for
// podctl run, or (those with other kinds, for podctl apply) as objects.
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
		if err != nil && strings.Contains(err.Error(), "podctl apply takes every kind") {
			if _, err := DecodeObjects(data); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		for _, p := range pods {
			pod.SetDefaults(p)
			if err := pod.Validate(p); err != nil {
				t.Errorf("%s: pod %s: %v", path, p.Metadata.Name, err)
			}
		}
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
			if !slices.ContainsFunc(errs, func(e *pod.FieldError) bool { return e.Field == tt.field && strings.Contains(e.Detail, tt.detail) }) {
				t.Errorf("want %s: %q; got:\n%v", tt.field, tt.detail, err)
			}
		})
	}
	pods, err := Decode([]byte(head + "    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}\n    - {name: MEM, valueFrom: {resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	env, err := pod.ResolveEnv(p, &p.Spec.Containers[0], nil, pod.NodeCapacity{MilliCPU: 2000, MemoryBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "CPU=500") || !slices.Contains(env, "MEM=64") {
		t.Errorf("env %v, want CPU=500 and MEM=64", env)
	}
}

func TestResourcesDecodeDefaultsValidate(t *testing.T) {
	const head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: r\nspec:\n  containers:\n  - name: app\n    image: busybox:1\n    resources:\n"
	pods, err := Decode([]byte(head + "      limits: {cpu: 500m, memory: 64Mi}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pod.SetDefaults(pods[0])
	r := pods[0].Spec.Containers[0].Resources
	if r.Requests[pod.ResourceCPU].MilliValue() != 500 || r.Requests[pod.ResourceMemory].Value() != 64<<20 {
		t.Errorf("requests not defaulted to limits: %+v", r.Requests)
	}
	if q := pod.PodQOSClass(&pods[0].Spec); q != pod.QOSGuaranteed {
		t.Errorf("qos %s", q)
	}
	bad := []struct{ body, want string }{
		{"      requests: {cpu: \"1\"}\n      limits: {cpu: 500m}\n", `spec.containers[0].resources.requests.cpu: Invalid value: "1": must be less than or equal to cpu limit of 500m`},
		{"      limits: {cpu: -1}\n", "spec.containers[0].resources.limits.cpu: Invalid value"},
		{"      limits: {ephemeral-storage: 1Gi}\n", `spec.containers[0].resources.limits: Unsupported value: "ephemeral-storage"`},
		{"      limits: {memory: lots}\n", "spec.containers[0].resources.limits[memory]"},
		{"      claims: [{name: gpu}]\n", "spec.containers[0].resources.claims"},
	}
	for _, b := range bad {
		_, err := Decode([]byte(head + b.body))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want it to contain %q", b.body, err, b.want)
		}
	}
}

const downwardHead = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: front}
  annotations: {note: hi}
spec:
  containers:
  - name: app
    image: busybox
  volumes:
  - name: info
    downwardAPI:
`
