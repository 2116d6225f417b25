package pod

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/containerd/errdefs"
)

// FieldError is one problem with one field of a pod. It wraps errdefs.ErrInvalidArgument, so the
// API answers it as a client error; Decode and Validate join several of them with errors.Join.
type FieldError struct {
	// Line is the manifest line the problem is on, from 1; 0 when the pod was not decoded from text.
	Line int
	// Field is the Kubernetes-style path of the field: spec.containers[1].volumeMounts[0].name.
	Field string
	// Detail says what is wrong, in Kubernetes' words where Kubernetes has them.
	Detail string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Detail)
	return b.String()
}

func (e *FieldError) Unwrap() error { return errdefs.ErrInvalidArgument }

// errorList collects field errors with Kubernetes' phrasing (k8s.io/apimachinery's field.Error),
// so that messages read the same as kubectl's.
type ErrorList []*FieldError

func (l *ErrorList) add(field, detail string) {
	*l = append(*l, &FieldError{Field: field, Detail: detail})
}

func (l *ErrorList) required(field, detail string) {
	l.add(field, withDetail("Required value", detail))
}

func (l *ErrorList) invalid(field string, value any, detail string) {
	l.add(field, withDetail("Invalid value: "+Quote(value), detail))
}

func (l *ErrorList) duplicate(field string, value any) {
	l.add(field, "Duplicate value: "+Quote(value))
}

func (l *ErrorList) notFound(field string, value any) {
	l.add(field, "Not found: "+Quote(value))
}

func (l *ErrorList) forbidden(field, detail string) {
	l.add(field, withDetail("Forbidden", detail))
}

func (l *ErrorList) unsupported(field string, value any, supported ...string) {
	quoted := make([]string, len(supported))
	for i, s := range supported {
		quoted[i] = strconv.Quote(s)
	}
	l.add(field, "Unsupported value: "+Quote(value)+": supported values: "+strings.Join(quoted, ", "))
}

func withDetail(kind, detail string) string {
	if detail == "" {
		return kind
	}
	return kind + ": " + detail
}

func Quote(value any) string {
	if s, ok := value.(string); ok {
		return strconv.Quote(Truncate(s))
	}
	return fmt.Sprint(value)
}

