package manifest

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// TestTypesMatchKubernetes holds podd's types to Kubernetes' own (k8s.io/api, a test-only
// dependency that never enters the binaries), kind by kind: every field podd accepts exists
// upstream under the same JSON name with the same type, and every upstream field is either
// accepted or in the decoder's tables of refused and dropped fields (unsupportedFields,
// kindFields), itself or through an ancestor. A field Kubernetes adds in a new release fails this
// test until podd implements it or says it refuses it.
func TestTypesMatchKubernetes(t *testing.T) {
	kinds := []struct {
		kind     string
		ours     any
		upstream any
	}{
		{"Pod", pod.Pod{}, corev1.Pod{}},
		{"Deployment", object.Deployment{}, appsv1.Deployment{}},
		{"ReplicaSet", object.ReplicaSet{}, appsv1.ReplicaSet{}},
		{"StatefulSet", object.StatefulSet{}, appsv1.StatefulSet{}},
		{"Job", object.Job{}, batchv1.Job{}},
		{"ConfigMap", object.ConfigMap{}, corev1.ConfigMap{}},
		{"Secret", object.Secret{}, corev1.Secret{}},
		{"Service", object.Service{}, corev1.Service{}},
		{"PersistentVolumeClaim", object.PersistentVolumeClaim{}, corev1.PersistentVolumeClaim{}},
	}
	// Where podd's type differs on purpose, and why.
	sameOnTheWire := map[string]string{
		// base64 text in YAML and JSON either way; podd keeps it as text and decodes it when used.
		"configmap.binaryData[*]": "string",
		"secret.data[*]":          "string",
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			root := ""
			if k.kind != "Pod" {
				root = kindRoot(k.kind)
			}
			ours, theirs := map[string]string{}, map[string]string{}
			walkFields(reflect.TypeOf(k.ours), root, ours, oursShape)
			walkFields(reflect.TypeOf(k.upstream), root, theirs, theirShape)
			for _, path := range slices.Sorted(mapKeys(ours)) {
				if droppedPath(path) {
					continue // status and server-set fields: podd's output, never read from a manifest
				}
				want, ok := theirs[path]
				switch {
				case !ok:
					t.Errorf("%s: podd accepts it, Kubernetes has no such field", path)
				case ours[path] != want && sameOnTheWire[path] != ours[path]:
					t.Errorf("%s: podd reads %s, Kubernetes %s", path, ours[path], want)
				}
			}
			for _, path := range slices.Sorted(mapKeys(theirs)) {
				if _, ok := ours[path]; ok || refusedOrDropped(path) {
					continue
				}
				t.Errorf("%s: a Kubernetes field podd neither accepts nor lists as refused (pkg/manifest unsupportedFields / kindFields)", path)
			}
		})
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// refusedOrDropped: the decoder's tables name the path or one of its ancestors.
func refusedOrDropped(path string) bool {
	for p := path; p != ""; p = parentPath(p) {
		if _, ok := unsupportedFields[p]; ok {
			return true
		}
		if _, ok := kindUnsupported[p]; ok {
			return true
		}
	}
	return false
}

// droppedPath: the path or an ancestor is discarded on reading.
func droppedPath(path string) bool {
	for p := path; p != ""; p = parentPath(p) {
		if u, ok := unsupportedFields[p]; ok && u.dropped {
			return true
		}
		if u, ok := kindUnsupported[p]; ok && u.dropped {
			return true
		}
	}
	return false
}

// shape says what a type is on the wire, and which types restart the generic path (as the
// decoder's shapeRoots do).
type shape func(reflect.Type) (category string, leaf bool, root string, restart bool)

func oursShape(t reflect.Type) (string, bool, string, bool) {
	switch t {
	case reflect.TypeFor[pod.Quantity]():
		return "quantity", true, "", false
	case reflect.TypeFor[pod.IntOrString]():
		return "int-or-string", true, "", false
	case reflect.TypeFor[time.Time]():
		return "time", true, "", false
	}
	if root, ok := shapeRoots[t]; ok {
		return "object", false, root, true
	}
	return "", false, "", false
}

func theirShape(t reflect.Type) (string, bool, string, bool) {
	switch t {
	case reflect.TypeFor[resource.Quantity]():
		return "quantity", true, "", false
	case reflect.TypeFor[intstr.IntOrString]():
		return "int-or-string", true, "", false
	case reflect.TypeFor[metav1.Time](), reflect.TypeFor[metav1.MicroTime]():
		return "time", true, "", false
	case reflect.TypeFor[corev1.PodTemplateSpec]():
		return "object", false, "", true
	case reflect.TypeFor[corev1.PersistentVolumeClaim]():
		return "object", false, kindRoot("PersistentVolumeClaim"), true
	}
	return "", false, "", false
}

// walkFields records the category of every field under t by generic path ("spec.containers[].image",
// "metadata.labels[*]"), as the decoder spells paths in its tables.
func walkFields(t reflect.Type, generic string, out map[string]string, sh shape) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if cat, leaf, root, restart := sh(t); leaf {
		out[generic] = cat
		return
	} else if restart && generic != root {
		out[generic] = "object"
		walkFields(t, root, out, sh) // the subtree is checked under its own root
		return
	}
	if generic != "" {
		out[generic] = category(t)
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
				walkFields(f.Type, generic, out, sh) // TypeMeta, inline
				continue
			}
			walkFields(f.Type, joinPath(generic, name), out, sh)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return
		}
		item := generic + "[]"
		if same, ok := sameShapes[item]; ok {
			item = same
		}
		walkFields(t.Elem(), item, out, sh)
	case reflect.Map:
		walkFields(t.Elem(), generic+"[*]", out, sh)
	}
}

func category(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "list"
	case reflect.Map:
		return "map"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int32, reflect.Int64, reflect.Int:
		return t.Kind().String()
	}
	return fmt.Sprint(t.Kind())
}
