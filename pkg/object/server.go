package object

import "github.com/podd-dev/podd/pkg/pod"

// Labels Kubernetes puts on a Job's pods, with the Job's UID and name.
const (
	LabelJobControllerUID       = "batch.kubernetes.io/controller-uid"
	LabelJobName                = "batch.kubernetes.io/job-name"
	LabelLegacyJobControllerUID = "controller-uid"
	LabelLegacyJobName          = "job-name"
)

// SetServerFields fills in what the API server adds when it stores an object, given the UID it
// has (or gets): a Job's generated selector and its template's labels, a Secret's stringData
// folded into data.
func SetServerFields(o Object, uid string) {
	switch o := o.(type) {
	case *Job:
		if o.Spec.ManualSelector != nil && *o.Spec.ManualSelector {
			return
		}
		o.Spec.Selector = &pod.LabelSelector{MatchLabels: map[string]string{LabelJobControllerUID: uid}}
		l := o.Spec.Template.Metadata.Labels
		if l == nil {
			l = map[string]string{}
			o.Spec.Template.Metadata.Labels = l
		}
		l[LabelJobControllerUID], l[LabelLegacyJobControllerUID] = uid, uid
		l[LabelJobName], l[LabelLegacyJobName] = o.Metadata.Name, o.Metadata.Name
	case *Secret:
		FoldStringData(o)
	case *PersistentVolumeClaim:
		AddFinalizer(&o.Metadata, PVCProtectionFinalizer)
	}
}

// PVCProtectionFinalizer keeps a claim, Terminating, while a pod uses it (Kubernetes'
// admission plugin puts it on every claim).
const PVCProtectionFinalizer = "kubernetes.io/pvc-protection"

// AddFinalizer adds f to m's finalizers once.
func AddFinalizer(m *pod.ObjectMeta, f string) {
	for _, have := range m.Finalizers {
		if have == f {
			return
		}
	}
	m.Finalizers = append(m.Finalizers, f)
}
