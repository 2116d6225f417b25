package manifest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/object"
)

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: busybox
`

func TestDecodeObjectsKinds(t *testing.T) {
	docs := map[string]string{
		"Deployment": deploymentYAML,
		"StatefulSet": `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: busybox}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`,
		"Job": `apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 6
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: busybox}]
`,
		"ConfigMap":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a.conf: x}\n",
		"Secret":                "apiVersion: v1\nkind: Secret\nmetadata: {name: pw}\nstringData: {password: s3cret}\n",
		"Service":               "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
		"PersistentVolumeClaim": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
	}
	for kind, doc := range docs {
		t.Run(kind, func(t *testing.T) {
			objs, err := DecodeObjects([]byte(doc))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(objs) != 1 || objs[0].GetKind() != kind {
				t.Fatalf("got %v", objs)
			}
			if ns := objs[0].GetMetadata().Namespace; ns != "default" {
				t.Errorf("namespace = %q, want default", ns)
			}
		})
	}
	objs, err := DecodeObjects([]byte(docs["Deployment"]))
	if err != nil {
		t.Fatal(err)
	}
	d := objs[0].(*object.Deployment)
	if d.Spec.Strategy.Type != "RollingUpdate" || d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" ||
		*d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
		t.Errorf("defaults not applied: %+v", d.Spec)
	}
	if d.Spec.Template.Spec.RestartPolicy != "Always" || *d.Spec.Template.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("template defaults not applied: %+v", d.Spec.Template.Spec)
	}
}

func TestDecodeObjectsBad(t *testing.T) {
	tests := []struct {
		name, doc string
		line      int
		field     string
		detail    string
	}{
		{"unknown field in a template", strings.Replace(deploymentYAML, "        image: busybox\n", "        image: busybox\n        imagee: x\n", 1), 17, "spec.template.spec.containers[0].imagee", "unknown field"},
		{"unsupported pod field in a template", strings.Replace(deploymentYAML, "      containers:\n", "      hostPID: true\n      containers:\n", 1), 14, "spec.template.spec.hostPID", `accepted only as "false"`},
		{"a pod field at the workload's level", strings.Replace(deploymentYAML, "  replicas: 3\n", "  replicas: 3\n  dnsPolicy: ClusterFirst\n", 1), 8, "spec.dnsPolicy", "unknown field"},
		{"selector does not match", strings.Replace(deploymentYAML, "    matchLabels: {app: web}", "    matchLabels: {app: other}", 1), 12, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restartPolicy Never", strings.Replace(deploymentYAML, "      containers:\n", "      restartPolicy: Never\n      containers:\n", 1), 14, "spec.template.spec.restartPolicy", `Unsupported value: "Never"`},
		{"negative replicas", strings.Replace(deploymentYAML, "replicas: 3", "replicas: -1", 1), 7, "spec.replicas", "greater than or equal to 0"},
		{"bad strategy", strings.Replace(deploymentYAML, "  replicas: 3\n", "  replicas: 3\n  strategy: {type: Blue}\n", 1), 8, "spec.strategy.type", `Unsupported value: "Blue"`},
		{"zero surge and unavailable", strings.Replace(deploymentYAML, "  replicas: 3\n", "  replicas: 3\n  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}\n", 1), 8, "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0"},
		{"status is dropped, a typo is not", strings.Replace(deploymentYAML, "kind: Deployment\n", "kind: Deployment\nstatus: {replicas: 9}\nstatuss: 1\n", 1), 4, "statuss", "unknown field"},
		{"job restartPolicy Always", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: busybox}]\n", 6, "spec.template.spec.restartPolicy", `Unsupported value: "Always"`},
		{"job podFailurePolicy", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  podFailurePolicy: {rules: [{action: Ignore}]}\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: a, image: busybox}]\n", 5, "spec.podFailurePolicy", "not supported"},
		{"indexed job without completions", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  parallelism: 2\n  completionMode: Indexed\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: a, image: busybox}]\n", 4, "spec.completions", "Required value"},
		{"configmap key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a/b: x\n", 5, "data[a/b]", "a valid config key"},
		{"secret not base64", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  pw: not*base64\n", 5, "data[pw]", "must be base64 encoded"},
		{"service targetPort differs", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n", 5, "spec.ports[0].targetPort", "must equal port (80)"},
		{"service NodePort", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n", 5, "spec.type", `Unsupported value: "NodePort"`},
		{"service name not DNS-1035", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec:\n  ports: [{port: 80}]\n", 3, "metadata.name", "DNS-1035"},
		{"pvc without storage", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec:\n  accessModes: [ReadWriteOnce]\n", 4, "spec.resources.requests[storage]", "Required value"},
		{"sts claim template field", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: a, image: busybox}]\n  volumeClaimTemplates:\n  - metadata: {name: d}\n    spec:\n      volumeName: pv1\n      accessModes: [ReadWriteOnce]\n      resources: {requests: {storage: 1Gi}}\n", 13, "spec.volumeClaimTemplates[0].spec.volumeName", "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeObjects([]byte(tt.doc))
			if err == nil {
				t.Fatal("decoded")
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("not an invalid argument: %v", err)
			}
			want := tt.field + ": "
			found := false
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.Contains(line, want) && strings.Contains(line, tt.detail) && strings.HasPrefix(line, "line "+itoa(tt.line)+": ") {
					found = true
				}
			}
			if !found {
				t.Errorf("want line %d, %s%s; got:\n%v", tt.line, want, tt.detail, err)
			}
		})
	}
}

// TestDecodeObjectsAllOrNone: one bad document refuses the manifest, whatever its kinds.
func TestDecodeObjectsAllOrNone(t *testing.T) {
	doc := deploymentYAML + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"a b\": x}\n"
	objs, err := DecodeObjects([]byte(doc))
	if err == nil || objs != nil {
		t.Fatalf("got %v, %v", objs, err)
	}
	if _, err := Decode([]byte(deploymentYAML)); err == nil || !strings.Contains(err.Error(), "podctl apply") {
		t.Errorf("Decode of a Deployment: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSecretValueNotInErrors: a refused Secret's message names the field, never the value — a
// PIN written unquoted is an integer to YAML, and the type error used to quote it.
func TestSecretValueNotInErrors(t *testing.T) {
	for _, tt := range []struct{ doc, field string }{
		{"stringData: {pin: 987654}", "stringData[pin]"},
		{"data: {pin: 987654}", "data[pin]"},
		{"stringData: {pin: 9876.54}", "stringData[pin]"},
		{"stringData: {pin: true}", "stringData[pin]"},
		{"data: {pin: 'not base64: 987654'}", "data[pin]"},
	} {
		_, err := DecodeObjects([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n" + tt.doc + "\n"))
		if err == nil || !strings.Contains(err.Error(), tt.field+": ") {
			t.Errorf("%s: err = %v, want a refusal naming %s", tt.doc, err, tt.field)
			continue
		}
		for _, v := range []string{"987654", "9876.54", "true"} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("%s: the refusal shows the value: %v", tt.doc, err)
			}
		}
	}
	// A ConfigMap's values are no secret: its messages keep showing them.
	if _, err := DecodeObjects([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {port: 8080}\n")); err == nil || !strings.Contains(err.Error(), "8080") {
		t.Errorf("ConfigMap: err = %v, want the value shown", err)
	}
}
