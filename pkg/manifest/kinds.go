package manifest

import (
	"strings"

	"github.com/podd-dev/podd/pkg/object"
)

// kindFields lists, per kind, the fields of Kubernetes' types (as of Kubernetes 1.34) that
// pkg/object's types lack, by generic path under the kind's root (see kindRoot). Each kind's
// metadata follows the Pod's rules (every "metadata.*" entry), and its status is dropped.
var kindFields = map[string]map[string]unsupported{
	"Job": {
		"spec.podFailurePolicy": refused,
		"spec.successPolicy":    refused,
		"spec.managedBy":        refused,
	},
	"Service": {
		"spec.externalIPs":                   refused,
		"spec.externalName":                  refused,
		"spec.sessionAffinity":               harmless("None"),
		"spec.sessionAffinityConfig":         refused,
		"spec.loadBalancerIP":                refused,
		"spec.loadBalancerSourceRanges":      refused,
		"spec.loadBalancerClass":             refused,
		"spec.externalTrafficPolicy":         refused,
		"spec.internalTrafficPolicy":         harmless("Cluster"),
		"spec.healthCheckNodePort":           refused,
		"spec.allocateLoadBalancerNodePorts": refused,
		"spec.ipFamilies":                    refused,
		"spec.ipFamilyPolicy":                harmless("SingleStack"),
		"spec.trafficDistribution":           refused,
		"spec.ports[].nodePort":              refused,
	},
	"PersistentVolumeClaim": {
		"spec.selector":                  refused,
		"spec.volumeName":                refused,
		"spec.dataSource":                refused,
		"spec.dataSourceRef":             refused,
		"spec.volumeAttributesClassName": refused,
	},
}

// kindUnsupported is kindFields and each kind's metadata and status, by full generic path
// ("deployment.metadata.uid"); object() looks a path up here after unsupportedFields.
var kindUnsupported = map[string]unsupported{}

func init() {
	for _, k := range object.Kinds {
		root := kindRoot(k.Kind)
		kindUnsupported[root+".status"] = dropped
		for path, u := range unsupportedFields {
			if strings.HasPrefix(path, "metadata.") {
				kindUnsupported[root+"."+path] = u
			}
		}
		for path, u := range kindFields[k.Kind] {
			kindUnsupported[root+"."+path] = u
		}
	}
}
