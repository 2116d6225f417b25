package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gopkg.in/yaml.v3"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	now = func() time.Time { return testNow }
	os.Exit(m.Run())
}

func ago(d time.Duration) *time.Time {
	t := testNow.Add(-d)
	return &t
}

func webPod() *pod.Pod {
	started := true
	return &pod.Pod{
		APIVersion: "v1", Kind: "Pod",
		Metadata: pod.ObjectMeta{Name: "web", Namespace: "default", UID: "1234", CreationTimestamp: ago(3*time.Minute + 10*time.Second)},
		Spec: pod.PodSpec{Containers: []pod.Container{
			{Name: "app", Image: "busybox:1.36"},
			{Name: "proxy", Image: "example.com/proxy:2"},
		}},
		Status: pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{
			{Name: "app", Ready: true, Started: &started, RestartCount: 1, State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}},
			{Name: "proxy", RestartCount: 4, State: pod.ContainerState{Waiting: &pod.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
		}},
	}
}

func jobPod() *pod.Pod {
	return &pod.Pod{
		Metadata: pod.ObjectMeta{Name: "job", Namespace: "batch", CreationTimestamp: ago(50 * time.Hour)},
		Spec:     pod.PodSpec{Containers: []pod.Container{{Name: "main", Image: "busybox"}}},
		Status: pod.PodStatus{Phase: pod.PodSucceeded, ContainerStatuses: []pod.ContainerStatus{
			{Name: "main", State: pod.ContainerState{Terminated: &pod.ContainerStateTerminated{Reason: "Completed"}}},
		}},
	}
}

type env struct {
	client *api.Client
	pods   *apitest.Pods
	images *apitest.Images
	out    *bytes.Buffer
	err    *bytes.Buffer
}

func newEnv(t *testing.T, pods ...*pod.Pod) *env {
	e := &env{pods: apitest.NewPods(pods...), images: apitest.NewImages(), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	e.client = apitest.NewClient(t, e.pods, e.images)
	return e
}

func (e *env) streams(in string) Streams {
	return Streams{In: strings.NewReader(in), Out: e.out, Err: e.err}
}

func TestGetTable(t *testing.T) {
	e := newEnv(t, webPod(), jobPod())
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "default", Output: FormatTable}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME   READY   STATUS             RESTARTS   AGE\n" +
		"web    1/2     CrashLoopBackOff   5          3m\n"
	if e.out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", e.out, want)
	}
}

func TestGetAllNamespacesWide(t *testing.T) {
	job := jobPod()
	job.Metadata.Annotations = map[string]string{pod.AnnotationConfigFile: "/etc/podd/pods.d/job.yaml"}
	web := webPod()
	web.Status.PodIP, web.Spec.NodeName = "10.123.0.7", "edge1"
	e := newEnv(t, web, job)
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "default", AllNamespaces: true, Output: FormatWide}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAMESPACE   NAME   READY   STATUS             RESTARTS   AGE   IP           NODE     IMAGES                             SOURCE\n" +
		"batch       job    0/1     Completed          0          2d    <none>       <none>   busybox                            file:job.yaml\n" +
		"default     web    1/2     CrashLoopBackOff   5          3m    10.123.0.7   edge1    busybox:1.36,example.com/proxy:2   api\n"
	if e.out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", e.out, want)
	}
	if calls := e.pods.CallLog(); calls[0] != "List " {
		t.Errorf("-A listed %q, want every namespace", calls[0])
	}
}

func TestGetOne(t *testing.T) {
	e := newEnv(t, webPod(), jobPod())
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "batch", Name: "job"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.out.String(), "NAME   READY") || !strings.Contains(e.out.String(), "job    0/1     Completed") {
		t.Errorf("got\n%s", e.out)
	}
	err := Get(t.Context(), e.client, GetOptions{Namespace: "default", Name: "nope"}, e.streams(""))
	if !errdefs.IsNotFound(err) || err.Error() != "pod default/nope not found" {
		t.Errorf("missing pod: %v", err)
	}
	var usage *UsageError
	if err := Get(t.Context(), e.client, GetOptions{Name: "web", AllNamespaces: true}, e.streams("")); !errorsAs(err, &usage) {
		t.Errorf("get POD -A: %v, want a usage error", err)
	}
}

// TestGetSeveralKinds: among several kinds (kubectl get rs,po), pods are named pod/NAME as
// kubectl names them, tables are separated by one blank line, and an empty listing says "No
// resources found" once.
func TestGetSeveralKinds(t *testing.T) {
	e := newEnv(t, webPod(), jobPod())
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "default", Kinds: []string{"po", "pods"}}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	table := "" +
		"NAME      READY   STATUS             RESTARTS   AGE\n" +
		"pod/web   1/2     CrashLoopBackOff   5          3m\n"
	if want := table + "\n" + table; e.out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", e.out, want)
	}
	e.out.Reset()
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "dev", Kinds: []string{"po", "pods"}}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "" || e.err.String() != "No resources found in dev namespace.\n" {
		t.Errorf("nothing in any kind: out %q err %q, want one No resources found", e.out, e.err)
	}
}

