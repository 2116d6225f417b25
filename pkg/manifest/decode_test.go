package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"gopkg.in/yaml.v3"

	"github.com/podd-dev/podd/pkg/pod"
)

// fieldErrors flattens what Decode and Validate return, asserting that every part is a
// *FieldError classified as invalid input.
func fieldErrors(t *testing.T, err error) []*pod.FieldError {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("error is not an invalid argument: %v", err)
	}
	var parts []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		parts = joined.Unwrap()
	} else {
		parts = []error{err}
	}
	var out []*pod.FieldError
	for _, part := range parts {
		var fe *pod.FieldError
		if !errors.As(part, &fe) {
			t.Fatalf("error part %T is not a *FieldError: %v", part, part)
		}
		if !errdefs.IsInvalidArgument(part) {
			t.Errorf("error part is not an invalid argument: %v", part)
		}
		out = append(out, fe)
	}
	return out
}

// head is a valid pod; cases append lines to it, from line 9 on.
const head = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: app
    image: busybox
`

func TestDecodeGood(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		check    func(t *testing.T, pods []*pod.Pod)
	}{
		{
			name:     "minimal",
			manifest: head,
			check: func(t *testing.T, pods []*pod.Pod) {
				p := pods[0]
				if p.Metadata.Name != "web" || p.Spec.Containers[0].Image != "busybox" {
					t.Errorf("decoded %+v", p)
				}
				// Decode applies the defaults.
				if p.Metadata.Namespace != "default" || p.Spec.RestartPolicy != pod.RestartAlways ||
					p.Spec.Containers[0].ImagePullPolicy != pod.PullAlways || *p.Spec.TerminationGracePeriodSeconds != 30 {
					t.Errorf("defaults not applied: %+v", p)
				}
			},
		},
		{
			name: "JSON",
			manifest: `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
			 "spec": {"containers": [{"name": "a", "image": "busybox:1.36", "ports": [{"containerPort": 80}]}],
			          "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}]}}`,
			check: func(t *testing.T, pods []*pod.Pod) {
				c := pods[0].Spec.Containers[0]
				if c.Ports[0].ContainerPort != 80 || c.Ports[0].Protocol != "TCP" || c.ImagePullPolicy != pod.PullIfNotPresent {
					t.Errorf("decoded %+v", c)
				}
				if got := pods[0].Spec.Volumes[0].EmptyDir.SizeLimit.Value(); got != 1<<30 {
					t.Errorf("sizeLimit = %d", got)
				}
			},
		},
		{
			name:     "multiple documents, empty ones skipped",
			manifest: "---\n" + head + "---\n---\n# just a comment\n---\n" + strings.Replace(head, "name: web", "name: web2", 1) + "...\n",
			check: func(t *testing.T, pods []*pod.Pod) {
				if len(pods) != 2 || pods[0].Metadata.Name != "web" || pods[1].Metadata.Name != "web2" {
					t.Errorf("got %d pods", len(pods))
				}
			},
		},
		{
			name: "kubectl run --dry-run=client -o yaml",
			manifest: `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels:
    run: web
  name: web
spec:
  containers:
  - image: nginx
    name: web
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
`,
			check: func(t *testing.T, pods []*pod.Pod) {
				if pods[0].Metadata.Labels["run"] != "web" || pods[0].Metadata.CreationTimestamp != nil {
					t.Errorf("decoded %+v", pods[0].Metadata)
				}
			},
		},
		{
			name: "server-populated fields are dropped",
			manifest: strings.Replace(head, "  name: web\n", "  name: web\n  uid: 1234\n  resourceVersion: \"9\"\n  creationTimestamp: \"2024-01-01T00:00:00Z\"\n", 1) +
				"status:\n  phase: Running\n  podIP: 10.0.0.1\n",
			check: func(t *testing.T, pods []*pod.Pod) {
				p := pods[0]
				if p.Metadata.UID != "" || p.Metadata.CreationTimestamp != nil || p.Status.Phase != "" {
					t.Errorf("server-populated fields kept: %+v %+v", p.Metadata, p.Status)
				}
			},
		},
		{
			name: "harmless defaults of unsupported fields",
			manifest: head + `    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    stdin: false
    tty: False
    resources:
      limits: {}
    lifecycle: null
    securityContext:
      privileged: false
      capabilities: {}
  dnsPolicy: Default
  enableServiceLinks: false
  priority: 0
  schedulerName: default-scheduler
  securityContext: {}
  tolerations: []
  serviceAccountName: ""
`,
		},
		{
			name: "init containers share the harmless defaults",
			manifest: head + `  initContainers:
  - name: init
    image: busybox
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
`,
			check: func(t *testing.T, pods []*pod.Pod) {
				if c := pods[0].Spec.InitContainers[0]; c.Name != "init" || c.ImagePullPolicy != pod.PullAlways {
					t.Errorf("decoded %+v", c)
				}
			},
		},
		{
			name: "anchors, aliases and merge keys",
			manifest: `apiVersion: v1
kind: Pod
metadata:
  name: anchors
  labels: &labels {app: x}
  annotations: *labels
spec:
  containers:
  - &base
    name: a
    image: busybox
    env: &env
    - {name: A, value: "1"}
  - <<: *base
    name: b
    env: *env
  - <<: [{name: c}, *base]
`,
			check: func(t *testing.T, pods []*pod.Pod) {
				cs := pods[0].Spec.Containers
				if len(cs) != 3 || cs[1].Name != "b" || cs[1].Image != "busybox" || cs[2].Name != "c" || cs[1].Env[0].Value != "1" {
					t.Errorf("decoded %+v", cs)
				}
				if pods[0].Metadata.Annotations["app"] != "x" {
					t.Errorf("annotations %v", pods[0].Metadata.Annotations)
				}
			},
		},
		{
			name: "quantities as YAML numbers and strings",
			manifest: head + `  volumes:
  - name: a
    emptyDir: {sizeLimit: 1000}
  - name: b
    emptyDir: {sizeLimit: 1.5}
  - name: c
    emptyDir: {sizeLimit: 1e3}
  - name: d
    emptyDir: {sizeLimit: "64Mi"}
  - name: e
    emptyDir: {sizeLimit: 0x10}
`,
			check: func(t *testing.T, pods []*pod.Pod) {
				var got []int64
				for _, v := range pods[0].Spec.Volumes {
					got = append(got, v.EmptyDir.SizeLimit.Value())
				}
				if want := []int64{1000, 2, 1000, 64 << 20, 16}; !slices.Equal(got, want) {
					t.Errorf("sizeLimits = %v, want %v", got, want)
				}
			},
		},
		{
			name: "YAML spellings of integers and booleans",
			manifest: head + `    ports:
    - containerPort: 0x50
    securityContext: {runAsUser: 1_000, readOnlyRootFilesystem: TRUE}
  terminationGracePeriodSeconds: +5
`,
			check: func(t *testing.T, pods []*pod.Pod) {
				c := pods[0].Spec.Containers[0]
				if c.Ports[0].ContainerPort != 80 || *c.SecurityContext.RunAsUser != 1000 || !*c.SecurityContext.ReadOnlyRootFilesystem {
					t.Errorf("decoded %+v %+v", c.Ports, c.SecurityContext)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, err := Decode([]byte(tt.manifest))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tt.check != nil {
				tt.check(t, pods)
			}
		})
	}
}

