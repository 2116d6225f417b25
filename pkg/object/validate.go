package object

import (
	"encoding/base64"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/podd-dev/podd/pkg/pod"
)

// Validate checks a defaulted object of any kind: its type, its metadata and its kind's rules.
func Validate(o Object) pod.ErrorList {
	k, ok := KindOf(o.GetKind())
	if !ok {
		var errs pod.ErrorList
		errs.NotSupported("kind", o.GetKind(), kindNames()...)
		return errs
	}
	return k.Validate(o)
}

func kindNames() []string {
	names := []string{"Pod"}
	for _, k := range Kinds {
		names = append(names, k.Kind)
	}
	return names
}

func validateMeta(m *pod.ObjectMeta) pod.ErrorList { return pod.ValidateObjectMeta(m) }

func nonNegative(errs *pod.ErrorList, field string, v *int32) {
	if v != nil && *v < 0 {
		errs.Invalid(field, *v, "must be greater than or equal to 0")
	}
}

// workload checks what Deployments, ReplicaSets and StatefulSets share: replicas, a selector
// that matches the template, a template whose pods restart Always.
func workload(errs *pod.ErrorList, m *pod.ObjectMeta, replicas *int32, sel *pod.LabelSelector, t *pod.PodTemplateSpec, minReady int32) {
	nonNegative(errs, "spec.replicas", replicas)
	*errs = append(*errs, pod.ValidateSelector(sel, t.Metadata.Labels, "spec.selector")...)
	*errs = append(*errs, pod.ValidateTemplate(t, m.Namespace, "spec.template")...)
	if t.Spec.RestartPolicy != pod.RestartAlways {
		errs.NotSupported("spec.template.spec.restartPolicy", string(t.Spec.RestartPolicy), string(pod.RestartAlways))
	}
	if minReady < 0 {
		errs.Invalid("spec.minReadySeconds", minReady, "must be greater than or equal to 0")
	}
}