func TestGetEmpty(t *testing.T) {
	e := newEnv(t)
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "dev"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "" || e.err.String() != "No resources found in dev namespace.\n" {
		t.Errorf("out %q err %q", e.out, e.err)
	}
	e.out.Reset()
	if err := Get(t.Context(), e.client, GetOptions{Namespace: "dev", Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(e.out.String()), ""); got != `{"items":[]}` {
		t.Errorf("empty JSON list = %s", e.out)
	}
}

func TestGetJSONAndYAMLShapes(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, webPod(), jobPod())

	// A list is {"items": [...]}.
	if err := Get(ctx, e.client, GetOptions{Namespace: "default", Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	var list map[string][]map[string]any
	if err := json.Unmarshal(e.out.Bytes(), &list); err != nil {
		t.Fatalf("%v in\n%s", err, e.out)
	}
	if len(list) != 1 || len(list["items"]) != 1 || list["items"][0]["metadata"].(map[string]any)["name"] != "web" {
		t.Errorf("list JSON: %s", e.out)
	}

	// One pod is the pod itself.
	e.out.Reset()
	if err := Get(ctx, e.client, GetOptions{Namespace: "default", Name: "web", Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	var one map[string]any
	if err := json.Unmarshal(e.out.Bytes(), &one); err != nil {
		t.Fatal(err)
	}
	if one["kind"] != "Pod" || one["metadata"].(map[string]any)["name"] != "web" {
		t.Errorf("pod JSON: %s", e.out)
	}

	// YAML has the same field names and values.
	e.out.Reset()
	if err := Get(ctx, e.client, GetOptions{Namespace: "default", Name: "web", Output: FormatYAML}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	y := e.out.String()
	for _, want := range []string{"apiVersion: v1\n", "kind: Pod\n", "metadata:\n  name: web\n", "creationTimestamp: \"2025-06-01T11:56:50Z\"", "containerStatuses:\n", "restartCount: 4", "reason: CrashLoopBackOff"} {
		if !strings.Contains(y, want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	var fromYAML any
	if err := yaml.Unmarshal(e.out.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Compared through JSON: the YAML holds exactly the JSON's fields and values.
	jy, _ := json.Marshal(fromYAML)
	var a, b any
	json.Unmarshal(jy, &a)
	jj, _ := json.Marshal(one)
	json.Unmarshal(jj, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("YAML and JSON differ:\n%s\n%s", jy, jj)
	}

	e.out.Reset()
	if err := Get(ctx, e.client, GetOptions{Namespace: "default", Output: FormatYAML}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.out.String(), "items:\n  - apiVersion: v1\n") {
		t.Errorf("YAML list:\n%s", e.out)
	}
}

const twoPods = `apiVersion: v1
kind: Pod
metadata:
  name: a
spec:
  containers: [{name: app, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: b
  namespace: other
spec:
  containers: [{name: app, image: nope}]
`

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return lines
}

func TestRunWaits(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "pods.yaml")
	os.WriteFile(file, []byte(twoPods), 0o644)
	if err := Run(t.Context(), e.client, RunOptions{File: file}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if got, want := sortedLines(e.out.String()), []string{"pod/a started", "pod/b started"}; !reflect.DeepEqual(got, want) {
		t.Errorf("output %q, want %q", got, want)
	}
	calls := e.pods.CallLog()
	sort.Strings(calls)
	if want := []string{"Create", "WaitStarted default/a", "WaitStarted other/b"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}

func TestRunFailure(t *testing.T) {
	e := newEnv(t)
	e.pods.WaitHook = func(ctx context.Context, ns, name string) (*pod.Pod, error) {
		if name == "b" {
			return nil, fmt.Errorf("container app: image \"nope\": pull: %w", errdefs.ErrFailedPrecondition)
		}
		return e.pods.Get(ctx, ns, name)
	}
	err := Run(t.Context(), e.client, RunOptions{File: "-"}, e.streams(twoPods))
	if err == nil {
		t.Fatal("run succeeded with a pod that failed to start")
	}
	if want := `pod/b: container app: image "nope": pull`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errdefs.IsFailedPrecondition(err) {
		t.Errorf("error %v lost its class", err)
	}
	if e.out.String() != "pod/a started\n" {
		t.Errorf("output %q: the pod that started is still reported", e.out)
	}
}

func TestRunDetach(t *testing.T) {
	e := newEnv(t)
	if err := Run(t.Context(), e.client, RunOptions{File: "-", Detach: true}, e.streams(twoPods)); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "pod/a created\npod/b created\n" {
		t.Errorf("output %q", e.out)
	}
	for _, c := range e.pods.CallLog() {
		if strings.HasPrefix(c, "WaitStarted") {
			t.Errorf("--detach waited: %q", c)
		}
	}
	// Invalid manifests fail with the server's message.
	err := Run(t.Context(), e.client, RunOptions{File: "-", Detach: true}, e.streams("kind: ["))
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("invalid manifest: %v", err)
	}
	err = Run(t.Context(), e.client, RunOptions{File: filepath.Join(t.TempDir(), "absent.yaml")}, e.streams(""))
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("absent file: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	p := webPod()
	p.Metadata.Labels = map[string]string{"app": "web", "tier": "front"}
	p.Spec.Containers[0].Command = []string{"sh", "-c"}
	p.Spec.Containers[0].Args = []string{"httpd -f"}
	p.Spec.Containers[0].Env = []pod.EnvVar{{Name: "MODE", Value: "prod"}, {Name: "POD", ValueFrom: &pod.EnvVarSource{FieldRef: &pod.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	p.Spec.Containers[0].VolumeMounts = []pod.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}}
	p.Spec.Volumes = []pod.Volume{{Name: "data", EmptyDir: &pod.EmptyDirVolumeSource{}}}
	p.Status.ContainerStatuses[1].LastState = pod.ContainerState{Terminated: &pod.ContainerStateTerminated{ExitCode: 2, Reason: "Error", StartedAt: ago(time.Minute), FinishedAt: ago(30 * time.Second)}}
	p.Status.Conditions = []pod.PodCondition{{Type: "Ready", Status: "False"}}
	p.Status.Message = "line one\nline two"
	e := newEnv(t, p)
	if err := Describe(t.Context(), e.client, DescribeOptions{Namespace: "default", Name: "web"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	for _, want := range []string{
		"Name:         web\n",
		"Namespace:    default\n",
		"UID:          1234\n",
		"Labels:       app=web\n              tier=front\n",
		"Annotations:  <none>\n",
		"Status:       Running\n",
		"Message:      line one\n              line two\n",
		"Containers:\n  app:\n",
		"    Image:         busybox:1.36\n",
		"    Command:\n      sh\n      -c\n    Args:\n      httpd -f\n",
		"    State:          Running\n",
		"    Ready:          True\n",
		"    Restart Count:  1\n",
		"      MODE:  prod\n",
		"      POD:    (v1:metadata.name)\n",
		"    Mounts:\n      /data from data (ro)\n",
		"    State:          Waiting\n      Reason:       CrashLoopBackOff\n",
		"    Last State:     Terminated\n      Reason:       Error\n      Exit Code:    2\n",
		"Conditions:\n  Type   Status\n  Ready  False\n",
		"Volumes:\n  data:\n    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)\n",
		"Events:  <none>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q in\n%s", want, out)
		}
	}
}

func TestLogsAndExec(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, webPod())
	if err := Logs(ctx, e.client, LogsOptions{Namespace: "default", Name: "web", Container: "proxy"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "log of default/web proxy\n" {
		t.Errorf("logs %q", e.out)
	}

	e.out.Reset()
	e.pods.ExecHook = func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		in := []byte("<none>")
		if opts.Stdin != nil {
			in, _ = io.ReadAll(opts.Stdin)
		}
		fmt.Fprintf(opts.Stdout, "%s %q stdin=%s tty=%v", container, opts.Cmd, in, opts.Tty)
		return 42, nil
	}
	code, err := Exec(ctx, e.client, ExecOptions{Namespace: "default", Name: "web", Command: []string{"cat"}, Stdin: true}, e.streams("data"))
	if err != nil || code != 42 || e.out.String() != ` ["cat"] stdin=data tty=false` {
		t.Errorf("exec -i: %d, %v, %q", code, err, e.out)
	}
	e.out.Reset()
	code, err = Exec(ctx, e.client, ExecOptions{Namespace: "default", Name: "web", Container: "app", Command: []string{"ls"}}, e.streams("data"))
	if err != nil || code != 42 || e.out.String() != `app ["ls"] stdin=<none> tty=false` {
		t.Errorf("exec without -i: %d, %v, %q", code, err, e.out)
	}
	// -it with a pipe for stdin: no TTY, as kubectl does.
	e.out.Reset()
	_, err = Exec(ctx, e.client, ExecOptions{Namespace: "default", Name: "web", Command: []string{"sh"}, Stdin: true, TTY: true}, e.streams(""))
	if err != nil || !strings.Contains(e.out.String(), "tty=false") || !strings.Contains(e.err.String(), "Unable to use a TTY") {
		t.Errorf("exec -it from a pipe: %v, %q, %q", err, e.out, e.err)
	}
	// -t alone asks for a terminal even without one here.
	e.out.Reset()
	_, err = Exec(ctx, e.client, ExecOptions{Namespace: "default", Name: "web", Command: []string{"ls"}, TTY: true}, e.streams(""))
	if err != nil || !strings.Contains(e.out.String(), "tty=true") {
		t.Errorf("exec -t: %v, %q", err, e.out)
	}
	var usage *UsageError
	if _, err := Exec(ctx, e.client, ExecOptions{Namespace: "default", Name: "web"}, e.streams("")); !errorsAs(err, &usage) {
		t.Errorf("exec without command: %v", err)
	}
}

func TestStopAndRemove(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, webPod(), jobPod())
	g := int64(5)
	if err := Stop(ctx, e.client, StopOptions{Namespace: "default", Names: []string{"web"}, Grace: &g}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, e.client, RemoveOptions{Namespace: "batch", Names: []string{"job"}, Force: true}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	err := Remove(ctx, e.client, RemoveOptions{Namespace: "default", Names: []string{"gone", "web"}}, e.streams(""))
	if !errdefs.IsNotFound(err) {
		t.Errorf("rm of a missing pod: %v", err)
	}
	if want := "pod/web stopped\npod/job removed\npod/web removed\n"; e.out.String() != want {
		t.Errorf("output %q, want %q", e.out, want)
	}
	want := []string{"Stop default/web grace=5", "Remove batch/job grace=0", "Remove default/gone grace=nil", "Remove default/web grace=nil"}
	if got := e.pods.CallLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	var usage *UsageError
	if err := Remove(ctx, e.client, RemoveOptions{Names: []string{"x"}, Force: true, Grace: &g}, e.streams("")); !errorsAs(err, &usage) {
		t.Errorf("--force --grace 5: %v", err)
	}
}

func TestImages(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t)
	if err := ImageImport(ctx, e.client, ImageImportOptions{File: "-"}, e.streams("example.com/a:1 example.com/b/c:2")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "example.com/a:1\nexample.com/b/c:2\n" {
		t.Errorf("import printed %q", e.out)
	}
	e.out.Reset()
	if err := ImageList(ctx, e.client, ImageListOptions{Output: FormatTable}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(e.out.String(), "\n")
	if !regexpMatch(`^NAME +DIGEST +SIZE +CREATED$`, lines[0]) || !regexpMatch(`^example.com/a:1 +sha256:0{63}f +33 B +\d+[smhdy] ago$`, lines[1]) {
		t.Errorf("image ls:\n%s", e.out)
	}
	e.out.Reset()
	if err := ImageList(ctx, e.client, ImageListOptions{Output: FormatJSON}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	var list api.ImageList
	if err := json.Unmarshal(e.out.Bytes(), &list); err != nil || len(list.Items) != 2 {
		t.Errorf("image ls -o json: %v\n%s", err, e.out)
	}
	e.out.Reset()
	if err := ImageRemove(ctx, e.client, ImageRemoveOptions{Refs: []string{"example.com/b/c:2"}}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "image/example.com/b/c:2 removed\n" {
		t.Errorf("image rm printed %q", e.out)
	}
	if err := ImagePull(ctx, e.client, ImagePullOptions{Ref: "busybox"}, e.streams("")); !errdefs.IsUnavailable(err) {
		t.Errorf("pull: %v", err)
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	if err := Version(t.Context(), e.client, VersionOptions{ClientVersion: "v1"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "Client Version: v1\nServer Version: v9.9.9-test\n" {
		t.Errorf("version %q", e.out)
	}

	e.out.Reset()
	sock := filepath.Join(t.TempDir(), "none.sock")
	err := Version(t.Context(), api.NewClient(sock), VersionOptions{ClientVersion: "v1"}, e.streams(""))
	if e.out.String() != "Client Version: v1\n" {
		t.Errorf("version without server printed %q", e.out)
	}
	if err == nil || err.Error() != "cannot reach podd at "+sock+": is podd running?" {
		t.Errorf("version without server: %v", err)
	}
}

func TestPrintFormats(t *testing.T) {
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
	if f, err := ParseFormat(""); f != FormatTable || err != nil {
		t.Errorf("default format %q, %v", f, err)
	}
	var buf bytes.Buffer
	obj := map[string]any{"when": "2025-06-01T12:00:00Z", "empty": "", "text": "a\nb", "n": 3}
	if err := Print(&buf, FormatYAML, obj, nil); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// Strings that look like timestamps or are empty stay strings.
	if back["when"] != "2025-06-01T12:00:00Z" || back["empty"] != "" || back["text"] != "a\nb" || back["n"] != 3 {
		t.Errorf("YAML round trip: %#v from\n%s", back, buf.String())
	}
}
