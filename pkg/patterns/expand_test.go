package patterns_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/podd-dev/podd/pkg/ctl"
	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/patterns"
	"github.com/podd-dev/podd/pkg/pod"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the expansion")

const testImage = "localhost/podd/patterns:dev"

func expand(t *testing.T, data []byte) []byte {
	t.Helper()
	objs, err := manifest.DecodeObjects(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := patterns.ExpandAll(objs, patterns.Options{Image: testImage})
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	var buf bytes.Buffer
	if err := ctl.PrintDocuments(&buf, ctl.FormatYAML, out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden expands testdata/<case>.in.yaml as podctl expand prints it and compares with
// <case>.out.yaml (go test -run TestGolden -update rewrites those). Every output is expanded
// again (nothing changes), decoded strictly into Kubernetes' own types (a cluster accepts it as
// it is) and by podd's own decoder.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := expand(t, data)
			golden := filepath.Join("testdata", name+".out.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("expansion differs from %s (-update rewrites it):\n%s", golden, got)
			}
			if again := expand(t, got); !bytes.Equal(again, got) {
				t.Errorf("expanding the output again changed it:\n%s", again)
			}
			if again := expand(t, data); !bytes.Equal(again, got) {
				t.Errorf("the same input expanded twice differs:\n%s", again)
			}
			strictKubernetes(t, got)
		})
	}
}

// strictKubernetes decodes every document of data into k8s.io/api's type of its kind, refusing
// unknown fields, as an API server's strict field validation does.
func strictKubernetes(t *testing.T, data []byte) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		j, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var into any
		switch doc["kind"] {
		case "Pod":
			into = &corev1.Pod{}
		case "ConfigMap":
			into = &corev1.ConfigMap{}
		case "Service":
			into = &corev1.Service{}
		case "PersistentVolumeClaim":
			into = &corev1.PersistentVolumeClaim{}
		case "Deployment":
			into = &appsv1.Deployment{}
		case "ReplicaSet":
			into = &appsv1.ReplicaSet{}
		case "StatefulSet":
			into = &appsv1.StatefulSet{}
		case "Job":
			into = &batchv1.Job{}
		default:
			t.Fatalf("document %d: no Kubernetes type for kind %v", i, doc["kind"])
		}
		jd := json.NewDecoder(bytes.NewReader(j))
		jd.DisallowUnknownFields()
		if err := jd.Decode(into); err != nil {
			t.Errorf("document %d (%v): Kubernetes' types refuse it: %v", i, doc["kind"], err)
		}
		checkSidecars(t, into)
	}
}

// checkSidecars holds the injected containers to the contract, on Kubernetes' own types: native
// sidecars (restartPolicy Always) before the pod's own init containers, the podd-patterns image
// run with the helper's name as first argument.
func checkSidecars(t *testing.T, obj any) {
	t.Helper()
	var spec *corev1.PodSpec
	var annotations map[string]string
	switch o := obj.(type) {
	case *corev1.Pod:
		spec, annotations = &o.Spec, o.Annotations
	case *appsv1.Deployment:
		spec, annotations = &o.Spec.Template.Spec, o.Spec.Template.Annotations
	case *appsv1.ReplicaSet:
		spec, annotations = &o.Spec.Template.Spec, o.Spec.Template.Annotations
	case *appsv1.StatefulSet:
		spec, annotations = &o.Spec.Template.Spec, o.Spec.Template.Annotations
	case *batchv1.Job:
		spec, annotations = &o.Spec.Template.Spec, o.Spec.Template.Annotations
	default:
		return
	}
	injected := annotations[patterns.AnnotationInjected]
	if injected == "" {
		for _, c := range spec.InitContainers {
			if strings.HasPrefix(c.Name, patterns.ContainerPrefix) {
				t.Errorf("container %s without %s", c.Name, patterns.AnnotationInjected)
			}
		}
		return
	}
	helpers := strings.Split(injected, ",")
	if len(spec.InitContainers) < len(helpers) {
		t.Fatalf("%d init containers for helpers %v", len(spec.InitContainers), helpers)
	}
	for i, h := range helpers {
		c := spec.InitContainers[i]
		if c.Name != patterns.ContainerPrefix+h {
			t.Errorf("initContainers[%d] is %s, want %s%s", i, c.Name, patterns.ContainerPrefix, h)
		}
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("%s: restartPolicy %v, want Always", c.Name, c.RestartPolicy)
		}
		if len(c.Args) == 0 || c.Args[0] != h {
			t.Errorf("%s: args %q, want the subcommand %s first", c.Name, c.Args, h)
		}
		if c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s: imagePullPolicy %s", c.Name, c.ImagePullPolicy)
		}
		// Memory's request is its limit; CPU's request is at most its limit (the work queue's
		// helper bursts above its request).
		if c.Resources.Limits.Cpu().Cmp(*c.Resources.Requests.Cpu()) < 0 || !c.Resources.Limits.Memory().Equal(*c.Resources.Requests.Memory()) || c.Resources.Requests.Cpu().IsZero() {
			t.Errorf("%s: resources %v: want requests set, memory's = its limit, cpu's ≤ its limit", c.Name, c.Resources)
		}
	}
}