// truncate keeps a message about a huge value from being huge itself.
func Truncate(s string) string {
	const limit = 256
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// podChecks run in order; each reports every problem it finds, so that one round of fixes suffices.
var podChecks = []func(p *Pod, errs *ErrorList){
	CheckTypeMeta,
	checkMetadata,
	checkVolumes,
	checkContainers,
	checkPodResources,
	checkPodSpec,
	checkAPISocket,
	checkLeaderFence,
	checkNetwork,
	checkDNS,
}

// Validate checks a pod as Kubernetes' API server would, restricted to the fields podd implements.
// It expects a pod that went through SetDefaults. Every error is a *FieldError naming the field;
// they are joined with errors.Join, and each satisfies errdefs.IsInvalidArgument.
func Validate(p *Pod) error {
	errs := ValidateFields(p)
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

func ValidateFields(p *Pod) ErrorList {
	var errs ErrorList
	for _, check := range podChecks {
		check(p, &errs)
	}
	return errs
}

func CheckTypeMeta(p *Pod, errs *ErrorList) {
	checkConstant(errs, "apiVersion", p.APIVersion, "v1")
	checkConstant(errs, "kind", p.Kind, "Pod")
}

func checkConstant(errs *ErrorList, field, value, want string) {
	switch value {
	case want:
	case "":
		errs.required(field, "")
	default:
		errs.unsupported(field, value, want)
	}
}

// totalAnnotationSizeLimit is Kubernetes' limit on the summed length of annotation keys and values.
const totalAnnotationSizeLimit = 256 * 1024

func checkMetadata(p *Pod, errs *ErrorList) {
	m := &p.Metadata
	if m.Name == "" {
		errs.required("metadata.name", "")
	} else {
		checkDNS1123Subdomain(errs, "metadata.name", m.Name)
	}
	if m.Namespace == "" {
		errs.required("metadata.namespace", "")
	} else {
		checkDNS1123Label(errs, "metadata.namespace", m.Namespace)
	}
	// podd alone sets them: a claim's protection, and its deletion while in use.
	if len(m.Finalizers) > 0 {
		errs.forbidden("metadata.finalizers", "podd sets finalizers itself (kubernetes.io/pvc-protection on claims)")
	}
	if m.DeletionTimestamp != nil {
		errs.forbidden("metadata.deletionTimestamp", "podd sets it when the object is deleted")
	}

	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		field := "metadata.labels[" + k + "]"
		for _, msg := range qualifiedNameErrors(k) {
			errs.invalid(field, k, msg)
		}
		for _, msg := range labelValueErrors(m.Labels[k]) {
			errs.invalid(field, m.Labels[k], msg)
		}
	}

	size := 0
	for _, k := range slices.Sorted(maps.Keys(m.Annotations)) {
		// Kubernetes checks annotation keys in lower case, which admits upper-case prefixes.
		for _, msg := range qualifiedNameErrors(strings.ToLower(k)) {
			errs.invalid("metadata.annotations["+k+"]", k, msg)
		}
		size += len(k) + len(m.Annotations[k])
	}
	if size > totalAnnotationSizeLimit {
		errs.add("metadata.annotations", fmt.Sprintf("Too long: may not be more than %d bytes", totalAnnotationSizeLimit))
	}
}

var storageMedia = []string{string(StorageMediumDefault), string(StorageMediumMemory)}

var hostPathTypes = []string{
	string(HostPathUnset), string(HostPathDirectoryOrCreate), string(HostPathDirectory),
	string(HostPathFileOrCreate), string(HostPathFile), string(HostPathSocket),
	string(HostPathCharDev), string(HostPathBlockDev),
}

func checkVolumes(p *Pod, errs *ErrorList) {
	seen := map[string]bool{}
	for i, v := range p.Spec.Volumes {
		field := fmt.Sprintf("spec.volumes[%d]", i)
		switch {
		case v.Name == "":
			errs.required(field+".name", "")
		case seen[v.Name]:
			errs.duplicate(field+".name", v.Name)
		default:
			checkDNS1123Label(errs, field+".name", v.Name)
		}
		seen[v.Name] = true

		sources := 0
		if v.EmptyDir != nil {
			sources++
			checkEmptyDir(errs, field+".emptyDir", v.EmptyDir)
		}
		if v.HostPath != nil {
			sources++
			if sources > 1 {
				errs.forbidden(field+".hostPath", "may not specify more than 1 volume type")
			}
			checkHostPath(errs, field+".hostPath", v.HostPath)
		}
		if v.DownwardAPI != nil {
			sources++
			if sources > 1 {
				errs.forbidden(field+".downwardAPI", "may not specify more than 1 volume type")
			}
			checkDownwardAPI(errs, field+".downwardAPI", v.DownwardAPI, containerNames(p))
		}
		for _, src := range []struct {
			name string
			set  bool
		}{{"configMap", v.ConfigMap != nil}, {"secret", v.Secret != nil}, {"projected", v.Projected != nil}} {
			if !src.set {
				continue
			}
			if sources++; sources > 1 {
				errs.forbidden(field+"."+src.name, "may not specify more than 1 volume type")
			}
		}
		if sources == 1 {
			checkConfigVolume(errs, field, v, containerNames(p))
		}
		if c := v.PersistentVolumeClaim; c != nil {
			sources++
			if sources > 1 {
				errs.forbidden(field+".persistentVolumeClaim", "may not specify more than 1 volume type")
			}
			if c.ClaimName == "" {
				errs.required(field+".persistentVolumeClaim.claimName", "")
			} else {
				checkDNS1123Subdomain(errs, field+".persistentVolumeClaim.claimName", c.ClaimName)
			}
		}
		if sources == 0 {
			errs.required(field, "must specify a volume type")
		}
	}
}

func checkEmptyDir(errs *ErrorList, field string, e *EmptyDirVolumeSource) {
	if !slices.Contains(storageMedia, string(e.Medium)) {
		errs.unsupported(field+".medium", string(e.Medium), storageMedia...)
	}
	if e.SizeLimit != nil && e.SizeLimit.Sign() < 0 {
		errs.invalid(field+".sizeLimit", e.SizeLimit.String(), "must be greater than or equal to 0")
	}
}

func checkHostPath(errs *ErrorList, field string, h *HostPathVolumeSource) {
	switch {
	case h.Path == "":
		errs.required(field+".path", "")
	case !path.IsAbs(h.Path):
		errs.invalid(field+".path", h.Path, "must be an absolute path")
	case hasBackstep(h.Path):
		errs.invalid(field+".path", h.Path, "must not contain '..'")
	}
	if h.Type != nil && !slices.Contains(hostPathTypes, string(*h.Type)) {
		errs.unsupported(field+".type", string(*h.Type), hostPathTypes...)
	}
}

func hasBackstep(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}

var (
	pullPolicies    = []string{string(PullAlways), string(PullIfNotPresent), string(PullNever)}
	restartPolicies = []string{string(RestartAlways), string(RestartOnFailure), string(RestartNever)}
	protocols       = []string{"SCTP", "TCP", "UDP"}
)

// MaxContainers bounds a pod's init and regular containers together. Kubernetes sets no such
// number (an object's size bounds it); podd does, because every container costs a process in the
// pod's cgroup (whose pids are limited), a logger process and its own cgroups: a thousand is far
// above any real pod and keeps the cost of one pod bounded.
const MaxContainers = 1000

func checkContainers(p *Pod, errs *ErrorList) {
	if len(p.Spec.Containers) == 0 {
		errs.required("spec.containers", "")
	}
	if n := len(p.Spec.InitContainers) + len(p.Spec.Containers); n > MaxContainers {
		field := "spec.containers"
		if len(p.Spec.InitContainers) > len(p.Spec.Containers) {
			field = "spec.initContainers"
		}
		errs.add(field, fmt.Sprintf("Too many: %d: must have at most %d items (initContainers and containers together)", n, MaxContainers))
		return // a check per container would only repeat the refusal
	}
	s := &containerScope{
		volumes:     map[string]bool{},
		names:       map[string]bool{},
		hostPorts:   map[string]bool{},
		hostNetwork: p.Spec.HostNetwork,
		grace:       p.Spec.TerminationGracePeriodSeconds,
	}
	for _, v := range p.Spec.Volumes {
		s.volumes[v.Name] = true
	}
	s.containers = containerNames(p)
	// Kubernetes checks the containers first, so a name taken twice is reported on the init container.
	for i := range p.Spec.Containers {
		s.check(errs, fmt.Sprintf("spec.containers[%d]", i), &p.Spec.Containers[i], false)
	}
	for i := range p.Spec.InitContainers {
		s.check(errs, fmt.Sprintf("spec.initContainers[%d]", i), &p.Spec.InitContainers[i], true)
	}
}

// containerScope is what the checks of one container need from the pod and from the containers
// checked before it: names and host ports are unique across init and regular containers.
type containerScope struct {
	containers                []string // every container's name, for references
	volumes, names, hostPorts map[string]bool
	hostNetwork               bool
	grace                     *int64
}

func (s *containerScope) check(errs *ErrorList, field string, c *Container, init bool) {
	switch {
	case c.Name == "":
		errs.required(field+".name", "")
	case s.names[c.Name]:
		errs.duplicate(field+".name", c.Name)
	default:
		checkDNS1123Label(errs, field+".name", c.Name)
	}
	s.names[c.Name] = true

	switch {
	case c.Image == "":
		errs.required(field+".image", "")
	case strings.ContainsFunc(c.Image, isSpace):
		errs.invalid(field+".image", c.Image, "must not contain whitespace")
	}
	switch {
	case c.ImagePullPolicy == "":
		errs.required(field+".imagePullPolicy", "")
	case !slices.Contains(pullPolicies, string(c.ImagePullPolicy)):
		errs.unsupported(field+".imagePullPolicy", string(c.ImagePullPolicy), pullPolicies...)
	}
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		errs.invalid(field+".workingDir", c.WorkingDir, "must be an absolute path")
	}
	if c.Stdin && !c.TTY {
		// containerd's binary log driver, which keeps the logs through podd restarts, gives a
		// process without a terminal no stdin: it would read an end of file at once.
		errs.invalid(field+".stdin", true, "podd keeps a container's stdin open only with tty: true (a terminal)")
	}
	for j, e := range c.Env {
		checkEnv(errs, fmt.Sprintf("%s.env[%d]", field, j), e, c.Name, s.containers)
	}
	checkEnvFrom(errs, field, c.EnvFrom)
	checkPorts(errs, field, c.Ports, s.hostNetwork, s.hostPorts)
	checkVolumeMounts(errs, field, c.VolumeMounts, s.volumes)
	if sc := c.SecurityContext; sc != nil {
		checkSecurityContext(errs, field+".securityContext", sc)
	}

	// Only an init container has a restartPolicy, and only Always, which makes it a sidecar:
	// one that keeps running, and so may have hooks and probes like a regular container.
	sidecar := false
	if c.RestartPolicy != nil {
		switch {
		case !init:
			errs.forbidden(field+".restartPolicy", "may not be set for non-init containers")
		case *c.RestartPolicy != RestartAlways:
			errs.unsupported(field+".restartPolicy", string(*c.RestartPolicy), string(RestartAlways))
		default:
			sidecar = true
		}
	}
	if init && !sidecar {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil},
		} {
			if f.set {
				errs.forbidden(field+"."+f.name, "may not be set for init containers without restartPolicy=Always")
			}
		}
		return
	}
	if c.Lifecycle != nil {
		checkHook(errs, field+".lifecycle.postStart", c.Lifecycle.PostStart, c, s.grace)
		checkHook(errs, field+".lifecycle.preStop", c.Lifecycle.PreStop, c, s.grace)
	}
	checkProbe(errs, field+".startupProbe", c.StartupProbe, c)
	checkProbe(errs, field+".livenessProbe", c.LivenessProbe, c)
	checkProbe(errs, field+".readinessProbe", c.ReadinessProbe, c)
}

