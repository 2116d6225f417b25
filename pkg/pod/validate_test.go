package pod

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// validPod is a defaulted pod that uses most of what Validate checks.
func validPod() *Pod {
	uid := int64(1000)
	size := MustParseQuantity("1Gi")
	p := &Pod{
		Metadata: ObjectMeta{
			Name:        "web.example",
			Labels:      map[string]string{"app": "web", "app.kubernetes.io/name": "web", "empty": ""},
			Annotations: map[string]string{"Example.com/Owner": "anyone at all"},
		},
		Spec: PodSpec{
			Hostname: "web",
			Containers: []Container{
				{
					Name:  "app",
					Image: "registry.local:5000/app:1.0",
					Env: []EnvVar{
						{Name: "PLAIN", Value: "x"},
						{Name: "EMPTY"},
						{Name: "dotted.name-ok"},
						{Name: "POD", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "APP", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
						{Name: "OWNER", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.annotations['Example.com/Owner']"}}},
					},
					Ports: []ContainerPort{
						{Name: "http", ContainerPort: 80, HostPort: 8080},
						{ContainerPort: 53, Protocol: "UDP", HostIP: "::1", HostPort: 8053},
					},
					VolumeMounts: []VolumeMount{
						{Name: "data", MountPath: "/data"},
						{Name: "data", MountPath: "/logs", SubPath: "logs/app"},
					},
					WorkingDir:      "/srv",
					SecurityContext: &SecurityContext{RunAsUser: &uid, RunAsGroup: &uid},
				},
				{
					Name:  "sidecar",
					Image: "busybox",
					Ports: []ContainerPort{{ContainerPort: 80, HostPort: 9090}},
					Lifecycle: &Lifecycle{
						PostStart: &LifecycleHandler{Exec: &ExecAction{Command: []string{"true"}}},
						PreStop:   &LifecycleHandler{Sleep: &SleepAction{Seconds: 5}},
					},
					LivenessProbe:  &Probe{TCPSocket: &TCPSocketAction{Port: IntOrString{IntVal: 80}}},
					ReadinessProbe: &Probe{HTTPGet: &HTTPGetAction{Port: IntOrString{IntVal: 80}}, SuccessThreshold: 2},
				},
			},
			InitContainers: []Container{
				{Name: "init", Image: "busybox"},
				{
					Name:          "proxy",
					Image:         "busybox",
					RestartPolicy: new(RestartAlways),
					Ports:         []ContainerPort{{Name: "proxy", ContainerPort: 9000}},
					StartupProbe:  &Probe{HTTPGet: &HTTPGetAction{Port: IntOrString{StrVal: "proxy", IsStr: true}}},
				},
			},
			Volumes: []Volume{
				{Name: "data", EmptyDir: &EmptyDirVolumeSource{SizeLimit: &size}},
				{Name: "host", HostPath: &HostPathVolumeSource{Path: "/srv/host"}},
			},
		},
	}
	SetDefaults(p)
	return p
}

func TestValidateValid(t *testing.T) {
	if err := Validate(validPod()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Pod)
		field  string
		detail string
	}{
		{"apiVersion", func(p *Pod) { p.APIVersion = "v2" }, "apiVersion", `Unsupported value: "v2": supported values: "v1"`},
		{"kind", func(p *Pod) { p.Kind = "" }, "kind", "Required value"},
		{"name required", func(p *Pod) { p.Metadata.Name = "" }, "metadata.name", "Required value"},
		{"name upper case", func(p *Pod) { p.Metadata.Name = "Web" }, "metadata.name",
			`Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"name too long", func(p *Pod) { p.Metadata.Name = strings.Repeat("a", 254) }, "metadata.name", "must be no more than 253 characters"},
		{"namespace required", func(p *Pod) { p.Metadata.Namespace = "" }, "metadata.namespace", "Required value"},
		{"namespace too long", func(p *Pod) { p.Metadata.Namespace = strings.Repeat("a", 64) }, "metadata.namespace", "must be no more than 63 characters"},
		{"namespace with dots", func(p *Pod) { p.Metadata.Namespace = "a.b" }, "metadata.namespace", "must not contain dots"},
		{"label key", func(p *Pod) { p.Metadata.Labels["-x"] = "" }, "metadata.labels[-x]", "name part must consist of alphanumeric characters"},
		{"label key prefix", func(p *Pod) { p.Metadata.Labels["Example.com/x"] = "" }, "metadata.labels[Example.com/x]", "prefix part a lowercase RFC 1123 subdomain"},
		{"label key empty prefix", func(p *Pod) { p.Metadata.Labels["/x"] = "" }, "metadata.labels[/x]", "prefix part must be non-empty"},
		{"label key too long", func(p *Pod) { p.Metadata.Labels[strings.Repeat("k", 64)] = "" }, "metadata.labels[" + strings.Repeat("k", 64) + "]", "name part must be no more than 63 characters"},
		{"label value", func(p *Pod) { p.Metadata.Labels["app"] = "a b" }, "metadata.labels[app]", `Invalid value: "a b": a valid label must be an empty string`},
		{"label value too long", func(p *Pod) { p.Metadata.Labels["app"] = strings.Repeat("v", 64) }, "metadata.labels[app]", "must be no more than 63 characters"},
		{"annotation key", func(p *Pod) { p.Metadata.Annotations["a b"] = "" }, "metadata.annotations[a b]", "name part must consist of"},
		{"annotations too large", func(p *Pod) { p.Metadata.Annotations["big"] = strings.Repeat("x", 256*1024) }, "metadata.annotations", "Too long: may not be more than 262144 bytes"},
		{"no containers", func(p *Pod) { p.Spec.Containers = nil }, "spec.containers", "Required value"},
		{"too many containers", func(p *Pod) {
			for i := len(p.Spec.Containers) + len(p.Spec.InitContainers); i <= MaxContainers; i++ {
				p.Spec.Containers = append(p.Spec.Containers, Container{Name: fmt.Sprintf("c%d", i), Image: "busybox", ImagePullPolicy: PullIfNotPresent})
			}
		}, "spec.containers", "Too many: 1001: must have at most 1000 items (initContainers and containers together)"},
		{"container name", func(p *Pod) { p.Spec.Containers[0].Name = "Web" }, "spec.containers[0].name",
			`Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"container name required", func(p *Pod) { p.Spec.Containers[1].Name = "" }, "spec.containers[1].name", "Required value"},
		{"container name duplicate", func(p *Pod) { p.Spec.Containers[1].Name = "app" }, "spec.containers[1].name", `Duplicate value: "app"`},
		{"image required", func(p *Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image", "Required value"},
		{"image whitespace", func(p *Pod) { p.Spec.Containers[0].Image = "busybox " }, "spec.containers[0].image", "must not contain whitespace"},
		{"pull policy", func(p *Pod) { p.Spec.Containers[0].ImagePullPolicy = "always" }, "spec.containers[0].imagePullPolicy", `supported values: "Always", "IfNotPresent", "Never"`},
		{"pull policy required", func(p *Pod) { p.Spec.Containers[0].ImagePullPolicy = "" }, "spec.containers[0].imagePullPolicy", "Required value"},
		{"workingDir", func(p *Pod) { p.Spec.Containers[0].WorkingDir = "srv" }, "spec.containers[0].workingDir", "must be an absolute path"},
		{"env name required", func(p *Pod) { p.Spec.Containers[0].Env[0].Name = "" }, "spec.containers[0].env[0].name", "Required value"},
		{"env name =", func(p *Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" }, "spec.containers[0].env[0].name", "printable ASCII characters other than '='"},
		{"env name control", func(p *Pod) { p.Spec.Containers[0].Env[0].Name = "A\tB" }, "spec.containers[0].env[0].name", "printable ASCII"},
		{"env value and valueFrom", func(p *Pod) { p.Spec.Containers[0].Env[3].Value = "x" }, "spec.containers[0].env[3].valueFrom", "may not be specified when `value` is not empty"},
		{"env valueFrom empty", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef = nil }, "spec.containers[0].env[3].valueFrom", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"},
		{"env fieldRef apiVersion", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef.APIVersion = "v2" }, "spec.containers[0].env[3].valueFrom.fieldRef.apiVersion", "Unsupported value"},
		{"env fieldPath required", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef.FieldPath = "" }, "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath", "Required value"},
		{"env fieldPath of a volume only", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef.FieldPath = "metadata.labels" }, "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath", `Unsupported value: "metadata.labels"`},
		{"stdin without tty", func(p *Pod) { p.Spec.Containers[0].Stdin = true }, "spec.containers[0].stdin", "Invalid value: true: podd keeps a container's stdin open only with tty: true"},
		{"serviceAccountName", func(p *Pod) { p.Spec.ServiceAccountName = "ci/bot" }, "spec.serviceAccountName", `Invalid value: "ci/bot": a lowercase RFC 1123 subdomain`},
		{"network annotation", func(p *Pod) { p.Metadata.Annotations = map[string]string{AnnotationNetwork: "host"} }, "metadata.annotations[podd.io/network]", `Unsupported value: "host": supported values: "bridge", "none"`},
		{"network none with hostNetwork", func(p *Pod) {
			p.Metadata.Annotations = map[string]string{AnnotationNetwork: "none"}
			p.Spec.HostNetwork = true
			for i := range p.Spec.Containers {
				for j := range p.Spec.Containers[i].Ports {
					p.Spec.Containers[i].Ports[j].HostPort = 0
				}
			}
		}, "metadata.annotations[podd.io/network]", "may not be set when `spec.hostNetwork` is true"},
		{"hostPort without network", func(p *Pod) { p.Metadata.Annotations = map[string]string{AnnotationNetwork: "none"} }, "spec.containers[0].ports[0].hostPort", "may not be set in a pod without network"},
		{"hostPort SCTP", func(p *Pod) { p.Spec.Containers[0].Ports[0].Protocol = "SCTP" }, "spec.containers[0].ports[0].protocol", `Unsupported value: "SCTP": supported values: "TCP", "UDP"`},
		{"env fieldPath unknown", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef.FieldPath = "metadata.title" }, "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath", `Unsupported value: "metadata.title": supported values: "metadata.name"`},
		{"env fieldPath double quotes", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef.FieldPath = `metadata.labels["app"]` }, "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath", "Unsupported value"},
		{"env fieldPath bad label key", func(p *Pod) { p.Spec.Containers[0].Env[3].ValueFrom.FieldRef.FieldPath = "metadata.labels['a b']" }, "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath", "name part must consist of"},
		{"containerPort zero", func(p *Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, "spec.containers[0].ports[0].containerPort", "Invalid value: 0: must be between 1 and 65535, inclusive"},
		{"hostPort too large", func(p *Pod) { p.Spec.Containers[0].Ports[0].HostPort = 65536 }, "spec.containers[0].ports[0].hostPort", "must be between 1 and 65535, inclusive"},
		{"hostPort negative", func(p *Pod) { p.Spec.Containers[0].Ports[0].HostPort = -1 }, "spec.containers[0].ports[0].hostPort", "must be between 1 and 65535, inclusive"},
		{"hostPort taken", func(p *Pod) { p.Spec.Containers[1].Ports[0].HostPort = 8080 }, "spec.containers[1].ports[0].hostPort", `Duplicate value: "/TCP/8080"`},
		{"hostPort with hostNetwork", func(p *Pod) { p.Spec.HostNetwork = true }, "spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true"},
		{"protocol", func(p *Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" }, "spec.containers[0].ports[0].protocol", `Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`},
		{"protocol required", func(p *Pod) { p.Spec.Containers[0].Ports[0].Protocol = "" }, "spec.containers[0].ports[0].protocol", "Required value"},
		{"port name too long", func(p *Pod) { p.Spec.Containers[0].Ports[0].Name = "a-very-long-port-name" }, "spec.containers[0].ports[0].name", "must be no more than 15 characters"},
		{"port name digits", func(p *Pod) { p.Spec.Containers[0].Ports[0].Name = "8080" }, "spec.containers[0].ports[0].name", "must contain at least one letter (a-z)"},
		{"port name hyphens", func(p *Pod) { p.Spec.Containers[0].Ports[0].Name = "a--b" }, "spec.containers[0].ports[0].name", "must not contain consecutive hyphens"},
		{"port name edge hyphen", func(p *Pod) { p.Spec.Containers[0].Ports[0].Name = "-ab" }, "spec.containers[0].ports[0].name", "must not begin or end with a hyphen"},
		{"port name duplicate", func(p *Pod) { p.Spec.Containers[0].Ports[1].Name = "http" }, "spec.containers[0].ports[1].name", `Duplicate value: "http"`},
		{"hostIP", func(p *Pod) { p.Spec.Containers[0].Ports[0].HostIP = "localhost" }, "spec.containers[0].ports[0].hostIP", "must be a valid IP address"},
		{"mount name required", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "" }, "spec.containers[0].volumeMounts[0].name", "Required value"},
		{"mount name not found", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "cache" }, "spec.containers[0].volumeMounts[0].name", `Not found: "cache"`},
		{"mountPath required", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" }, "spec.containers[0].volumeMounts[0].mountPath", "Required value"},
		{"mountPath relative", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "data" }, "spec.containers[0].volumeMounts[0].mountPath", "must be an absolute path"},
		{"mountPath unique", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[1].MountPath = "/data/." }, "spec.containers[0].volumeMounts[1].mountPath", `Invalid value: "/data/.": must be unique`},
		{"subPath absolute", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[1].SubPath = "/logs" }, "spec.containers[0].volumeMounts[1].subPath", "must be a relative path"},
		{"subPath backstep", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[1].SubPath = "logs/../.." }, "spec.containers[0].volumeMounts[1].subPath", "must not contain '..'"},
		{"runAsUser", func(p *Pod) { *p.Spec.Containers[0].SecurityContext.RunAsUser = -1 }, "spec.containers[0].securityContext.runAsUser", "Invalid value: -1: must be between 0 and 2147483647, inclusive"},
		{"runAsGroup", func(p *Pod) { p.Spec.Containers[0].SecurityContext.RunAsGroup = new(int64(1 << 31)) }, "spec.containers[0].securityContext.runAsGroup", "must be between 0 and 2147483647"},
		{"volume name required", func(p *Pod) { p.Spec.Volumes[1].Name = "" }, "spec.volumes[1].name", "Required value"},
		{"volume name", func(p *Pod) { p.Spec.Volumes[1].Name = "Host" }, "spec.volumes[1].name", "a lowercase RFC 1123 label"},
		{"volume name duplicate", func(p *Pod) { p.Spec.Volumes[1].Name = "data" }, "spec.volumes[1].name", `Duplicate value: "data"`},
		{"volume without source", func(p *Pod) { p.Spec.Volumes[1].HostPath = nil }, "spec.volumes[1]", "Required value: must specify a volume type"},
		{"volume with two sources", func(p *Pod) { p.Spec.Volumes[1].EmptyDir = &EmptyDirVolumeSource{} }, "spec.volumes[1].hostPath", "Forbidden: may not specify more than 1 volume type"},
		{"emptyDir medium", func(p *Pod) { p.Spec.Volumes[0].EmptyDir.Medium = "memory" }, "spec.volumes[0].emptyDir.medium", `Unsupported value: "memory": supported values: "", "Memory"`},
		{"emptyDir sizeLimit", func(p *Pod) { p.Spec.Volumes[0].EmptyDir.SizeLimit = new(MustParseQuantity("-1")) }, "spec.volumes[0].emptyDir.sizeLimit", `Invalid value: "-1": must be greater than or equal to 0`},
		{"hostPath path required", func(p *Pod) { p.Spec.Volumes[1].HostPath.Path = "" }, "spec.volumes[1].hostPath.path", "Required value"},
		{"hostPath path relative", func(p *Pod) { p.Spec.Volumes[1].HostPath.Path = "srv" }, "spec.volumes[1].hostPath.path", "must be an absolute path"},
		{"hostPath path backstep", func(p *Pod) { p.Spec.Volumes[1].HostPath.Path = "/srv/../etc" }, "spec.volumes[1].hostPath.path", "must not contain '..'"},
		{"hostPath type", func(p *Pod) { p.Spec.Volumes[1].HostPath.Type = new(HostPathType("directory")) }, "spec.volumes[1].hostPath.type",
			`Unsupported value: "directory": supported values: "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"`},
		{"restartPolicy", func(p *Pod) { p.Spec.RestartPolicy = "Sometimes" }, "spec.restartPolicy", `Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`},
		{"restartPolicy required", func(p *Pod) { p.Spec.RestartPolicy = "" }, "spec.restartPolicy", "Required value"},
		{"grace", func(p *Pod) { p.Spec.TerminationGracePeriodSeconds = new(int64(-1)) }, "spec.terminationGracePeriodSeconds", "must be greater than or equal to 0"},
		{"hostname", func(p *Pod) { p.Spec.Hostname = "web.example" }, "spec.hostname", "must not contain dots"},
		{"init container name", func(p *Pod) { p.Spec.InitContainers[0].Name = "Init" }, "spec.initContainers[0].name", "a lowercase RFC 1123 label"},
		{"init container name taken", func(p *Pod) { p.Spec.Containers[0].Name = "init" }, "spec.initContainers[0].name", `Duplicate value: "init"`},
		{"init container image", func(p *Pod) { p.Spec.InitContainers[0].Image = "" }, "spec.initContainers[0].image", "Required value"},
		{"init container mount", func(p *Pod) {
			p.Spec.InitContainers[0].VolumeMounts = []VolumeMount{{Name: "nope", MountPath: "/x"}}
		}, "spec.initContainers[0].volumeMounts[0].name", `Not found: "nope"`},
		{"init container restartPolicy", func(p *Pod) { p.Spec.InitContainers[1].RestartPolicy = new(RestartNever) }, "spec.initContainers[1].restartPolicy", `Unsupported value: "Never": supported values: "Always"`},
		{"init container probe", func(p *Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &Probe{Exec: &ExecAction{Command: []string{"true"}}}
		}, "spec.initContainers[0].readinessProbe", "Forbidden: may not be set for init containers without restartPolicy=Always"},
		{"init container lifecycle", func(p *Pod) { p.Spec.InitContainers[0].Lifecycle = &Lifecycle{} }, "spec.initContainers[0].lifecycle", "may not be set for init containers"},
		{"container restartPolicy", func(p *Pod) { p.Spec.Containers[0].RestartPolicy = new(RestartAlways) }, "spec.containers[0].restartPolicy", "Forbidden: may not be set for non-init containers"},
		{"hook without handler", func(p *Pod) { p.Spec.Containers[1].Lifecycle.PostStart = &LifecycleHandler{} }, "spec.containers[1].lifecycle.postStart", "Required value: must specify a handler type"},
		{"hook with two handlers", func(p *Pod) { p.Spec.Containers[1].Lifecycle.PreStop.Exec = &ExecAction{Command: []string{"x"}} }, "spec.containers[1].lifecycle.preStop.sleep", "may not specify more than 1 handler type"},
		{"hook exec command", func(p *Pod) { p.Spec.Containers[1].Lifecycle.PostStart.Exec.Command = nil }, "spec.containers[1].lifecycle.postStart.exec.command", "Required value"},
		{"hook sleep negative", func(p *Pod) { p.Spec.Containers[1].Lifecycle.PreStop.Sleep.Seconds = -1 }, "spec.containers[1].lifecycle.preStop.sleep.seconds", "must be non-negative"},
		{"hook sleep beyond grace", func(p *Pod) { p.Spec.Containers[1].Lifecycle.PreStop.Sleep.Seconds = 31 }, "spec.containers[1].lifecycle.preStop.sleep.seconds", "must be less than terminationGracePeriodSeconds"},
		{"hook httpGet port", func(p *Pod) {
			p.Spec.Containers[1].Lifecycle.PostStart = &LifecycleHandler{HTTPGet: &HTTPGetAction{Port: IntOrString{IntVal: 0}, Scheme: "HTTP"}}
		}, "spec.containers[1].lifecycle.postStart.httpGet.port", "must be between 1 and 65535, inclusive"},
		{"probe without handler", func(p *Pod) { p.Spec.Containers[1].LivenessProbe.TCPSocket = nil }, "spec.containers[1].livenessProbe", "must specify a handler type"},
		{"probe with two handlers", func(p *Pod) { p.Spec.Containers[1].LivenessProbe.GRPC = &GRPCAction{Port: 80} }, "spec.containers[1].livenessProbe.grpc", "may not specify more than 1 handler type"},
		{"probe grpc port", func(p *Pod) { p.Spec.Containers[1].ReadinessProbe = &Probe{GRPC: &GRPCAction{Port: 70000}} }, "spec.containers[1].readinessProbe.grpc.port", "must be between 1 and 65535"},
		{"probe port name form", func(p *Pod) {
			p.Spec.Containers[1].LivenessProbe.TCPSocket.Port = IntOrString{StrVal: "Web", IsStr: true}
		}, "spec.containers[1].livenessProbe.tcpSocket.port", "must contain only alpha-numeric characters"},
		{"probe port name unknown", func(p *Pod) {
			p.Spec.Containers[1].LivenessProbe.TCPSocket.Port = IntOrString{StrVal: "web", IsStr: true}
		}, "spec.containers[1].livenessProbe.tcpSocket.port", `Not found: "web"`},
		{"probe scheme", func(p *Pod) { p.Spec.Containers[1].ReadinessProbe.HTTPGet.Scheme = "ftp" }, "spec.containers[1].readinessProbe.httpGet.scheme", `Unsupported value: "ftp": supported values: "HTTP", "HTTPS"`},
		{"probe header", func(p *Pod) {
			p.Spec.Containers[1].ReadinessProbe.HTTPGet.HTTPHeaders = []HTTPHeader{{Name: "X Bad"}}
		}, "spec.containers[1].readinessProbe.httpGet.httpHeaders[0].name", "a valid HTTP header must consist of alphanumeric characters or '-'"},
		{"probe exec command", func(p *Pod) { p.Spec.Containers[1].LivenessProbe = &Probe{Exec: &ExecAction{}, SuccessThreshold: 1} }, "spec.containers[1].livenessProbe.exec.command", "Required value"},
		{"probe negative timing", func(p *Pod) { p.Spec.Containers[1].LivenessProbe.InitialDelaySeconds = -1 }, "spec.containers[1].livenessProbe.initialDelaySeconds", "must be greater than or equal to 0"},
		{"liveness successThreshold", func(p *Pod) { p.Spec.Containers[1].LivenessProbe.SuccessThreshold = 2 }, "spec.containers[1].livenessProbe.successThreshold", "Invalid value: 2: must be 1"},
		{"startup successThreshold", func(p *Pod) { p.Spec.InitContainers[1].StartupProbe.SuccessThreshold = 3 }, "spec.initContainers[1].startupProbe.successThreshold", "must be 1"},
		{"readiness probe grace", func(p *Pod) { p.Spec.Containers[1].ReadinessProbe.TerminationGracePeriodSeconds = new(int64(5)) }, "spec.containers[1].readinessProbe.terminationGracePeriodSeconds", "must not be set for readinessProbes"},
		{"liveness probe grace", func(p *Pod) { p.Spec.Containers[1].LivenessProbe.TerminationGracePeriodSeconds = new(int64(0)) }, "spec.containers[1].livenessProbe.terminationGracePeriodSeconds", "must be greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			errs := fieldErrors(t, Validate(p))
			if !slices.ContainsFunc(errs, func(e *FieldError) bool { return e.Field == tt.field && strings.Contains(e.Detail, tt.detail) }) {
				t.Errorf("want an error on %s containing\n%s\ngot\n%v", tt.field, tt.detail, Validate(p))
			}
			for _, e := range errs {
				if e.Line != 0 {
					t.Errorf("Validate set a line: %v", e)
				}
			}
		})
	}
}

// TestValidateReportsAll checks that the checks do not stop at the first problem and keep their
// order: metadata, volumes, containers, then the rest of the spec.
func TestValidateReportsAll(t *testing.T) {
	p := validPod()
	p.Spec.RestartPolicy = "Sometimes"
	p.Spec.Containers[1].Image = ""
	p.Spec.Volumes[0].Name = "Data"
	p.Metadata.Name = "Web"
	var got []string
	for _, e := range fieldErrors(t, Validate(p)) {
		got = append(got, e.Field)
	}
	want := []string{"metadata.name", "spec.volumes[0].name", "spec.containers[0].volumeMounts[0].name", "spec.containers[0].volumeMounts[1].name", "spec.containers[1].image", "spec.restartPolicy"}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %q\nwant     %q", got, want)
	}
}