func TestDecodeAllFields(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/all-fields.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	u, g := int64(1000), int64(1000)
	ro := true
	grace := int64(10)
	memory, dirOrCreate := pod.StorageMediumMemory, pod.HostPathDirectoryOrCreate
	size := pod.MustParseQuantity("64Mi")
	always := pod.RestartAlways
	five := int64(5)
	service := "main"
	want := &pod.Pod{
		APIVersion: "v1",
		Kind:       "Pod",
		Metadata: pod.ObjectMeta{
			Name:        "everything",
			Namespace:   "tools",
			Labels:      map[string]string{"app": "everything", "example.com/tier": "backend"},
			Annotations: map[string]string{"Example.com/Owner": "ops team"},
		},
		Spec: pod.PodSpec{
			Hostname:                      "all-fields",
			RestartPolicy:                 pod.RestartOnFailure,
			TerminationGracePeriodSeconds: &grace,
			ServiceAccountName:            "builder",
			DeprecatedServiceAccount:      "builder",
			InitContainers: []pod.Container{
				{
					Name:            "setup",
					Image:           "busybox:1.36",
					ImagePullPolicy: pod.PullIfNotPresent,
					Command:         []string{"sh", "-c", "echo ready > /scratch/ready"},
					VolumeMounts:    []pod.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
				},
				{
					Name:            "proxy",
					Image:           "busybox:1.36",
					ImagePullPolicy: pod.PullIfNotPresent,
					RestartPolicy:   &always,
					Args:            []string{"httpd", "-f", "-p", "9000"},
					Ports:           []pod.ContainerPort{{Name: "proxy", ContainerPort: 9000, Protocol: "TCP"}},
					StartupProbe: &pod.Probe{
						TCPSocket:      &pod.TCPSocketAction{Port: pod.IntOrString{StrVal: "proxy", IsStr: true}},
						TimeoutSeconds: 1, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30,
					},
					ReadinessProbe: &pod.Probe{
						HTTPGet: &pod.HTTPGetAction{
							Port: pod.IntOrString{IntVal: 9000}, Path: "/healthz", Host: "127.0.0.1", Scheme: "HTTP",
							HTTPHeaders: []pod.HTTPHeader{{Name: "X-Probe", Value: "podd"}},
						},
						TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
					},
				},
			},
			Containers: []pod.Container{
				{
					Name:            "main",
					Image:           "registry.local:5000/tools/main:1.4",
					ImagePullPolicy: pod.PullNever,
					Command:         []string{"/bin/sh", "-c"},
					Args:            []string{"exec main --port=$(PORT)"},
					WorkingDir:      "/srv",
					Env: []pod.EnvVar{
						{Name: "PORT", Value: "8080"},
						{Name: "POD_NAME", ValueFrom: &pod.EnvVarSource{FieldRef: &pod.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
						{Name: "TIER", ValueFrom: &pod.EnvVarSource{FieldRef: &pod.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['example.com/tier']"}}},
					},
					Ports: []pod.ContainerPort{
						{Name: "http", ContainerPort: 8080, HostPort: 18080, HostIP: "127.0.0.1", Protocol: "TCP"},
						{ContainerPort: 5353, Protocol: "UDP"},
					},
					VolumeMounts: []pod.VolumeMount{
						{Name: "scratch", MountPath: "/scratch"},
						{Name: "host", MountPath: "/etc/app/config.yaml", SubPath: "app/config.yaml", ReadOnly: true},
					},
					SecurityContext: &pod.SecurityContext{RunAsUser: &u, RunAsGroup: &g, ReadOnlyRootFilesystem: &ro},
					Lifecycle: &pod.Lifecycle{
						PostStart: &pod.LifecycleHandler{Exec: &pod.ExecAction{Command: []string{"touch", "/scratch/started"}}},
						PreStop:   &pod.LifecycleHandler{HTTPGet: &pod.HTTPGetAction{Port: pod.IntOrString{StrVal: "http", IsStr: true}, Path: "/quit", Scheme: "HTTP"}},
					},
					LivenessProbe: &pod.Probe{
						Exec:                &pod.ExecAction{Command: []string{"test", "-f", "/scratch/started"}},
						InitialDelaySeconds: 5, TimeoutSeconds: 2, PeriodSeconds: 20, SuccessThreshold: 1, FailureThreshold: 5,
						TerminationGracePeriodSeconds: &five,
					},
					ReadinessProbe: &pod.Probe{
						GRPC:           &pod.GRPCAction{Port: 8080, Service: &service},
						TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
					},
				},
				{
					Name:            "sidecar",
					Image:           "busybox@sha256:2376a0c12759aa1214ba83e771ff252c7b1663216b192fbe5e0fb364e952f85c",
					ImagePullPolicy: pod.PullIfNotPresent,
					Args:            []string{"sleep", "infinity"},
					Lifecycle:       &pod.Lifecycle{PreStop: &pod.LifecycleHandler{Sleep: &pod.SleepAction{Seconds: 3}}},
				},
			},
			Volumes: []pod.Volume{
				{Name: "scratch", EmptyDir: &pod.EmptyDirVolumeSource{Medium: memory, SizeLimit: &size}},
				{Name: "host", HostPath: &pod.HostPathVolumeSource{Path: "/etc/podd-example", Type: &dirOrCreate}},
			},
		},
	}
	if !reflect.DeepEqual(pods[0], want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", pods[0], want)
	}
}

func TestDecodeBad(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		line     int
		field    string
		detail   string
	}{
		{"unknown field", head + "    imagee: busybox\n", 9, "spec.containers[0].imagee", `unknown field (did you mean "image"?)`},
		{"unknown top-level field", head + "replicas: 3\n", 9, "replicas", "unknown field"},
		{"unknown field in JSON", "{\n\"apiVersion\": \"v1\",\n\"kind\": \"Pod\",\n\"metadata\": {\"name\": \"j\", \"nmae\": \"x\"},\n\"spec\": {\"containers\": [{\"name\": \"a\", \"image\": \"b\"}]}}", 4, "metadata.nmae", "unknown field"},
		{"integer expected", head + "    ports:\n    - containerPort: eighty\n", 10, "spec.containers[0].ports[0].containerPort", `must be an integer, got "eighty"`},
		{"integer out of range", head + "    ports:\n    - containerPort: 99999999999\n", 10, "spec.containers[0].ports[0].containerPort", "at most 32 bits"},
		{"float for integer", head + "  terminationGracePeriodSeconds: 1.5\n", 9, "spec.terminationGracePeriodSeconds", `must be an integer, got "1.5"`},
		{"string expected", head + "    env:\n    - name: PORT\n      value: 8080\n", 11, "spec.containers[0].env[0].value", "must be a string, got the integer 8080"},
		{"boolean expected", head + "  hostNetwork: \"yes\"\n", 9, "spec.hostNetwork", "must be a boolean"},
		{"mapping expected", head + "    securityContext: [runAsUser]\n", 9, "spec.containers[0].securityContext", "must be a mapping, got a list"},
		{"list expected", head + "    command: sleep 10\n", 9, "spec.containers[0].command", `must be a list, got "sleep 10"`},
		{"labels not a mapping", strings.Replace(head, "  name: web\n", "  name: web\n  labels: [a]\n", 1), 5, "metadata.labels", "must be a mapping"},
		{"label value a number", strings.Replace(head, "  name: web\n", "  name: web\n  labels:\n    version: 1.0\n", 1), 6, "metadata.labels[version]", "must be a string, got the number 1.0"},
		{"duplicate key", head + "    image: alpine\n", 9, "spec.containers[0].image", "duplicate key (first set on line 8)"},
		{"duplicate label", strings.Replace(head, "  name: web\n", "  name: web\n  labels:\n    a: x\n    a: y\n", 1), 7, "metadata.labels[a]", "duplicate key"},
		{"YAML syntax error", head + "    command: [sleep\n  restartPolicy: Never\n", 9, "", "invalid YAML"},
		{"YAML syntax error on line 1", "\tapiVersion: v1\n", 1, "", "invalid YAML"},
		{"YAML syntax error at the end", head + "    command: [sleep", 9, "", "invalid YAML"},
		{"YAML parser error", head + "    command:\n    - a\n   - b\n", 11, "", "did not find expected key"},
		{"YAML mis-indented key", head + "    command: [a]\n   args: [b]\n", 10, "", "invalid YAML"},
		{"JSON syntax error", "{\n\"apiVersion\": \"v1\",\n\"kind\": \"Pod\"\n\"metadata\": {}\n}\n", 4, "", "invalid YAML"},
		{"YAML control character", head + "    args: [\"\x01\"]\n", 9, "", "invalid YAML"},
		{"YAML unknown anchor", head + "    args: *nowhere\n", 9, "", "unknown anchor"},
		{"not a mapping", "- a\n- b\n", 1, "", "must be a mapping (a Pod or another kind), got a list"},
		{"unsupported field", head + "  affinity:\n    nodeAffinity: {x: 1}\n", 9, "spec.affinity", "field is not supported by podd"},
		{"unsupported list", head + "  tolerations:\n  - key: a\n", 9, "spec.tolerations", "field is not supported by podd"},
		{"unsupported container field", head + "    volumeDevices:\n    - {name: x, devicePath: /dev/x}\n", 9, "spec.containers[0].volumeDevices", "not supported"},
		{"unsupported value of a defaulted field", head + "  hostPID: true\n", 9, "spec.hostPID", `accepted only as "false"`},
		{"dnsPolicy None without dnsConfig", head + "  dnsPolicy: None\n", 5, "spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"},
		{"dnsPolicy unknown", head + "  dnsPolicy: Cluster\n", 9, "spec.dnsPolicy", `Unsupported value: "Cluster"`},
		{"dnsConfig nameserver", head + "  dnsConfig:\n    nameservers: [1.2.3.4, x]\n", 10, "spec.dnsConfig.nameservers[1]", "must be a valid IP address"},
		{"unsupported volume source even empty", head + "  volumes:\n  - name: cfg\n    nfs: {}\n", 11, "spec.volumes[0].nfs", "not supported"},
		{"unsupported env source", head + "    env:\n    - name: P\n      valueFrom:\n        fileKeyRef: {volumeName: v, path: p, key: k}\n", 12, "spec.containers[0].env[0].valueFrom.fileKeyRef", "not supported"},
		{"unsupported securityContext field", head + "    securityContext:\n      seLinuxOptions: {level: s0}\n", 10, "spec.containers[0].securityContext.seLinuxOptions", "not supported"},
		{"unsupported pod securityContext field", head + "  securityContext:\n    sysctls: [{name: net.core.somaxconn, value: '1024'}]\n", 10, "spec.securityContext.sysctls", "not supported"},
		{"bad capability", head + "    securityContext:\n      capabilities: {add: [NET_ADMIN, NET_WIZARD]}\n", 10, "spec.containers[0].securityContext.capabilities.add[1]", `Invalid value: "NET_WIZARD": not a Linux capability`},
		{"seccomp Localhost", head + "  securityContext:\n    seccompProfile: {type: Localhost, localhostProfile: my.json}\n", 10, "spec.securityContext.seccompProfile.type", `Unsupported value: "Localhost": supported values: "RuntimeDefault", "Unconfined"`},
		{"no escalation yet privileged", head + "    securityContext:\n      privileged: true\n      allowPrivilegeEscalation: false\n", 9, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"},
		{"no escalation yet SYS_ADMIN", head + "    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities: {add: [SYS_ADMIN]}\n", 9, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"},
		{"negative fsGroup", head + "  securityContext:\n    fsGroup: -1\n", 10, "spec.securityContext.fsGroup", "must be between 0 and 2147483647"},
		{"bad apiVersion", strings.Replace(head, "apiVersion: v1", "apiVersion: apps/v1", 1), 1, "apiVersion", `Unsupported value: "apps/v1": supported values: "v1"`},
		{"missing apiVersion", strings.Replace(head, "apiVersion: v1\n", "", 1), 1, "apiVersion", "Required value"},
		{"bad kind", strings.Replace(head, "kind: Pod", "kind: CronJob", 1), 2, "kind", `Unsupported value: "CronJob": podd runs Pod, PersistentVolumeClaim`},
		{"kind of another apiVersion", strings.Replace(head, "kind: Pod", "kind: Deployment", 1), 1, "apiVersion", `Unsupported value: "v1": a Deployment is "apps/v1"`},
		{"kind List", "apiVersion: v1\nkind: List\nitems: []\n", 2, "kind", "separated by ---"},
		{"bad name", strings.Replace(head, "name: web", "name: Web", 1), 4, "metadata.name", `Invalid value: "Web": a lowercase RFC 1123 subdomain`},
		{"missing name", strings.Replace(head, "  name: web\n", "  labels: {a: b}\n", 1), 3, "metadata.name", "Required value"},
		{"bad namespace", strings.Replace(head, "  name: web\n", "  name: web\n  namespace: a.b\n", 1), 5, "metadata.namespace", "must not contain dots"},
		{"bad label key", strings.Replace(head, "  name: web\n", "  name: web\n  labels:\n    \"my key\": x\n", 1), 6, "metadata.labels[my key]", "name part must consist of"},
		{"bad label value", strings.Replace(head, "  name: web\n", "  name: web\n  labels:\n    app: \"-x\"\n", 1), 6, "metadata.labels[app]", "a valid label must be an empty string"},
		{"bad annotation key", strings.Replace(head, "  name: web\n", "  name: web\n  annotations:\n    a/b/c: x\n", 1), 6, "metadata.annotations[a/b/c]", "a qualified name must consist of"},
		{"no containers", strings.Replace(head, "  - name: app\n    image: busybox\n", "", 1), 6, "spec.containers", "Required value"},
		{"bad container name", strings.Replace(head, "name: app", "name: App_1", 1), 7, "spec.containers[0].name", "a lowercase RFC 1123 label must consist of"},
		{"duplicate container name", head + "  - name: app\n    image: busybox\n", 9, "spec.containers[1].name", `Duplicate value: "app"`},
		{"missing image", head + "  - name: two\n    command: [sleep]\n", 9, "spec.containers[1].image", "Required value"},
		{"image with whitespace", strings.Replace(head, "image: busybox", "image: busy box", 1), 8, "spec.containers[0].image", "must not contain whitespace"},
		{"bad imagePullPolicy", head + "    imagePullPolicy: Sometimes\n", 9, "spec.containers[0].imagePullPolicy", "Unsupported value"},
		{"relative workingDir", head + "    workingDir: srv\n", 9, "spec.containers[0].workingDir", "must be an absolute path"},
		{"env name with =", head + "    env:\n    - name: A=B\n", 10, "spec.containers[0].env[0].name", "other than '='"},
		{"env value and valueFrom", head + "    env:\n    - name: A\n      value: x\n      valueFrom:\n        fieldRef: {fieldPath: metadata.name}\n", 12, "spec.containers[0].env[0].valueFrom", "may not be specified when `value` is not empty"},
		{"env fieldPath only for volumes", head + "    env:\n    - name: A\n      valueFrom:\n        fieldRef:\n          fieldPath: metadata.annotations\n", 13, "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "Unsupported value"},
		{"bad serviceAccountName", head + "  serviceAccountName: Build_Bot\n", 9, "spec.serviceAccountName", "a lowercase RFC 1123 subdomain"},
		{"automountServiceAccountToken true", head + "  automountServiceAccountToken: true\n", 9, "spec.automountServiceAccountToken", "mounts no service account token"},
		{"env fieldPath unknown", head + "    env:\n    - name: A\n      valueFrom:\n        fieldRef:\n          fieldPath: metadata.labels\n", 13, "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "Unsupported value"},
		{"port out of range", head + "    ports:\n    - containerPort: 70000\n", 10, "spec.containers[0].ports[0].containerPort", "must be between 1 and 65535"},
		{"bad protocol", head + "    ports:\n    - containerPort: 80\n      protocol: tcp\n", 11, "spec.containers[0].ports[0].protocol", `supported values: "SCTP", "TCP", "UDP"`},
		{"duplicate port name", head + "    ports:\n    - {name: http, containerPort: 80}\n    - {name: http, containerPort: 81}\n", 11, "spec.containers[0].ports[1].name", "Duplicate value"},
		{"bad port name", head + "    ports:\n    - {name: HTTP, containerPort: 80}\n", 10, "spec.containers[0].ports[0].name", "must contain only alpha-numeric characters"},
		{"host port taken twice", head + "    ports:\n    - {containerPort: 80, hostPort: 8080}\n  - name: b\n    image: busybox\n    ports:\n    - {containerPort: 81, hostPort: 8080}\n", 14, "spec.containers[1].ports[0].hostPort", "Duplicate value"},
		{"undefined volume", head + "    volumeMounts:\n    - name: data\n      mountPath: /data\n", 10, "spec.containers[0].volumeMounts[0].name", `Not found: "data"`},
		{"relative mountPath", head + "    volumeMounts:\n    - {name: d, mountPath: data}\n  volumes:\n  - {name: d, emptyDir: {}}\n", 10, "spec.containers[0].volumeMounts[0].mountPath", "must be an absolute path"},
		{"duplicate mountPath", head + "    volumeMounts:\n    - {name: d, mountPath: /d}\n    - {name: d, mountPath: /d/}\n  volumes:\n  - {name: d, emptyDir: {}}\n", 11, "spec.containers[0].volumeMounts[1].mountPath", "must be unique"},
		{"subPath with ..", head + "    volumeMounts:\n    - {name: d, mountPath: /d, subPath: a/../../b}\n  volumes:\n  - {name: d, emptyDir: {}}\n", 10, "spec.containers[0].volumeMounts[0].subPath", "must not contain '..'"},
		{"negative runAsUser", head + "    securityContext:\n      runAsUser: -1\n", 10, "spec.containers[0].securityContext.runAsUser", "must be between 0 and 2147483647"},
		{"volume without source", head + "  volumes:\n  - name: d\n", 10, "spec.volumes[0]", "must specify a volume type"},
		{"volume with two sources", head + "  volumes:\n  - name: d\n    emptyDir: {}\n    hostPath: {path: /x}\n", 12, "spec.volumes[0].hostPath", "may not specify more than 1 volume type"},
		{"duplicate volume", head + "  volumes:\n  - {name: d, emptyDir: {}}\n  - {name: d, emptyDir: {}}\n", 11, "spec.volumes[1].name", "Duplicate value"},
		{"bad emptyDir medium", head + "  volumes:\n  - name: d\n    emptyDir: {medium: HugePages}\n", 11, "spec.volumes[0].emptyDir.medium", "Unsupported value"},
		{"invalid quantity", head + "  volumes:\n  - name: d\n    emptyDir:\n      sizeLimit: 1Gb\n", 12, "spec.volumes[0].emptyDir.sizeLimit", "quantities must match the regular expression"},
		{"negative quantity", head + "  volumes:\n  - name: d\n    emptyDir:\n      sizeLimit: -1Mi\n", 12, "spec.volumes[0].emptyDir.sizeLimit", "must be greater than or equal to 0"},
		{"relative hostPath", head + "  volumes:\n  - name: d\n    hostPath:\n      path: srv\n", 12, "spec.volumes[0].hostPath.path", "must be an absolute path"},
		{"bad hostPath type", head + "  volumes:\n  - name: d\n    hostPath:\n      path: /srv\n      type: Dir\n", 13, "spec.volumes[0].hostPath.type", `"DirectoryOrCreate"`},
		{"bad restartPolicy", head + "  restartPolicy: Sometimes\n", 9, "spec.restartPolicy", `Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`},
		{"negative grace", head + "  terminationGracePeriodSeconds: -1\n", 9, "spec.terminationGracePeriodSeconds", "must be greater than or equal to 0"},
		{"bad hostname", head + "  hostname: my_host\n", 9, "spec.hostname", "RFC 1123 label"},
		{"error in the second document", head + "---\n" + strings.Replace(head, "image: busybox", "image: \"\"", 1), 17, "spec.containers[0].image", "Required value"},
		{"bad merge key", head + "    <<: [1]\n", 9, "spec.containers[0]", "merge key"},
		{"non-scalar key", head + "    ? [a]\n    : b\n", 9, "spec.containers[0]", "keys must be strings"},
		{"alias cycle", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: &c\n  - *c\n", 5, "", "refers to a node that contains it"},
		{"no pod", "---\n# nothing\n---\n", 0, "", "the manifest holds no Pod"},
		{"init container unsupported field", head + "  initContainers:\n  - name: init\n    image: busybox\n    volumeDevices: [{name: x, devicePath: /dev/x}]\n", 12, "spec.initContainers[0].volumeDevices", "field is not supported by podd"},
		{"init container unknown field", head + "  initContainers:\n  - name: init\n    imagee: busybox\n", 11, "spec.initContainers[0].imagee", `unknown field (did you mean "image"?)`},
		{"init container name taken", head + "  initContainers:\n  - name: app\n    image: busybox\n", 10, "spec.initContainers[0].name", `Duplicate value: "app"`},
		{"init container probe without restartPolicy", head + "  initContainers:\n  - name: init\n    image: busybox\n    livenessProbe: {exec: {command: [\"true\"]}}\n", 12, "spec.initContainers[0].livenessProbe", "may not be set for init containers without restartPolicy=Always"},
		{"init container restartPolicy", head + "  initContainers:\n  - name: init\n    image: busybox\n    restartPolicy: OnFailure\n", 12, "spec.initContainers[0].restartPolicy", `supported values: "Always"`},
		{"container restartPolicy", head + "    restartPolicy: Always\n", 9, "spec.containers[0].restartPolicy", "may not be set for non-init containers"},
		{"probe port of the wrong type", head + "    livenessProbe:\n      tcpSocket: {port: [80]}\n", 10, "spec.containers[0].livenessProbe.tcpSocket.port", "must be an integer of at most 32 bits or a string, got a list"},
		{"probe port name not found", head + "    readinessProbe:\n      httpGet: {port: http}\n", 10, "spec.containers[0].readinessProbe.httpGet.port", `Not found: "http"`},
		{"probe without handler", head + "    livenessProbe:\n      periodSeconds: 5\n", 9, "spec.containers[0].livenessProbe", "must specify a handler type"},
		{"probe with two handlers", head + "    livenessProbe:\n      exec: {command: [\"true\"]}\n      tcpSocket: {port: 80}\n", 11, "spec.containers[0].livenessProbe.tcpSocket", "may not specify more than 1 handler type"},
		{"lifecycle tcpSocket", head + "    lifecycle:\n      preStop:\n        tcpSocket: {port: 80}\n", 11, "spec.containers[0].lifecycle.preStop.tcpSocket", "field is not supported by podd"},
		{"preStop sleep beyond grace", head + "    lifecycle:\n      preStop:\n        sleep: {seconds: 60}\n", 11, "spec.containers[0].lifecycle.preStop.sleep.seconds", "must be less than terminationGracePeriodSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, err := Decode([]byte(tt.manifest))
			if pods != nil {
				t.Errorf("Decode returned pods along with an error")
			}
			errs := fieldErrors(t, err)
			found := slices.ContainsFunc(errs, func(e *pod.FieldError) bool {
				return e.Line == tt.line && e.Field == tt.field && strings.Contains(e.Detail, tt.detail)
			})
			if !found {
				t.Errorf("want an error at line %d, field %q, containing %q; got:\n%v", tt.line, tt.field, tt.detail, err)
			}
		})
	}
}

// TestDecodeReportsEverything checks that one round of fixes suffices: every problem of every
// document is reported, in manifest order, and noise that follows from a reported problem is not.
func TestDecodeReportsEverything(t *testing.T) {
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: Bad_Name
spec:
  containers:
  - name: app
    imagee: busybox
    ports:
    - containerPort: eighty
  volumes:
  - name: cfg
    nfs: {server: nfs.example, path: /}
---
apiVersion: v1
kind: Pod
metadata:
  name: ok
spec:
  restartPolicy: Sometimes
  containers:
  - name: app
    image: busybox
`
	_, err := Decode([]byte(manifest))
	var got []string
	for _, e := range fieldErrors(t, err) {
		got = append(got, e.Field)
	}
	want := []string{
		"metadata.name",                             // line 4
		"spec.containers[0].image",                  // line 7: the required image, placed at its container
		"spec.containers[0].imagee",                 // line 8
		"spec.containers[0].ports[0].containerPort", // line 10, and no "must be between 1 and 65535"
		"spec.volumes[0].nfs",                       // line 13, and no "must specify a volume type"
		"spec.restartPolicy",                        // line 20
	}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %q\nwant     %q\nerror:\n%v", got, want, err)
	}
}

func TestDecodeCapsErrors(t *testing.T) {
	manifest := head
	for i := range 150 {
		manifest += "    unknown" + strings.Repeat("x", i) + ": 1\n"
	}
	errs := fieldErrors(t, func() error { _, err := Decode([]byte(manifest)); return err }())
	if len(errs) != maxErrors+1 || errs[maxErrors].Detail != "and 50 more problems" {
		t.Errorf("got %d errors, the last %v", len(errs), errs[len(errs)-1])
	}
}

func TestDecodeBillionLaughs(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: []\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &x" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*x" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	errs := fieldErrors(t, func() error { _, err := Decode([]byte(b.String())); return err }())
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "through its aliases") {
		t.Errorf("got %v", errs)
	}
}

// TestDecodeTestdata runs the manifests that the integration tests also send to the daemon.
func TestDecodeTestdata(t *testing.T) {
	invalid, _ := filepath.Glob("testdata/invalid/*")
	if len(invalid) < 12 {
		t.Fatalf("only %d invalid manifests", len(invalid))
	}
	for _, file := range invalid {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			expect, ok := strings.CutPrefix(first, "# expect: ")
			if !ok || expect == "" {
				t.Fatalf("first line %q is not '# expect: <substring>'", first)
			}
			_, err = Decode(data)
			fieldErrors(t, err)
			if !strings.Contains(err.Error(), expect) {
				t.Errorf("error does not contain %q:\n%v", expect, err)
			}
		})
	}
	valid, _ := filepath.Glob("testdata/valid/*")
	for _, file := range valid {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(data); err != nil {
				t.Errorf("Decode: %v", err)
			}
		})
	}
}

// typeAt finds the Go type behind a generic path such as "spec.containers[].env[]".
func typeAt(generic string) (reflect.Type, bool) {
	t := reflect.TypeFor[pod.Pod]()
	if generic == "" {
		return t, true
	}
	for _, segment := range strings.Split(generic, ".") {
		name, list := strings.CutSuffix(segment, "[]")
		i, ok := jsonFields(t)[name]
		if !ok {
			return nil, false
		}
		t = t.Field(i).Type
		for t.Kind() == reflect.Pointer || (list && t.Kind() == reflect.Slice) {
			if t.Kind() == reflect.Slice {
				list = false
			}
			t = t.Elem()
		}
	}
	return t, t.Kind() == reflect.Struct
}

// TestUnsupportedFieldsTable keeps the table honest: every row sits under a struct podd
// implements, and no row shadows an implemented field (when types.go gains a field, its row goes).
func TestUnsupportedFieldsTable(t *testing.T) {
	for path, u := range unsupportedFields {
		parent, name := parentPath(path), path[strings.LastIndex(path, ".")+1:]
		typ, ok := typeAt(parent)
		if !ok {
			t.Errorf("%s: %q is not a struct podd implements", path, parent)
			continue
		}
		if _, implemented := jsonFields(typ)[name]; implemented && !u.dropped {
			t.Errorf("%s is implemented by %s: remove its row", path, typ)
		}
		if u.choice && len(u.harmless) > 0 {
			t.Errorf("%s: a choice has no harmless values", path)
		}
	}
}

// manifestWith is a valid pod, as a YAML tree, with value set at the generic path (first
// element of every list).
func manifestWith(t *testing.T, generic string, value any) []byte {
	t.Helper()
	root := map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": "table"},
		"spec": map[string]any{
			"containers": []any{map[string]any{
				"name":            "app",
				"image":           "busybox",
				"env":             []any{map[string]any{"name": "A", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.name"}}}},
				"volumeMounts":    []any{map[string]any{"name": "v", "mountPath": "/v"}},
				"securityContext": map[string]any{},
				"lifecycle": map[string]any{
					"postStart": map[string]any{"exec": map[string]any{"command": []any{"true"}}},
					"preStop":   map[string]any{"exec": map[string]any{"command": []any{"true"}}},
				},
			}},
			"volumes": []any{map[string]any{"name": "v", "emptyDir": map[string]any{}}},
		},
	}
	var node any = root
	segments := strings.Split(generic, ".")
	for i, segment := range segments {
		name, list := strings.CutSuffix(segment, "[]")
		m := node.(map[string]any)
		if i == len(segments)-1 {
			m[name] = value
			break
		}
		if name == "volumes" && strings.HasPrefix(generic, "spec.volumes[].projected.") {
			// A projected volume with one valid source, which the field is added to.
			m[name] = []any{map[string]any{"name": "v", "projected": map[string]any{"sources": []any{map[string]any{"configMap": map[string]any{"name": "c"}}}}}}
		}
		if m[name] == nil {
			m[name] = map[string]any{}
			if list {
				m[name] = []any{map[string]any{}}
			}
		}
		node = m[name]
		if list {
			node = node.([]any)[0]
		}
	}
	data, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestUnsupportedFieldsAcceptance sends every row of the table through Decode.
func TestUnsupportedFieldsAcceptance(t *testing.T) {
	for path, u := range unsupportedFields {
		t.Run(path, func(t *testing.T) {
			accepted := []any{nil}
			for _, h := range u.harmless {
				var v any
				if err := yaml.Unmarshal([]byte(h), &v); err != nil {
					t.Fatal(err)
				}
				accepted = append(accepted, v)
			}
			refusedValues := []any{map[string]any{"podd-test": 1}, "podd-test"}
			if u.dropped {
				accepted, refusedValues = append(accepted, refusedValues...), nil
			}
			if u.choice {
				refusedValues = append(refusedValues, map[string]any{})
			} else {
				accepted = append(accepted, map[string]any{}, []any{}, "")
			}
			for _, v := range accepted {
				if _, err := Decode(manifestWith(t, path, v)); err != nil {
					t.Errorf("%v refused: %v", v, err)
				}
			}
			field := strings.ReplaceAll(path, "[]", "[0]")
			for _, v := range refusedValues {
				_, err := Decode(manifestWith(t, path, v))
				errs := fieldErrors(t, err)
				if !slices.ContainsFunc(errs, func(e *pod.FieldError) bool {
					return e.Field == field && strings.Contains(e.Detail, "is not supported") && e.Line > 0
				}) {
					t.Errorf("%v: want %s refused, got %v", v, field, err)
				}
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(head))
	f.Add([]byte(head + "    <<: *a\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"a","image":"b"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pods, err := Decode(data)
		if err != nil {
			if pods != nil {
				t.Error("pods along with an error")
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error is not an invalid argument: %v", err)
			}
			return
		}
		for _, p := range pods {
			// Whatever Decode accepts is a valid, defaulted pod.
			if err := pod.Validate(p); err != nil {
				t.Errorf("decoded pod does not validate: %v", err)
			}
		}
	})
}