func checkHook(errs *ErrorList, field string, h *LifecycleHandler, c *Container, grace *int64) {
	if h == nil {
		return
	}
	checkOneHandler(errs, field,
		handler{"exec", h.Exec != nil, func() { checkExec(errs, field+".exec", h.Exec) }},
		handler{"httpGet", h.HTTPGet != nil, func() { checkHTTPGet(errs, field+".httpGet", h.HTTPGet, c) }},
		handler{"sleep", h.Sleep != nil, func() {
			switch {
			case h.Sleep.Seconds < 0:
				errs.invalid(field+".sleep.seconds", h.Sleep.Seconds, "must be non-negative")
			case grace != nil && h.Sleep.Seconds > *grace:
				errs.invalid(field+".sleep.seconds", h.Sleep.Seconds, "must be less than terminationGracePeriodSeconds")
			}
		}},
	)
}

// handler is one handler type a probe or hook may set, with the checks of its fields.
type handler struct {
	name  string
	set   bool
	check func()
}

// checkOneHandler: a probe or hook sets exactly one handler type, as Kubernetes requires.
func checkOneHandler(errs *ErrorList, field string, handlers ...handler) {
	n := 0
	for _, h := range handlers {
		if !h.set {
			continue
		}
		if n++; n > 1 {
			errs.forbidden(field+"."+h.name, "may not specify more than 1 handler type")
		}
		h.check()
	}
	if n == 0 {
		errs.required(field, "must specify a handler type")
	}
}