// TestRefused: every refusal names the object and the annotation's key, is of class
// InvalidArgument, and leaves the object as it was.
func TestRefused(t *testing.T) {
	pod := func(annotations string, extra string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
%s
spec:
  containers:
  - name: app
    image: busybox
    ports:
    - containerPort: 9466
%s
  volumes:
  - name: data
    emptyDir: {}
`, annotations, extra)
	}
	ann := func(kv ...string) string {
		var b strings.Builder
		for i := 0; i+1 < len(kv); i += 2 {
			fmt.Fprintf(&b, "    %q: %q\n", kv[i], kv[i+1])
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	deployment := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  annotations:
    podd.io/inject: ambassador
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers: [{name: app, image: busybox}]
`
	clash := "  - name: podd-ambassador\n    image: busybox"
	cases := []struct {
		name, manifest, want string
	}{
		{"unknown helper", pod(ann("podd.io/inject", "ambassador,elektor"), ""), `Pod default/p: metadata.annotations[podd.io/inject]: unknown helper "elektor"`},
		{"helper twice", pod(ann("podd.io/inject", "adapter,adapter"), ""), `metadata.annotations[podd.io/inject]: helper "adapter" is listed twice`},
		{"empty item", pod(ann("podd.io/inject", "adapter,,log-saver"), ""), `metadata.annotations[podd.io/inject]: "adapter,,log-saver": an empty helper name`},
		{"unknown setting", pod(ann("podd.io/inject", "adapter", "adapter.podd.io/listen", ":9500", "adapter.podd.io/scrape-timeot", "1s"), ""), `Pod default/p: metadata.annotations[adapter.podd.io/scrape-timeot]: unknown setting of adapter`},
		{"int given abc", pod(ann("podd.io/inject", "ambassador", "ambassador.podd.io/listen", "127.0.0.1:6380", "ambassador.podd.io/timeout", "abc"), ""), `metadata.annotations[ambassador.podd.io/timeout]: "abc": want an integer`},
		{"bool given yes", pod(ann("podd.io/inject", "ambassador", "ambassador.podd.io/listen", "127.0.0.1:6380", "ambassador.podd.io/auto-eject-hosts", "yes"), ""), `metadata.annotations[ambassador.podd.io/auto-eject-hosts]: "yes": want true or false`},
		{"duration given 10", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/batch-wait", "10"), ""), `metadata.annotations[log-saver.podd.io/batch-wait]: "10": want a duration`},
		{"list with an empty item", pod(ann("podd.io/inject", "adapter", "adapter.podd.io/listen", ":9500", "adapter.podd.io/source", "redis://127.0.0.1:6379,,memcached://127.0.0.1:11211"), ""), `metadata.annotations[adapter.podd.io/source]: "redis://127.0.0.1:6379,,memcached://127.0.0.1:11211": an empty item`},
		{"setting of a helper not injected", pod(ann("podd.io/inject", "log-saver", "adapter.podd.io/source", "redis://127.0.0.1:6379"), ""), `metadata.annotations[adapter.podd.io/source]: a setting of adapter, which podd.io/inject does not name`},
		{"setting without inject", pod(ann("owner", "ops", "ambassador.podd.io/listen", "127.0.0.1:6380"), ""), `metadata.annotations[ambassador.podd.io/listen]: a setting of ambassador, which podd.io/inject does not name`},
		{"setting of an unknown helper", pod(ann("podd.io/inject", "adapter", "gather-root.podd.io/lease", "10s"), ""), `metadata.annotations[gather-root.podd.io/lease]: unknown helper "gather-root"`},
		{"container name clash", pod(ann("podd.io/inject", "ambassador", "ambassador.podd.io/listen", "127.0.0.1:6380"), clash), `metadata.annotations[podd.io/inject]: the pod already has a container named "podd-ambassador"`},
		{"volume not of the pod", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/volumes", "logs:/var/log"), ""), `metadata.annotations[log-saver.podd.io/volumes]: "logs:/var/log": "logs" is not a volume of the pod`},
		{"volume malformed", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/volumes", "data:/x:rw"), ""), `metadata.annotations[log-saver.podd.io/volumes]: "data:/x:rw": "data:/x:rw": the third part may only be ro`},
		{"volume path relative", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/volumes", "data:x"), ""), `metadata.annotations[log-saver.podd.io/volumes]: "data:x": "x": the path must be absolute`},
		{"cpu malformed", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/cpu", "lots"), ""), `metadata.annotations[log-saver.podd.io/cpu]: "lots"`},
		{"memory zero", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/memory", "0"), ""), `metadata.annotations[log-saver.podd.io/memory]: "0": must be greater than 0`},
		{"config without key", pod(ann("podd.io/inject", "adapter", "adapter.podd.io/config", "rules"), ""), `metadata.annotations[adapter.podd.io/config]: "rules": want CONFIGMAP/KEY`},
		{"config of a helper without a file", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/config", "cm/k"), ""), `metadata.annotations[log-saver.podd.io/config]: log-saver reads no configuration file`},
		{"config and its flag", pod(ann("podd.io/inject", "adapter", "adapter.podd.io/config", "cm/rules.yaml", "adapter.podd.io/rules", "/x.yaml"), ""), `metadata.annotations[adapter.podd.io/config]: not with adapter.podd.io/rules`},
		{"port clash with the app", pod(ann("podd.io/inject", "adapter"), ""), `metadata.annotations[adapter.podd.io/listen]: port 9466 is already a port of container app`},
		{"port clash between helpers", pod(ann("podd.io/inject", "log-saver,content-sync", "log-saver.podd.io/paths", "/l/*.log", "log-saver.podd.io/to", "http://10.0.0.9:80/", "content-sync.podd.io/source", "http://10.0.0.9:80/site.tar", "content-sync.podd.io/listen", "127.0.0.1:9465"), ""), `metadata.annotations[content-sync.podd.io/listen]: port 9465 is already a port of container podd-log-saver`},
		{"required flag missing", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/paths", "/var/log/*.log"), ""), `metadata.annotations[log-saver.podd.io/to]: missing: log-saver does not start without log-saver.podd.io/to`},
		{"neither listen nor config", pod(ann("podd.io/inject", "ambassador", "ambassador.podd.io/server", "127.0.0.1:6379:1"), ""), `metadata.annotations[ambassador.podd.io/listen]: missing: ambassador does not start without ambassador.podd.io/listen or ambassador.podd.io/config`},
		{"adapter without a source", pod(ann("podd.io/inject", "adapter"), ""), `metadata.annotations[adapter.podd.io/source]: missing: adapter does not start without adapter.podd.io/source`},
		{"listen malformed", pod(ann("podd.io/inject", "ambassador", "ambassador.podd.io/listen", "6380"), ""), `metadata.annotations[ambassador.podd.io/listen]: "6380": want host:port`},
		{"image empty", pod(ann("podd.io/inject", "log-saver", "log-saver.podd.io/image", ""), ""), `metadata.annotations[log-saver.podd.io/image]: "": not an image reference`},
		{"on the workload's metadata", deployment, `Deployment default/d: metadata.annotations[podd.io/inject]: the helpers run in the pods: put it in spec.template.metadata.annotations`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := manifest.DecodeObjects([]byte(c.manifest))
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, c.manifest)
			}
			before, _ := json.Marshal(objs)
			out, err := patterns.ExpandAll(objs, patterns.Options{Image: testImage})
			if err == nil {
				t.Fatalf("accepted: %v", out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
			if !isInvalidArgument(err) {
				t.Errorf("error %q is not of class InvalidArgument", err)
			}
			if after, _ := json.Marshal(objs); !bytes.Equal(before, after) {
				t.Errorf("Expand changed its input:\n%s\n%s", before, after)
			}
		})
	}
}

func TestNoImage(t *testing.T) {
	objs, err := manifest.DecodeObjects([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    podd.io/inject: log-saver\nspec:\n  containers: [{name: app, image: busybox}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := patterns.Expand(objs[0], patterns.Options{}); err == nil || !strings.Contains(err.Error(), "podd.io/inject]: no helper image") {
		t.Errorf("got %v, want a refusal naming the image", err)
	}
}

// TestKindsOtherThanWorkloads: a ConfigMap or a Service passes through unchanged, whatever its
// annotations say (they run no pods).
func TestKindsOtherThanWorkloads(t *testing.T) {
	objs, err := manifest.DecodeObjects([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    podd.io/inject: nothing\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := patterns.Expand(objs[0], patterns.Options{Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if out.(*object.ConfigMap).Metadata.Annotations["podd.io/inject"] != "nothing" {
		t.Errorf("ConfigMap changed: %+v", out)
	}
}

func isInvalidArgument(err error) bool { return errdefs.IsInvalidArgument(err) }

// BenchmarkExpand is the cost of expanding one Deployment with two helpers, as podd pays it on
// every apply: go test -run '^$' -bench Expand ./pkg/patterns/
func BenchmarkExpand(b *testing.B) {
	data, err := os.ReadFile("testdata/deployment-two-helpers.in.yaml")
	if err != nil {
		b.Fatal(err)
	}
	objs, err := manifest.DecodeObjects(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := patterns.Expand(objs[0], patterns.Options{Image: testImage}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAPISocketFollowsTheElector: the elector's container is added to podd.io/api-socket while
// it is injected, and taken out (the user's own value restored) once podd.io/inject drops it.
func TestAPISocketFollowsTheElector(t *testing.T) {
	for _, tc := range []struct{ user, injected, after string }{
		{"", "podd-elector", ""},
		{"false", "podd-elector", ""},
		{"true", "true", "true"},
		{"app", "app,podd-elector", "app"},
	} {
		t.Run("user="+tc.user, func(t *testing.T) {
			p := &pod.Pod{
				Metadata: pod.ObjectMeta{Name: "p", Namespace: "default", Annotations: map[string]string{
					patterns.AnnotationInject: "elector", "elector.podd.io/election": "primary",
				}},
				Spec: pod.PodSpec{Containers: []pod.Container{{Name: "app", Image: "busybox"}}},
			}
			if tc.user != "" {
				p.Metadata.Annotations[pod.AnnotationAPISocket] = tc.user
			}
			out, err := patterns.ExpandPods([]*pod.Pod{p}, patterns.Options{Image: testImage})
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].Metadata.Annotations[pod.AnnotationAPISocket]; got != tc.injected {
				t.Fatalf("podd.io/api-socket = %q, want %q", got, tc.injected)
			}
			// The user no longer asks for the elector: what the expansion added goes.
			delete(out[0].Metadata.Annotations, patterns.AnnotationInject)
			delete(out[0].Metadata.Annotations, "elector.podd.io/election")
			back, err := patterns.ExpandPods(out, patterns.Options{Image: testImage})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := back[0].Metadata.Annotations[pod.AnnotationAPISocket]
			if want := tc.after; got != want || ok != (want != "") {
				t.Errorf("after the elector was dropped: podd.io/api-socket = %q (present %v), want %q", got, ok, want)
			}
			if len(back[0].Spec.InitContainers) != 0 {
				t.Errorf("init containers left: %v", back[0].Spec.InitContainers)
			}
		})
	}
}

// TestImageVariant: the elector on the etcd backend runs from the image variant with the etcd
// client; on the local backend, and every other helper, from the base image; an explicit
// <helper>.podd.io/image wins.
func TestImageVariant(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"local backend", map[string]string{"elector.podd.io/election": "e"}, "localhost/podd/patterns:v1"},
		{"etcd backend", map[string]string{"elector.podd.io/election": "e", "elector.podd.io/backend": "etcd"}, "localhost/podd/patterns-etcd:v1"},
		{"explicit image", map[string]string{"elector.podd.io/election": "e", "elector.podd.io/backend": "etcd", "elector.podd.io/image": "my/elector:2"}, "my/elector:2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{patterns.AnnotationInject: "elector"}
			for k, v := range tc.settings {
				ann[k] = v
			}
			p := &pod.Pod{
				Metadata: pod.ObjectMeta{Name: "p", Namespace: "default", Annotations: ann},
				Spec:     pod.PodSpec{Containers: []pod.Container{{Name: "app", Image: "busybox"}}},
			}
			out, err := patterns.ExpandPods([]*pod.Pod{p}, patterns.Options{Image: "localhost/podd/patterns:v1"})
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].Spec.InitContainers[0].Image; got != tc.want {
				t.Errorf("image %q, want %q", got, tc.want)
			}
			// On etcd the elector is told its readiness gate's containers: the pod's regular ones.
			args := strings.Join(out[0].Spec.InitContainers[0].Args, " ")
			if gated := strings.Contains(args, "--app-container=app"); gated != (tc.settings["elector.podd.io/backend"] == "etcd") {
				t.Errorf("args %q: --app-container=app %v, want it on etcd only", args, gated)
			}
		})
	}
	for _, tc := range []struct{ image, variant, want string }{
		{"localhost/podd/patterns:v1", "", "localhost/podd/patterns:v1"},
		{"localhost/podd/patterns:v1", "etcd", "localhost/podd/patterns-etcd:v1"},
		{"localhost:5000/podd/patterns:v1", "etcd", "localhost:5000/podd/patterns-etcd:v1"},
		{"localhost:5000/podd/patterns", "etcd", "localhost:5000/podd/patterns-etcd"},
		{"patterns@sha256:abc", "etcd", "patterns-etcd@sha256:abc"},
	} {
		if got := patterns.VariantImage(tc.image, tc.variant); got != tc.want {
			t.Errorf("VariantImage(%q, %q) = %q, want %q", tc.image, tc.variant, got, tc.want)
		}
	}
}

// TestWorkQueueBackends: the work queue on etcd runs from the image variant with the etcd client,
// on the spool from the base image; it needs a spool or etcd's endpoints. Its helper requests
// 100m of CPU and may use a core, unless workqueue.podd.io/cpu sets both.
func TestWorkQueueBackends(t *testing.T) {
	for _, tc := range []struct {
		name       string
		settings   map[string]string
		image      string
		err        string
		cpuRequest string
		cpuLimit   string
	}{
		{"spool", map[string]string{"workqueue.podd.io/spool": "/spool"}, "localhost/podd/patterns:v1", "", "100m", "1"},
		{"etcd", map[string]string{"workqueue.podd.io/backend": "etcd", "workqueue.podd.io/etcd-endpoints": "http://10.0.0.1:2379", "workqueue.podd.io/queue": "q"}, "localhost/podd/patterns-etcd:v1", "", "100m", "1"},
		{"cpu set", map[string]string{"workqueue.podd.io/spool": "/spool", "workqueue.podd.io/cpu": "300m"}, "localhost/podd/patterns:v1", "", "300m", "300m"},
		{"neither", map[string]string{"workqueue.podd.io/queue": "q"}, "", "missing: workqueue does not start without workqueue.podd.io/spool or workqueue.podd.io/etcd-endpoints", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{patterns.AnnotationInject: "workqueue"}
			for k, v := range tc.settings {
				ann[k] = v
			}
			ann["workqueue.podd.io/volumes"] = "work:/podd-wq"
			p := &pod.Pod{
				Metadata: pod.ObjectMeta{Name: "p", Namespace: "default", Annotations: ann},
				Spec: pod.PodSpec{Containers: []pod.Container{{Name: "worker", Image: "busybox", Command: []string{"true"}}},
					Volumes: []pod.Volume{{Name: "work", EmptyDir: &pod.EmptyDirVolumeSource{}}}},
			}
			out, err := patterns.ExpandPods([]*pod.Pod{p}, patterns.Options{Image: "localhost/podd/patterns:v1"})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := out[0].Spec.InitContainers[0]
			if h.Image != tc.image {
				t.Errorf("image %q, want %q", h.Image, tc.image)
			}
			req, lim := h.Resources.Requests[pod.ResourceCPU], h.Resources.Limits[pod.ResourceCPU]
			if req.String() != tc.cpuRequest || lim.String() != tc.cpuLimit {
				t.Errorf("cpu request %s limit %s, want %s and %s", req.String(), lim.String(), tc.cpuRequest, tc.cpuLimit)
			}
		})
	}
}
