package object

import (
	"github.com/podd-dev/podd/pkg/pod"
)

func ptr[T any](v T) *T { return &v }

func defaultMeta(m *pod.ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = pod.DefaultNamespace
	}
}

func defaultDeployment(o Object) {
	d := o.(*Deployment)
	defaultMeta(&d.Metadata)
	s := &d.Spec
	if s.Replicas == nil {
		s.Replicas = ptr(int32(1))
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateDeploymentStrategy
	}
	if s.Strategy.Type == RollingUpdateDeploymentStrategy {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = &pod.IntOrString{IsStr: true, StrVal: "25%"}
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = &pod.IntOrString{IsStr: true, StrVal: "25%"}
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = ptr(int32(600))
	}
	pod.SetTemplateDefaults(&s.Template)
}

func defaultReplicaSet(o Object) {
	r := o.(*ReplicaSet)
	defaultMeta(&r.Metadata)
	if r.Spec.Replicas == nil {
		r.Spec.Replicas = ptr(int32(1))
	}
	pod.SetTemplateDefaults(&r.Spec.Template)
}

func defaultStatefulSet(o Object) {
	st := o.(*StatefulSet)
	defaultMeta(&st.Metadata)
	s := &st.Spec
	if s.Replicas == nil {
		s.Replicas = ptr(int32(1))
	}
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateStatefulSetStrategyType
	}
	if s.UpdateStrategy.Type == RollingUpdateStatefulSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
		if s.UpdateStrategy.RollingUpdate.Partition == nil {
			s.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	rp := s.PersistentVolumeClaimRetentionPolicy
	if rp.WhenDeleted == "" {
		rp.WhenDeleted = RetainClaims
	}
	if rp.WhenScaled == "" {
		rp.WhenScaled = RetainClaims
	}
	for i := range s.VolumeClaimTemplates {
		c := &s.VolumeClaimTemplates[i]
		c.Metadata.Namespace = st.Metadata.Namespace
		defaultPVC(c)
	}
	pod.SetTemplateDefaults(&s.Template)
}

// LocalStorageClass is the storage class of podd's claims: a folder each under --root.
const LocalStorageClass = "local-path"

// Claim retention policies.
const (
	RetainClaims = "Retain"
	DeleteClaims = "Delete"
)

func defaultJob(o Object) {
	j := o.(*Job)
	defaultMeta(&j.Metadata)
	s := &j.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptr(int32(1))
		s.Parallelism = ptr(int32(1))
	}
	if s.Parallelism == nil {
		s.Parallelism = ptr(int32(1))
	}
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = ptr(int32(1<<31 - 1))
		} else {
			s.BackoffLimit = ptr(int32(6))
		}
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptr(NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = ptr(false)
	}
	if s.ManualSelector == nil {
		s.ManualSelector = ptr(false)
	}
	if s.PodReplacementPolicy == nil {
		s.PodReplacementPolicy = ptr("TerminatingOrFailed")
	}
	pod.SetTemplateDefaults(&s.Template)
}

func defaultConfigMap(o Object) { defaultMeta(&o.(*ConfigMap).Metadata) }

// SecretTypeOpaque is the default type of a Secret.
const SecretTypeOpaque = "Opaque"

func defaultSecret(o Object) {
	s := o.(*Secret)
	defaultMeta(&s.Metadata)
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
}

func defaultService(o Object) {
	svc := o.(*Service)
	defaultMeta(&svc.Metadata)
	if svc.Spec.Type == "" {
		svc.Spec.Type = "ClusterIP"
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = "TCP"
		}
		if p.TargetPort == nil {
			p.TargetPort = &pod.IntOrString{IntVal: p.Port}
		}
	}
}

func defaultPVC(o Object) {
	c := o.(*PersistentVolumeClaim)
	defaultMeta(&c.Metadata)
	if c.Spec.VolumeMode == nil {
		c.Spec.VolumeMode = ptr("Filesystem")
	}
	// podd's one storage class is the default one, as local-path is k3s': Kubernetes' admission
	// writes the default class into a claim that names none.
	if c.Spec.StorageClassName == nil {
		c.Spec.StorageClassName = ptr(LocalStorageClass)
	}
}
