package pod

import (
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
			got, changes, err := ApplyMetadataPatch(base, tt.patch)
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
