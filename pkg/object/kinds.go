package object

import (
	"strings"

	"github.com/podd-dev/podd/pkg/pod"
)

// Kind describes one kind podd accepts besides Pod: how it is spelled in manifests and on the
// command line, and how to make, default and validate one.
type Kind struct {
	APIVersion string
	Kind       string
	// Resource is the plural kubectl uses ("deployments"); ShortNames its abbreviations.
	Resource   string
	ShortNames []string
	New        func() Object
	// Default fills in what Kubernetes' API server fills in.
	Default func(Object)
	// Validate checks a defaulted object as Kubernetes' API server would.
	Validate func(Object) pod.ErrorList
}

// Kinds are the kinds podd accepts besides Pod, in the order apply creates them: what others refer
// to (claims, ConfigMaps, Secrets, Services) before the workloads that use them.
var Kinds = []Kind{
	{"v1", "PersistentVolumeClaim", "persistentvolumeclaims", []string{"pvc"}, func() Object { return &PersistentVolumeClaim{} }, defaultPVC, validatePVC},
	{"v1", "ConfigMap", "configmaps", []string{"cm"}, func() Object { return &ConfigMap{} }, defaultConfigMap, validateConfigMap},
	{"v1", "Secret", "secrets", nil, func() Object { return &Secret{} }, defaultSecret, validateSecret},
	{"v1", "Service", "services", []string{"svc"}, func() Object { return &Service{} }, defaultService, validateService},
	{"apps/v1", "Deployment", "deployments", []string{"deploy"}, func() Object { return &Deployment{} }, defaultDeployment, validateDeployment},
	{"apps/v1", "ReplicaSet", "replicasets", []string{"rs"}, func() Object { return &ReplicaSet{} }, defaultReplicaSet, validateReplicaSet},
	{"apps/v1", "StatefulSet", "statefulsets", []string{"sts"}, func() Object { return &StatefulSet{} }, defaultStatefulSet, validateStatefulSet},
	{"batch/v1", "Job", "jobs", nil, func() Object { return &Job{} }, defaultJob, validateJob},
}

// Lookup finds a kind by its manifest spelling.
func Lookup(apiVersion, kind string) (Kind, bool) {
	for _, k := range Kinds {
		if k.APIVersion == apiVersion && k.Kind == kind {
			return k, true
		}
	}
	return Kind{}, false
}

// KindOf finds a kind by its name alone ("Deployment").
func KindOf(kind string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Kind == kind {
			return k, true
		}
	}
	return Kind{}, false
}

// Resolve finds a kind by any name kubectl accepts for it: the kind, the plural, the singular or
// a short name, in any case ("deploy", "Deployments", "deployment.apps").
func Resolve(name string) (Kind, bool) {
	name = strings.ToLower(name)
	name, _, _ = strings.Cut(name, ".") // deployments.apps: the group changes nothing here
	for _, k := range Kinds {
		if name == strings.ToLower(k.Kind) || name == k.Resource {
			return k, true
		}
		for _, s := range k.ShortNames {
			if name == s {
				return k, true
			}
		}
	}
	return Kind{}, false
}

// Key is the store's and the cache's name of an object: kind/namespace/name.
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// KeyOf is o's Key.
func KeyOf(o Object) string {
	m := o.GetMetadata()
	return Key(o.GetKind(), m.Namespace, m.Name)
}