func checkProbe(errs *ErrorList, field string, p *Probe, c *Container) {
	if p == nil {
		return
	}
	checkOneHandler(errs, field,
		handler{"exec", p.Exec != nil, func() { checkExec(errs, field+".exec", p.Exec) }},
		handler{"httpGet", p.HTTPGet != nil, func() { checkHTTPGet(errs, field+".httpGet", p.HTTPGet, c) }},
		handler{"tcpSocket", p.TCPSocket != nil, func() { checkPortRef(errs, field+".tcpSocket.port", p.TCPSocket.Port, c) }},
		handler{"grpc", p.GRPC != nil, func() {
			if p.GRPC.Port < 1 || p.GRPC.Port > 65535 {
				errs.invalid(field+".grpc.port", p.GRPC.Port, "must be between 1 and 65535, inclusive")
			}
		}},
	)

	for _, n := range []struct {
		name  string
		value int32
	}{
		{"initialDelaySeconds", p.InitialDelaySeconds}, {"timeoutSeconds", p.TimeoutSeconds},
		{"periodSeconds", p.PeriodSeconds}, {"successThreshold", p.SuccessThreshold},
		{"failureThreshold", p.FailureThreshold},
	} {
		if n.value < 0 {
			errs.invalid(field+"."+n.name, n.value, "must be greater than or equal to 0")
		}
	}
	// Only readiness comes and goes; liveness and startup are decided by one success.
	readiness := strings.HasSuffix(field, ".readinessProbe")
	if !readiness && p.SuccessThreshold != 1 {
		errs.invalid(field+".successThreshold", p.SuccessThreshold, "must be 1")
	}
	if g := p.TerminationGracePeriodSeconds; g != nil {
		switch {
		case readiness:
			errs.invalid(field+".terminationGracePeriodSeconds", *g, "must not be set for readinessProbes")
		case *g <= 0:
			errs.invalid(field+".terminationGracePeriodSeconds", *g, "must be greater than 0")
		}
	}
}

