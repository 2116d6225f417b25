package pod

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestFormatMap(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"empty", nil, ""},
		{"one", map[string]string{"app": "web"}, `app="web"`},
		{"sorted, no final newline", map[string]string{"b": "2", "a": "1", "app.kubernetes.io/name": "x"}, "a=\"1\"\napp.kubernetes.io/name=\"x\"\nb=\"2\""},
		{"escaped as %q", map[string]string{"note": "say \"hi\"\nnow\t\\ é"}, `note="say \"hi\"\nnow\t\\ é"`},
		{"empty value", map[string]string{"k": ""}, `k=""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatMap(tt.in); got != tt.want {
				t.Errorf("FormatMap = %q, want %q", got, tt.want)
			}
		})
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
			if !slices.ContainsFunc(errs, func(e *FieldError) bool { return e.Field == tt.field && strings.Contains(e.Detail, tt.detail) }) {
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
	files, err := DownwardAPIFiles(p, p.Spec.Volumes[0].DownwardAPI, NodeCapacity{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]VolumeFile{
		"labels":      {[]byte("app=\"web\"\ntier=\"front\""), 0o400},
		"annotations": {[]byte(`note="hi"`), 0o400},
		"meta/name":   {[]byte("web"), 0o400},
		"namespace":   {[]byte("default"), 0o400},
		"uid":         {[]byte("u-1"), 0o644},
		"app":         {[]byte("web"), 0o400},
		"missing":     {[]byte(""), 0o400},
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

func ptr(s string) *string { return &s }

func TestApplyMetadataPatch(t *testing.T) {
	base := ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}}
	tests := []struct {
		name        string
		patch       MetadataPatch
		labels      map[string]string
		annotations map[string]string
		changes     string
		err         string
		class       func(error) bool
	}{
		{name: "add", patch: MetadataPatch{Labels: map[string]*string{"tier": ptr("front")}},
			labels: map[string]string{"app": "web", "tier": "front"}, annotations: base.Annotations, changes: "labels tier=front"},
		{name: "same value needs no overwrite", patch: MetadataPatch{Labels: map[string]*string{"app": ptr("web")}},
			labels: base.Labels, annotations: base.Annotations},
		{name: "change refused without overwrite", patch: MetadataPatch{Labels: map[string]*string{"app": ptr("api")}},
			err: "'app' already has a value (web), and --overwrite is false", class: errdefs.IsFailedPrecondition},
		{name: "change with overwrite", patch: MetadataPatch{Labels: map[string]*string{"app": ptr("api")}, Overwrite: true},
			labels: map[string]string{"app": "api"}, annotations: base.Annotations, changes: "labels app=api"},
		{name: "remove", patch: MetadataPatch{Labels: map[string]*string{"app": nil}, Annotations: map[string]*string{"note": nil}},
			labels: nil, annotations: nil, changes: "labels app removed, annotations note removed"},
		{name: "remove missing is no error", patch: MetadataPatch{Labels: map[string]*string{"nope": nil}},
			labels: base.Labels, annotations: base.Annotations},
		{name: "bad key", patch: MetadataPatch{Labels: map[string]*string{"a b": ptr("x")}},
			err: "metadata.labels[a b]", class: errdefs.IsInvalidArgument},
		{name: "bad value", patch: MetadataPatch{Labels: map[string]*string{"ok": ptr("-x")}},
			err: `metadata.labels[ok]: Invalid value: "-x"`, class: errdefs.IsInvalidArgument},
		{name: "annotation value is free text", patch: MetadataPatch{Annotations: map[string]*string{"desc": ptr("any text, \"quoted\"")}},
			labels: base.Labels, annotations: map[string]string{"note": "hi", "desc": "any text, \"quoted\""}, changes: `annotations desc=any text, "quoted"`},
		{name: "api-socket annotation is fixed", patch: MetadataPatch{Annotations: map[string]*string{AnnotationAPISocket: ptr("true")}},
			err: "set only when the pod is created", class: errdefs.IsInvalidArgument},
		{name: "empty patch", patch: MetadataPatch{}, err: "no label or annotation to change", class: errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changes, err := applyMetadataPatch(base, tt.patch)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !tt.class(err) {
					t.Fatalf("err = %v, want one containing %q of the right class", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if changes != tt.changes {
				t.Errorf("changes = %q, want %q", changes, tt.changes)
			}
			if !mapsEqual(got.Labels, tt.labels) || !mapsEqual(got.Annotations, tt.annotations) {
				t.Errorf("got labels %v annotations %v, want %v %v", got.Labels, got.Annotations, tt.labels, tt.annotations)
			}
			if base.Labels["app"] != "web" || len(base.Labels) != 1 {
				t.Errorf("the patch changed its input: %v", base.Labels)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestUpdateMetadata(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	ctx := context.Background()
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: a
    image: "busybox:1"
    env:
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
`
	if _, err := m.Create(ctx, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "web", "running", func(p *Pod) bool {
		return p != nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	p, err := m.UpdateMetadata(ctx, "default", "web", MetadataPatch{Labels: map[string]*string{"app": ptr("api")}, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Labels["app"] != "api" {
		t.Errorf("labels = %v", p.Metadata.Labels)
	}
	// Stored before the answer.
	recs, _ := st.List(ctx)
	if len(recs) != 1 || recs[0].Pod.Metadata.Labels["app"] != "api" {
		t.Errorf("store holds %+v", recs)
	}
	// The volumes were rewritten with the new labels.
	rt.mu.Lock()
	refreshed := slices.Clone(rt.refreshed)
	var env []string
	for _, c := range rt.containers {
		env = c.plan.Env
	}
	rt.mu.Unlock()
	if len(refreshed) != 1 || refreshed[0]["app"] != "api" {
		t.Errorf("RefreshDownwardAPI saw %v", refreshed)
	}
	// The environment keeps the value the container started with, and spec.nodeName is the node's.
	if !slices.Contains(env, "APP=web") || !slices.Contains(env, "NODE=node-1") {
		t.Errorf("env = %v", env)
	}
	// An event records it; the container was not restarted.
	evs, _ := m.Events(ctx, "default", "web")
	if !slices.ContainsFunc(evs, func(e Event) bool {
		return e.Reason == "MetadataUpdated" && strings.Contains(e.Message, "labels app=api")
	}) {
		t.Errorf("no MetadataUpdated event: %+v", evs)
	}
	if got := strings.Join(rt.history(), " "); strings.Count(got, "start:") != 1 {
		t.Errorf("history = %s", got)
	}
	// Refused changes change nothing.
	if _, err := m.UpdateMetadata(ctx, "default", "web", MetadataPatch{Labels: map[string]*string{"app": ptr("x")}}); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("change without overwrite: %v", err)
	}
	if _, err := m.UpdateMetadata(ctx, "default", "nope", MetadataPatch{Labels: map[string]*string{"a": ptr("x")}}); !errdefs.IsNotFound(err) {
		t.Errorf("missing pod: %v", err)
	}
	st.fail = errdefs.ErrUnavailable
	if _, err := m.UpdateMetadata(ctx, "default", "web", MetadataPatch{Labels: map[string]*string{"b": ptr("x")}}); err == nil {
		t.Error("a store failure was not reported")
	}
	st.fail = nil
	if p, _ := m.Get(ctx, "default", "web"); p.Metadata.Labels["b"] != "" || p.Metadata.Labels["app"] != "api" {
		t.Errorf("a refused change changed the pod: %v", p.Metadata.Labels)
	}
}

func TestBindNode(t *testing.T) {
	m := NewManager(Options{NodeName: "node-1"})
	for _, tt := range []struct{ in, want, err string }{
		{"", "node-1", ""},
		{"node-1", "node-1", ""},
		{"other", "", `spec.nodeName: Invalid value: "other": this podd runs node "node-1"`},
	} {
		p := &Pod{Spec: PodSpec{NodeName: tt.in}}
		err := m.bindNode(p)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%q: err = %v", tt.in, err)
			}
			continue
		}
		if err != nil || p.Spec.NodeName != tt.want {
			t.Errorf("%q: nodeName %q, err %v", tt.in, p.Spec.NodeName, err)
		}
	}
}

func TestWantsAPISocket(t *testing.T) {
	for _, tt := range []struct {
		value     string
		container string
		want      bool
	}{
		{"", "a", false}, {"false", "a", false}, {"true", "a", true}, {"true", "", true},
		{"a, b", "b", true}, {"a,b", "c", false}, {"a", "", true},
	} {
		p := &Pod{}
		if tt.value != "" {
			p.Metadata.Annotations = map[string]string{AnnotationAPISocket: tt.value}
		}
		if got := WantsAPISocket(p, tt.container); got != tt.want {
			t.Errorf("WantsAPISocket(%q, %q) = %t", tt.value, tt.container, got)
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
	if !HasDownwardAPIVolume(pods[0]) || !WantsAPISocket(pods[0], "app") {
		t.Errorf("the example lost its downwardAPI volume or its API socket")
	}
}
