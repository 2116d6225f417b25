package object

import (
	"encoding/json"
	"reflect"

	"github.com/podd-dev/podd/pkg/pod"
)

// Desired is o without what podd assigns (identity, generation, owners, status): what a manifest
// says. Two objects with equal Desired forms are the same request.
func Desired(o Object) Object {
	c := Copy(o)
	m := c.GetMetadata()
	m.UID, m.CreationTimestamp, m.Generation, m.OwnerReferences = "", nil, 0, nil
	clearStatus(c)
	return c
}

// Copy is a deep copy of o.
func Copy(o Object) Object {
	k, ok := KindOf(o.GetKind())
	if !ok {
		panic("object: copy of an unknown kind " + o.GetKind())
	}
	data, err := json.Marshal(o)
	if err != nil {
		panic("object: copy: " + err.Error())
	}
	c := k.New()
	if err := json.Unmarshal(data, c); err != nil {
		panic("object: copy: " + err.Error())
	}
	return c
}

func clearStatus(o Object) {
	v := reflect.ValueOf(o).Elem()
	if f := v.FieldByName("Status"); f.IsValid() {
		f.SetZero()
	}
}

// Spec is the part of o whose change is a new generation: spec, or data for ConfigMaps and Secrets.
func Spec(o Object) any {
	switch o := o.(type) {
	case *ConfigMap:
		return []any{o.Data, o.BinaryData, o.Immutable}
	case *Secret:
		return []any{o.Data, o.Type, o.Immutable}
	}
	v := reflect.ValueOf(o).Elem()
	if f := v.FieldByName("Spec"); f.IsValid() {
		return f.Interface()
	}
	return nil
}

// SameSpec reports whether a and b ask for the same spec.
func SameSpec(a, b Object) bool {
	ja, _ := json.Marshal(Spec(a))
	jb, _ := json.Marshal(Spec(b))
	return string(ja) == string(jb)
}

// ValidateUpdate checks a change of old into updated as Kubernetes' API server does: the fields
// it refuses to change are named.
func ValidateUpdate(old, updated Object) pod.ErrorList {
	var errs pod.ErrorList
	immutable := func(field string, a, b any) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			errs.Invalid(field, string(jb), "field is immutable")
		}
	}
	switch o := old.(type) {
	case *Deployment:
		immutable("spec.selector", o.Spec.Selector, updated.(*Deployment).Spec.Selector)
	case *ReplicaSet:
		immutable("spec.selector", o.Spec.Selector, updated.(*ReplicaSet).Spec.Selector)
	case *StatefulSet:
		n := updated.(*StatefulSet)
		// Kubernetes lets replicas, template, updateStrategy, persistentVolumeClaimRetentionPolicy,
		// minReadySeconds and ordinals change; the rest is fixed.
		a, b := o.Spec, n.Spec
		a.Replicas, a.Template, a.UpdateStrategy, a.PersistentVolumeClaimRetentionPolicy, a.MinReadySeconds, a.Ordinals = nil, pod.PodTemplateSpec{}, StatefulSetUpdateStrategy{}, nil, 0, nil
		b.Replicas, b.Template, b.UpdateStrategy, b.PersistentVolumeClaimRetentionPolicy, b.MinReadySeconds, b.Ordinals = nil, pod.PodTemplateSpec{}, StatefulSetUpdateStrategy{}, nil, 0, nil
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			errs.Forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
		}
	case *Job:
		n := updated.(*Job)
		immutable("spec.completionMode", o.Spec.CompletionMode, n.Spec.CompletionMode)
		immutable("spec.completions", o.Spec.Completions, n.Spec.Completions)
		immutable("spec.template", o.Spec.Template, n.Spec.Template)
		immutable("spec.backoffLimitPerIndex", o.Spec.BackoffLimitPerIndex, n.Spec.BackoffLimitPerIndex)
	case *ConfigMap:
		n := updated.(*ConfigMap)
		if o.Immutable != nil && *o.Immutable {
			immutable("immutable", o.Immutable, n.Immutable)
			immutable("data", o.Data, n.Data)
			immutable("binaryData", o.BinaryData, n.BinaryData)
		}
	case *Secret:
		n := updated.(*Secret)
		immutable("type", o.Type, n.Type)
		if o.Immutable != nil && *o.Immutable {
			immutable("immutable", o.Immutable, n.Immutable)
			if !SameSpec(o, n) {
				// Never the value of a Secret in a message.
				errs.Forbidden("data", "field is immutable when `immutable` is set")
			}
		}
	case *Service:
		n := updated.(*Service)
		immutable("spec.clusterIP", o.Spec.ClusterIP, n.Spec.ClusterIP)
	case *PersistentVolumeClaim:
		n := updated.(*PersistentVolumeClaim)
		a, b := o.Spec, n.Spec
		a.Resources, b.Resources = pod.ResourceRequirements{}, pod.ResourceRequirements{}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			errs.Forbidden("spec", "spec is immutable after creation except resources.requests")
		}
	}
	return errs
}