func checkExec(errs *ErrorList, field string, e *ExecAction) {
	if len(e.Command) == 0 {
		errs.required(field+".command", "")
	}
}

var (
	httpSchemes    = []string{"HTTP", "HTTPS"}
	httpHeaderRE   = regexp.MustCompile(`^[-A-Za-z0-9]+$`)
	httpHeaderHelp = regexError("a valid HTTP header must consist of alphanumeric characters or '-'", "[-A-Za-z0-9]+", "X-Header-Name")
)

func checkHTTPGet(errs *ErrorList, field string, h *HTTPGetAction, c *Container) {
	checkPortRef(errs, field+".port", h.Port, c)
	if !slices.Contains(httpSchemes, h.Scheme) {
		errs.unsupported(field+".scheme", h.Scheme, httpSchemes...)
	}
	for i, header := range h.HTTPHeaders {
		if !httpHeaderRE.MatchString(header.Name) {
			errs.invalid(fmt.Sprintf("%s.httpHeaders[%d].name", field, i), header.Name, httpHeaderHelp)
		}
	}
}

// checkPortRef checks a port given by number or by the name of one of the container's ports.
// Kubernetes checks only the name's form; a name that matches no port would make the probe or
// hook fail forever, so podd refuses it up front.
func checkPortRef(errs *ErrorList, field string, port IntOrString, c *Container) {
	if !port.IsStr {
		if port.IntVal < 1 || port.IntVal > 65535 {
			errs.invalid(field, port.IntVal, "must be between 1 and 65535, inclusive")
		}
		return
	}
	if msgs := portNameErrors(port.StrVal); len(msgs) > 0 {
		for _, msg := range msgs {
			errs.invalid(field, port.StrVal, msg)
		}
		return
	}
	if !slices.ContainsFunc(c.Ports, func(p ContainerPort) bool { return p.Name == port.StrVal }) {
		errs.notFound(field, port.StrVal)
	}
}

func isSpace(r rune) bool {
	return strings.ContainsRune(" \t\n\v\f\r\u0085\u00a0", r)
}