func validateDeployment(o Object) pod.ErrorList {
	d := o.(*Deployment)
	errs := validateMeta(&d.Metadata)
	s := &d.Spec
	workload(&errs, &d.Metadata, s.Replicas, s.Selector, &s.Template, s.MinReadySeconds)
	switch s.Strategy.Type {
	case RecreateDeploymentStrategy:
		if s.Strategy.RollingUpdate != nil {
			errs.Forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
		}
	case RollingUpdateDeploymentStrategy:
		ru := s.Strategy.RollingUpdate
		surge := intOrPercent(&errs, "spec.strategy.rollingUpdate.maxSurge", ru.MaxSurge)
		unavailable := intOrPercent(&errs, "spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable)
		if surge == 0 && unavailable == 0 {
			errs.Invalid("spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0")
		}
		if ru.MaxUnavailable.IsStr && unavailable > 100 {
			errs.Invalid("spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable.String(), "must not be greater than 100%")
		}
	default:
		errs.NotSupported("spec.strategy.type", s.Strategy.Type, RecreateDeploymentStrategy, RollingUpdateDeploymentStrategy)
	}
	nonNegative(&errs, "spec.revisionHistoryLimit", s.RevisionHistoryLimit)
	if p := s.ProgressDeadlineSeconds; p != nil && *p <= s.MinReadySeconds {
		errs.Invalid("spec.progressDeadlineSeconds", *p, "must be greater than minReadySeconds")
	}
	return errs
}

// intOrPercent reads a rolling update bound: a non-negative integer or a percentage. It returns
// the number (of pods or of percent).
func intOrPercent(errs *pod.ErrorList, field string, v *pod.IntOrString) int {
	if v == nil {
		return 0
	}
	if !v.IsStr {
		if v.IntVal < 0 {
			errs.Invalid(field, v.IntVal, "must be greater than or equal to 0")
		}
		return int(v.IntVal)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if !strings.HasSuffix(v.StrVal, "%") || err != nil || n < 0 {
		errs.Invalid(field, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")
		return 0
	}
	return n
}

// ScaledValue turns a rolling update bound into pods for a total of replicas, rounding up
// (maxSurge) or down (maxUnavailable) as Kubernetes does.
func ScaledValue(v *pod.IntOrString, total int32, roundUp bool) int32 {
	if v == nil {
		return 0
	}
	if !v.IsStr {
		return v.IntVal
	}
	n, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	scaled := int64(n) * int64(total)
	if roundUp {
		return int32((scaled + 99) / 100)
	}
	return int32(scaled / 100)
}

func validateReplicaSet(o Object) pod.ErrorList {
	r := o.(*ReplicaSet)
	errs := validateMeta(&r.Metadata)
	workload(&errs, &r.Metadata, r.Spec.Replicas, r.Spec.Selector, &r.Spec.Template, r.Spec.MinReadySeconds)
	return errs
}

func validateStatefulSet(o Object) pod.ErrorList {
	st := o.(*StatefulSet)
	errs := validateMeta(&st.Metadata)
	s := &st.Spec
	// The pods' volumes include one per volumeClaimTemplate, which their mounts may name.
	t := s.Template
	t.Spec.Volumes = nil
	for _, v := range s.Template.Spec.Volumes {
		if !slices.ContainsFunc(s.VolumeClaimTemplates, func(c PersistentVolumeClaim) bool { return c.Metadata.Name == v.Name }) {
			t.Spec.Volumes = append(t.Spec.Volumes, v)
		}
	}
	for _, c := range s.VolumeClaimTemplates {
		if c.Metadata.Name != "" {
			t.Spec.Volumes = append(t.Spec.Volumes, pod.Volume{Name: c.Metadata.Name, PersistentVolumeClaim: &pod.PersistentVolumeClaimVolumeSource{ClaimName: c.Metadata.Name}})
		}
	}
	workload(&errs, &st.Metadata, s.Replicas, s.Selector, &t, s.MinReadySeconds)
	switch s.PodManagementPolicy {
	case OrderedReadyPodManagement, ParallelPodManagement:
	default:
		errs.NotSupported("spec.podManagementPolicy", s.PodManagementPolicy, OrderedReadyPodManagement, ParallelPodManagement)
	}
	switch s.UpdateStrategy.Type {
	case RollingUpdateStatefulSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			nonNegative(&errs, "spec.updateStrategy.rollingUpdate.partition", ru.Partition)
			if ru.MaxUnavailable != nil {
				if n := intOrPercent(&errs, "spec.updateStrategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable); n == 0 {
					errs.Invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable.String(), "must be greater than 0")
				}
			}
		}
	case OnDeleteStatefulSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs.Invalid("spec.updateStrategy.rollingUpdate", "", "only allowed for updateStrategy 'RollingUpdate'")
		}
	default:
		errs.NotSupported("spec.updateStrategy.type", s.UpdateStrategy.Type, RollingUpdateStatefulSetStrategyType, OnDeleteStatefulSetStrategyType)
	}
	if s.ServiceName != "" {
		for _, msg := range dns1123LabelErrors(s.ServiceName) {
			errs.Invalid("spec.serviceName", s.ServiceName, msg)
		}
	}
	if rp := s.PersistentVolumeClaimRetentionPolicy; rp != nil {
		for f, v := range map[string]string{"whenDeleted": rp.WhenDeleted, "whenScaled": rp.WhenScaled} {
			if v != RetainClaims && v != DeleteClaims {
				errs.NotSupported("spec.persistentVolumeClaimRetentionPolicy."+f, v, RetainClaims, DeleteClaims)
			}
		}
	}
	if s.Ordinals != nil && s.Ordinals.Start < 0 {
		errs.Invalid("spec.ordinals.start", s.Ordinals.Start, "must be greater than or equal to 0")
	}
	names := map[string]bool{}
	for i := range s.VolumeClaimTemplates {
		c := &s.VolumeClaimTemplates[i]
		field := fmt.Sprintf("spec.volumeClaimTemplates[%d]", i)
		if names[c.Metadata.Name] {
			errs.Duplicate(field+".metadata.name", c.Metadata.Name)
		}
		names[c.Metadata.Name] = true
		for _, e := range validatePVC(c) {
			e.Field = field + "." + e.Field
			errs = append(errs, e)
		}
	}
	return errs
}

func dns1123LabelErrors(v string) []string {
	var errs pod.ErrorList
	errs.CheckDNS1123Label("x", v)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Detail)
	}
	return msgs
}

