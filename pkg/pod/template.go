package pod

import (
	"encoding/json"
	"strings"
)

// PodTemplateSpec is the pod a workload (Deployment, ReplicaSet, StatefulSet, Job) makes copies of.
type PodTemplateSpec struct {
	Metadata ObjectMeta `json:"metadata,omitempty"`
	Spec     PodSpec    `json:"spec"`
}

// OwnerReference is Kubernetes' metadata.ownerReferences item: the object a pod (or a
// ReplicaSet) belongs to. podd sets it on what its controllers create; a manifest's own is dropped.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// TemplatePod is the pod a template describes, named name in namespace, defaulted as a pod. The
// template's labels and annotations are copied, so that the pod can be changed freely.
func TemplatePod(t *PodTemplateSpec, namespace, name string) *Pod {
	p := &Pod{APIVersion: "v1", Kind: "Pod"}
	data := cloneJSON(t)
	p.Metadata = data.Metadata
	p.Spec = data.Spec
	p.Metadata.Name = name
	p.Metadata.Namespace = namespace
	p.Metadata.UID = ""
	p.Metadata.CreationTimestamp = nil
	SetDefaults(p)
	return p
}

// SetTemplateDefaults defaults a template's pod spec as SetDefaults defaults a pod's.
func SetTemplateDefaults(t *PodTemplateSpec) {
	p := &Pod{APIVersion: "v1", Kind: "Pod", Metadata: t.Metadata, Spec: t.Spec}
	SetDefaults(p)
	ns := t.Metadata.Namespace
	t.Spec = p.Spec
	t.Metadata.Namespace = ns
}

// ValidateTemplate checks a template as Kubernetes validates a workload's spec.template: as a pod
// of namespace, without a name of its own. field is the template's path ("spec.template"); every
// error names its field under it.
func ValidateTemplate(t *PodTemplateSpec, namespace, field string) ErrorList {
	p := &Pod{APIVersion: "v1", Kind: "Pod", Metadata: t.Metadata, Spec: t.Spec}
	p.Metadata.Name = "template"
	p.Metadata.Namespace = namespace
	var out ErrorList
	for _, e := range ValidateFields(p) {
		switch {
		case e.Field == "metadata.name" || e.Field == "metadata.namespace":
			continue
		case strings.HasPrefix(e.Field, "spec") || strings.HasPrefix(e.Field, "metadata"):
			c := *e
			c.Field = field + "." + e.Field
			out = append(out, &c)
		default:
			out = append(out, e)
		}
	}
	return out
}

// Clone is a deep copy of v through its JSON form, which every model type round-trips.
func Clone[T any](v *T) *T {
	return cloneJSON(v)
}

func cloneJSON[T any](v *T) *T {
	data, err := json.Marshal(v)
	if err != nil {
		panic("pod: clone: " + err.Error())
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		panic("pod: clone: " + err.Error())
	}
	return out
}

// GetKind and GetMetadata let a Pod stand among the other kinds of a manifest.
func (p *Pod) GetKind() string          { return p.Kind }
func (p *Pod) GetMetadata() *ObjectMeta { return &p.Metadata }