func checkEnv(errs *ErrorList, field string, e EnvVar, own string, containers []string) {
	if e.Name == "" {
		errs.required(field+".name", "")
	} else if strings.ContainsFunc(e.Name, func(r rune) bool { return r < ' ' || r > '~' || r == '=' }) {
		errs.invalid(field+".name", e.Name, "a valid environment variable name must consist only of printable ASCII characters other than '='")
	}
	if e.ValueFrom == nil {
		return
	}
	if e.Value != "" {
		errs.forbidden(field+".valueFrom", "may not be specified when `value` is not empty")
	}
	switch n := envSources(e.ValueFrom); {
	case n > 1:
		errs.forbidden(field+".valueFrom", "may not have more than one field specified at a time")
		return
	case n == 0:
		errs.required(field+".valueFrom", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
		return
	}
	if e.ValueFrom.ConfigMapKeyRef != nil || e.ValueFrom.SecretKeyRef != nil {
		checkEnvConfigRef(errs, field+".valueFrom", e.ValueFrom)
		return
	}
	if rf := e.ValueFrom.ResourceFieldRef; rf != nil {
		checkResourceFieldRef(errs, field+".valueFrom.resourceFieldRef", rf, own, containers)
		return
	}
	ref := e.ValueFrom.FieldRef
	checkConstant(errs, field+".valueFrom.fieldRef.apiVersion", ref.APIVersion, "v1")
	checkFieldPath(errs, field+".valueFrom.fieldRef.fieldPath", ref.FieldPath)
}

// envFieldPaths are the pod fields podd can put in an environment variable, besides a single
// label or annotation: all that Kubernetes offers there.
var (
	envFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs"}
)

func checkFieldPath(errs *ErrorList, field, fieldPath string) {
	if fieldPath == "" {
		errs.required(field, "")
		return
	}
	if slices.Contains(envFieldPaths, fieldPath) {
		return
	}
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		key, ok := strings.CutPrefix(fieldPath, prefix+"['")
		if !ok {
			continue
		}
		key, ok = strings.CutSuffix(key, "']")
		if !ok {
			break
		}
		if prefix == "metadata.annotations" {
			key = strings.ToLower(key)
		}
		for _, msg := range qualifiedNameErrors(key) {
			errs.invalid(field, fieldPath, msg)
		}
		return
	}
	errs.unsupported(field, fieldPath, slices.Concat(envFieldPaths, []string{"metadata.labels['<KEY>']", "metadata.annotations['<KEY>']"})...)
}

func checkPorts(errs *ErrorList, container string, ports []ContainerPort, hostNetwork bool, hostPorts map[string]bool) {
	names := map[string]bool{}
	for i, port := range ports {
		field := fmt.Sprintf("%s.ports[%d]", container, i)
		if port.Name != "" {
			for _, msg := range portNameErrors(port.Name) {
				errs.invalid(field+".name", port.Name, msg)
			}
			if names[port.Name] {
				errs.duplicate(field+".name", port.Name)
			}
			names[port.Name] = true
		}
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			errs.invalid(field+".containerPort", port.ContainerPort, "must be between 1 and 65535, inclusive")
		}
		switch {
		case port.HostPort < 0 || port.HostPort > 65535:
			errs.invalid(field+".hostPort", port.HostPort, "must be between 1 and 65535, inclusive")
		case hostNetwork && port.HostPort != port.ContainerPort:
			errs.invalid(field+".hostPort", port.HostPort, "must match `containerPort` when `hostNetwork` is true")
		}
		switch {
		case port.Protocol == "":
			errs.required(field+".protocol", "")
		case !slices.Contains(protocols, port.Protocol):
			errs.unsupported(field+".protocol", port.Protocol, protocols...)
		}
		if port.HostIP != "" {
			if _, err := netip.ParseAddr(port.HostIP); err != nil {
				errs.invalid(field+".hostIP", port.HostIP, "must be a valid IP address")
			}
		}
		if port.HostPort > 0 {
			key := fmt.Sprintf("%s/%s/%d", port.HostIP, port.Protocol, port.HostPort)
			if hostPorts[key] {
				errs.duplicate(field+".hostPort", key)
			}
			hostPorts[key] = true
		}
	}
}