func validateJob(o Object) pod.ErrorList {
	j := o.(*Job)
	errs := validateMeta(&j.Metadata)
	s := &j.Spec
	nonNegative(&errs, "spec.parallelism", s.Parallelism)
	nonNegative(&errs, "spec.completions", s.Completions)
	nonNegative(&errs, "spec.backoffLimit", s.BackoffLimit)
	nonNegative(&errs, "spec.backoffLimitPerIndex", s.BackoffLimitPerIndex)
	nonNegative(&errs, "spec.maxFailedIndexes", s.MaxFailedIndexes)
	nonNegative(&errs, "spec.ttlSecondsAfterFinished", s.TTLSecondsAfterFinished)
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		errs.Invalid("spec.activeDeadlineSeconds", *s.ActiveDeadlineSeconds, "must be greater than 0")
	}
	switch *s.CompletionMode {
	case NonIndexedCompletion:
		if s.BackoffLimitPerIndex != nil {
			errs.Required("spec.completionMode", "when backoffLimitPerIndex is specified, completionMode must be Indexed")
		}
	case IndexedCompletion:
		if s.Completions == nil {
			errs.Required("spec.completions", "when completion mode is Indexed")
		}
	default:
		errs.NotSupported("spec.completionMode", *s.CompletionMode, NonIndexedCompletion, IndexedCompletion)
	}
	if s.MaxFailedIndexes != nil && s.BackoffLimitPerIndex == nil {
		errs.Required("spec.backoffLimitPerIndex", "when maxFailedIndexes is specified")
	}
	if *s.ManualSelector {
		errs.Forbidden("spec.manualSelector", "podd labels a Job's pods itself (batch.kubernetes.io/controller-uid); a manual selector is not supported")
	} else if !s.Selector.IsEmpty() {
		errs.Forbidden("spec.selector", "`selector` will be auto-generated")
	}
	switch *s.PodReplacementPolicy {
	case "TerminatingOrFailed", "Failed":
	default:
		errs.NotSupported("spec.podReplacementPolicy", *s.PodReplacementPolicy, "TerminatingOrFailed", "Failed")
	}
	errs = append(errs, pod.ValidateTemplate(&s.Template, j.Metadata.Namespace, "spec.template")...)
	switch s.Template.Spec.RestartPolicy {
	case pod.RestartOnFailure, pod.RestartNever:
	default:
		errs.NotSupported("spec.template.spec.restartPolicy", string(s.Template.Spec.RestartPolicy), string(pod.RestartOnFailure), string(pod.RestartNever))
	}
	return errs
}

// MaxDataSize is Kubernetes' bound on a ConfigMap's or a Secret's data.
const MaxDataSize = 1 << 20

// checkKeys checks ConfigMap and Secret keys with Kubernetes' rule (pod.ConfigKeyErrors, which
// env and volume items use too).
func checkKeys(errs *pod.ErrorList, field string, keys []string) {
	for _, k := range keys {
		for _, msg := range pod.ConfigKeyErrors(k) {
			errs.Invalid(field+"["+k+"]", k, msg)
		}
	}
}

func validateConfigMap(o Object) pod.ErrorList {
	c := o.(*ConfigMap)
	errs := validateMeta(&c.Metadata)
	size := 0
	checkKeys(&errs, "data", slices.Sorted(maps.Keys(c.Data)))
	for _, v := range c.Data {
		size += len(v)
	}
	for _, k := range slices.Sorted(maps.Keys(c.BinaryData)) {
		if _, dup := c.Data[k]; dup {
			errs.Invalid("binaryData["+k+"]", k, "duplicate of key present in data")
		}
		b, err := base64.StdEncoding.DecodeString(c.BinaryData[k])
		if err != nil {
			errs.Invalid("binaryData["+k+"]", "<binary>", "must be base64 encoded: "+err.Error())
		}
		size += len(b)
	}
	checkKeys(&errs, "binaryData", slices.Sorted(maps.Keys(c.BinaryData)))
	if size > MaxDataSize {
		errs.Forbidden("data", fmt.Sprintf("Too long: may not be more than %d bytes", MaxDataSize))
	}
	return errs
}

func validateSecret(o Object) pod.ErrorList {
	s := o.(*Secret)
	errs := validateMeta(&s.Metadata)
	checkKeys(&errs, "data", slices.Sorted(maps.Keys(s.Data)))
	checkKeys(&errs, "stringData", slices.Sorted(maps.Keys(s.StringData)))
	size := 0
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		b, err := base64.StdEncoding.DecodeString(s.Data[k])
		if err != nil {
			// Never the value: a Secret's content appears in no message.
			errs.Invalid("data["+k+"]", "<secret>", "must be base64 encoded")
		}
		size += len(b)
	}
	for _, v := range s.StringData {
		size += len(v)
	}
	if size > MaxDataSize {
		errs.Forbidden("data", fmt.Sprintf("Too long: may not be more than %d bytes", MaxDataSize))
	}
	switch s.Type {
	case SecretTypeOpaque, "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson":
	default:
		errs.NotSupported("type", s.Type, SecretTypeOpaque, "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson")
	}
	return errs
}

// FoldStringData moves stringData into data (base64), as the API server does on write.
func FoldStringData(s *Secret) {
	if len(s.StringData) == 0 {
		return
	}
	if s.Data == nil {
		s.Data = map[string]string{}
	}
	for k, v := range s.StringData {
		s.Data[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	s.StringData = nil
}

func validateService(o Object) pod.ErrorList {
	svc := o.(*Service)
	errs := validateMeta(&svc.Metadata)
	// A Service's name becomes a DNS label.
	if svc.Metadata.Name != "" {
		for _, msg := range dns1035LabelErrors(svc.Metadata.Name) {
			errs.Invalid("metadata.name", svc.Metadata.Name, msg)
		}
	}
	s := &svc.Spec
	if s.Type != "ClusterIP" {
		errs.NotSupported("spec.type", s.Type, "ClusterIP")
	}
	if s.ClusterIP != "" && s.ClusterIP != "None" {
		errs.Invalid("spec.clusterIP", s.ClusterIP, `podd gives Services no virtual IP: only "" or "None" (headless)`)
	}
	for i, ip := range s.ClusterIPs {
		if ip != s.ClusterIP {
			errs.Invalid(fmt.Sprintf("spec.clusterIPs[%d]", i), ip, "must match spec.clusterIP")
		}
	}
	names := map[string]bool{}
	for i, p := range s.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if p.Name == "" && len(s.Ports) > 1 {
			errs.Required(field+".name", "")
		}
		if p.Name != "" {
			if names[p.Name] {
				errs.Duplicate(field+".name", p.Name)
			}
			names[p.Name] = true
			for _, msg := range dns1123LabelErrors(p.Name) {
				errs.Invalid(field+".name", p.Name, msg)
			}
		}
		if p.Port < 1 || p.Port > 65535 {
			errs.Invalid(field+".port", p.Port, "must be between 1 and 65535, inclusive")
		}
		switch p.Protocol {
		case "TCP", "UDP", "SCTP":
		default:
			errs.NotSupported(field+".protocol", p.Protocol, "TCP", "UDP", "SCTP")
		}
		// podd resolves a Service's name to its endpoints' own addresses: there is no virtual IP
		// to map one port to another, so a different targetPort would be a silently wrong mapping.
		if t := p.TargetPort; t != nil && !t.IsStr && t.IntVal != p.Port {
			errs.Invalid(field+".targetPort", t.IntVal, fmt.Sprintf("must equal port (%d): podd gives Services no virtual IP, so clients reach the pods' own ports", p.Port))
		}
	}
	return errs
}

var dns1035RE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func dns1035LabelErrors(v string) []string {
	var msgs []string
	if len(v) > 63 {
		msgs = append(msgs, "must be no more than 63 characters")
	}
	if !dns1035RE.MatchString(v) {
		msgs = append(msgs, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
	}
	return msgs
}

// Access modes of claims; podd's local folders serve them all on one host.
var accessModes = []string{"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}

func validatePVC(o Object) pod.ErrorList {
	c := o.(*PersistentVolumeClaim)
	errs := validateMeta(&c.Metadata)
	s := &c.Spec
	if len(s.AccessModes) == 0 {
		errs.Required("spec.accessModes", "at least 1 access mode is required")
	}
	for i, m := range s.AccessModes {
		if !slices.Contains(accessModes, m) {
			errs.NotSupported(fmt.Sprintf("spec.accessModes[%d]", i), m, accessModes...)
		}
	}
	if _, ok := s.Resources.Requests["storage"]; !ok {
		errs.Required("spec.resources.requests[storage]", "")
	}
	for name := range s.Resources.Requests {
		if name != "storage" {
			errs.NotSupported("spec.resources.requests["+string(name)+"]", string(name), "storage")
		}
	}
	for name := range s.Resources.Limits {
		if name != "storage" {
			errs.NotSupported("spec.resources.limits["+string(name)+"]", string(name), "storage")
		}
	}
	if s.VolumeMode != nil && *s.VolumeMode != "Filesystem" {
		errs.NotSupported("spec.volumeMode", *s.VolumeMode, "Filesystem")
	}
	return errs
}