func checkVolumeMounts(errs *ErrorList, container string, mounts []VolumeMount, volumes map[string]bool) {
	paths := map[string]bool{}
	for i, m := range mounts {
		field := fmt.Sprintf("%s.volumeMounts[%d]", container, i)
		switch {
		case m.Name == "":
			errs.required(field+".name", "")
		case !volumes[m.Name]:
			errs.notFound(field+".name", m.Name)
		}
		switch {
		case m.MountPath == "":
			errs.required(field+".mountPath", "")
		case !path.IsAbs(m.MountPath):
			errs.invalid(field+".mountPath", m.MountPath, "must be an absolute path")
		case paths[path.Clean(m.MountPath)]:
			errs.invalid(field+".mountPath", m.MountPath, "must be unique")
		}
		paths[path.Clean(m.MountPath)] = true
		switch {
		case path.IsAbs(m.SubPath):
			errs.invalid(field+".subPath", m.SubPath, "must be a relative path")
		case hasBackstep(m.SubPath):
			errs.invalid(field+".subPath", m.SubPath, "must not contain '..'")
		}
	}
}

// checkID accepts what Kubernetes accepts as a user or group ID.
func checkID(errs *ErrorList, field string, id *int64) {
	if id != nil && (*id < 0 || *id > 2147483647) {
		errs.invalid(field, *id, "must be between 0 and 2147483647, inclusive")
	}
}

func checkPodSpec(p *Pod, errs *ErrorList) {
	switch {
	case p.Spec.RestartPolicy == "":
		errs.required("spec.restartPolicy", "")
	case !slices.Contains(restartPolicies, string(p.Spec.RestartPolicy)):
		errs.unsupported("spec.restartPolicy", string(p.Spec.RestartPolicy), restartPolicies...)
	}
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs.invalid("spec.terminationGracePeriodSeconds", *g, "must be greater than or equal to 0")
	}
	if p.Spec.Hostname != "" {
		checkDNS1123Label(errs, "spec.hostname", p.Spec.Hostname)
	}
	if p.Spec.ServiceAccountName != "" {
		checkDNS1123Subdomain(errs, "spec.serviceAccountName", p.Spec.ServiceAccountName)
	}
	if p.Spec.Subdomain != "" {
		checkDNS1123Label(errs, "spec.subdomain", p.Spec.Subdomain)
	}
	if sc := p.Spec.SecurityContext; sc != nil {
		checkPodSecurityContext(errs, "spec.securityContext", sc)
	}
}

// Names, as Kubernetes' k8s.io/apimachinery/pkg/util/validation checks them, with its messages.
const (
	dns1123LabelFmt       = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	dns1123SubdomainFmt   = dns1123LabelFmt + `(\.` + dns1123LabelFmt + `)*`
	qualifiedNameFmt      = `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
	labelValueFmt         = `(` + qualifiedNameFmt + `)?`
	dns1123LabelErrMsg    = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
	dns1123SubdomainMsg   = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
	qualifiedNameErrMsg   = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
	labelValueErrMsg      = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
	dns1123LabelMaxLength = 63
	dns1123SubdomainMax   = 253
	qualifiedNameMax      = 63
	labelValueMax         = 63
	portNameMax           = 15
)

var (
	dns1123LabelRE     = regexp.MustCompile("^" + dns1123LabelFmt + "$")
	dns1123SubdomainRE = regexp.MustCompile("^" + dns1123SubdomainFmt + "$")
	qualifiedNameRE    = regexp.MustCompile("^" + qualifiedNameFmt + "$")
	labelValueRE       = regexp.MustCompile("^" + labelValueFmt + "$")
	portNameCharsetRE  = regexp.MustCompile("^[-a-z0-9]+$")
	portNameLetterRE   = regexp.MustCompile("[a-z]")
)

// regexError words a pattern mismatch as Kubernetes does, odd double space included, so that
// messages match what users find when they search for them.
func regexError(msg, format string, examples ...string) string {
	msg += " (e.g. "
	for i, e := range examples {
		if i > 0 {
			msg += " or "
		}
		msg += "'" + e + "', "
	}
	return msg + "regex used for validation is '" + format + "')"
}

func maxLenError(n int) string {
	return fmt.Sprintf("must be no more than %d characters", n)
}

func checkDNS1123Label(errs *ErrorList, field, value string) {
	if len(value) > dns1123LabelMaxLength {
		errs.invalid(field, value, maxLenError(dns1123LabelMaxLength))
	}
	if !dns1123LabelRE.MatchString(value) {
		if dns1123SubdomainRE.MatchString(value) {
			errs.invalid(field, value, "must not contain dots")
		} else {
			errs.invalid(field, value, regexError(dns1123LabelErrMsg, dns1123LabelFmt, "my-name", "123-abc"))
		}
	}
}

func checkDNS1123Subdomain(errs *ErrorList, field, value string) {
	for _, msg := range dns1123SubdomainErrors(value) {
		errs.invalid(field, value, msg)
	}
}

func dns1123SubdomainErrors(value string) []string {
	var msgs []string
	if len(value) > dns1123SubdomainMax {
		msgs = append(msgs, maxLenError(dns1123SubdomainMax))
	}
	if !dns1123SubdomainRE.MatchString(value) {
		msgs = append(msgs, regexError(dns1123SubdomainMsg, dns1123SubdomainFmt, "example.com"))
	}
	return msgs
}

// qualifiedNameErrors checks a label or annotation key: a name, optionally behind a DNS
// subdomain prefix and a slash (app.kubernetes.io/name).
func qualifiedNameErrors(value string) []string {
	var msgs []string
	name := value
	parts := strings.Split(value, "/")
	switch len(parts) {
	case 1:
	case 2:
		var prefix string
		prefix, name = parts[0], parts[1]
		if prefix == "" {
			msgs = append(msgs, "prefix part must be non-empty")
		} else {
			for _, msg := range dns1123SubdomainErrors(prefix) {
				msgs = append(msgs, "prefix part "+msg)
			}
		}
	default:
		return []string{"a qualified name " + regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc") +
			" with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"}
	}
	switch {
	case name == "":
		msgs = append(msgs, "name part must be non-empty")
	case len(name) > qualifiedNameMax:
		msgs = append(msgs, "name part "+maxLenError(qualifiedNameMax))
	}
	if name != "" && !qualifiedNameRE.MatchString(name) {
		msgs = append(msgs, "name part "+regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc"))
	}
	return msgs
}

func labelValueErrors(value string) []string {
	var msgs []string
	if len(value) > labelValueMax {
		msgs = append(msgs, maxLenError(labelValueMax))
	}
	if !labelValueRE.MatchString(value) {
		msgs = append(msgs, regexError(labelValueErrMsg, labelValueFmt, "MyValue", "my_value", "12345"))
	}
	return msgs
}

// portNameErrors checks an IANA_SVC_NAME (RFC 6335), as Kubernetes does for port names.
func portNameErrors(value string) []string {
	var msgs []string
	if len(value) > portNameMax {
		msgs = append(msgs, maxLenError(portNameMax))
	}
	if !portNameCharsetRE.MatchString(value) {
		msgs = append(msgs, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
	}
	if !portNameLetterRE.MatchString(value) {
		msgs = append(msgs, "must contain at least one letter (a-z)")
	}
	if strings.Contains(value, "--") {
		msgs = append(msgs, "must not contain consecutive hyphens")
	}
	if strings.HasPrefix(value, "-") || strings.HasSuffix(value, "-") {
		msgs = append(msgs, "must not begin or end with a hyphen")
	}
	return msgs
}

// containerNames are the names of the pod's containers, init containers included.
func containerNames(p *Pod) []string {
	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	return names
}
