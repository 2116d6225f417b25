package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

type result struct {
	code     int
	out, err string
}

func podctl(t *testing.T, sock, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"podctl", "--socket", sock}, args...), strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func serve(t *testing.T) (string, *apitest.Pods) {
	now := time.Now().Add(-2 * time.Hour)
	pods := apitest.NewPods(&pod.Pod{
		Metadata: pod.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: &now},
		Spec:     pod.PodSpec{Containers: []pod.Container{{Name: "app", Image: "busybox"}}},
		Status: pod.PodStatus{Phase: pod.PodRunning, ContainerStatuses: []pod.ContainerStatus{
			{Name: "app", Ready: true, State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}},
		}},
	}, &pod.Pod{
		Metadata: pod.ObjectMeta{Name: "db", Namespace: "data", CreationTimestamp: &now},
		Spec:     pod.PodSpec{Containers: []pod.Container{{Name: "pg", Image: "postgres"}}},
	})
	pods.ExecHook = func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		if opts.Cmd[0] == "fail" {
			return -1, errdefs.ErrFailedPrecondition.WithMessage("container app is not running")
		}
		fmt.Fprintf(opts.Stdout, "%s/%s %s %q\n", ns, name, container, opts.Cmd)
		return len(opts.Cmd), nil
	}
	return apitest.Serve(t, api.NewServer(pods, apitest.NewImages(), "v-server", nil)), pods
}

func TestCommands(t *testing.T) {
	sock, pods := serve(t)
	tests := []struct {
		args []string
		code int
		out  string // a prefix of stdout
		err  string // a substring of stderr
	}{
		{[]string{"get"}, 0, "NAME   READY   STATUS    RESTARTS   AGE\nweb    1/1     Running   0          2h\n", ""},
		{[]string{"ps", "-A"}, 0, "NAMESPACE   NAME   READY", ""},
		{[]string{"get", "db", "-n", "data", "-o", "json"}, 0, "{\n    \"metadata\": {\n        \"name\": \"db\"", ""},
		{[]string{"-o", "yaml", "get"}, 0, "items:\n  - metadata:\n      name: web\n", ""},
		{[]string{"get", "nope"}, 1, "", "error: pod default/nope not found\n"},
		{[]string{"get", "a", "b"}, 2, "", "error: the server doesn't have a resource type \"a\""},
		{[]string{"get", "a", "b", "c"}, 2, "", "error: get: want [KIND[,KIND]] [NAME]"},
		{[]string{"apply", "x.yaml"}, 2, "", "error: apply: unexpected arguments"},
		{[]string{"delete", "web"}, 2, "", "error: delete: want KIND NAME... or KIND/NAME"},
		{[]string{"completion", "bash"}, 0, "# podctl completion for bash", ""},
		{[]string{"completion", "fish"}, 2, "", "error: completion: want bash or zsh"},
		{[]string{"get", "--generate-bash-completion"}, 0, "pods\npersistentvolumeclaims\nconfigmaps\n", ""},
		{[]string{"get", "-o", "xml"}, 2, "", `error: --output "xml": want table, wide, json or yaml`},
		{[]string{"describe", "web"}, 0, "Name:         web\n", ""},
		{[]string{"describe"}, 2, "", "error: describe: missing POD argument"},
		{[]string{"describe", "pods"}, 0, "Name:         web\n", ""},
		{[]string{"describe", "po", "-n", "none"}, 0, "", "No resources found in none namespace.\n"},
		{[]string{"logs", "web", "-c", "app"}, 0, "log of default/web app\n", ""},
		{[]string{"logs", "web", "-f", "--tail", "5", "--timestamps", "-p"}, 0, "log of default/web \n", ""},
		{[]string{"logs", "web", "--tail", "-3"}, 2, "", "error: logs: --tail -3: want -1 (all) or more"},
		{[]string{"logs", "web", "--since", "soon"}, 2, "", `invalid value "soon" for flag -since`},
		{[]string{"exec", "web", "-c", "app", "--", "sh", "-c", "exit 3"}, 3, "default/web app [\"sh\" \"-c\" \"exit 3\"]\n", ""},
		{[]string{"exec", "web", "--", "true"}, 1, "default/web  [\"true\"]\n", ""},
		{[]string{"exec", "web", "--", "fail"}, 1, "", "error: container app is not running\n"},
		{[]string{"exec", "web", "ls", "-l"}, 2, "", "put the command after --"},
		{[]string{"exec"}, 2, "", "exec: missing POD argument"},
		{[]string{"exec", "web"}, 2, "", "exec: missing COMMAND"},
		{[]string{"stop", "web", "--grace", "2"}, 0, "pod/web stopped\n", ""},
		{[]string{"stop"}, 2, "", "stop: missing POD argument"},
		{[]string{"stop", "web", "--grace", "-1"}, 2, "", "--grace -1"},
		{[]string{"rm", "db", "-n", "data", "--force"}, 0, "pod/db removed\n", ""},
		{[]string{"rm", "db", "-n", "data"}, 1, "", "error: pod data/db not found\n"},
		{[]string{"image", "import", "-"}, 0, "example.com/x:1\n", ""},
		{[]string{"image", "ls"}, 0, "NAME              DIGEST", ""},
		{[]string{"image", "ls", "-o", "json"}, 0, "{\n    \"items\": [", ""},
		{[]string{"image", "rm", "example.com/x:1"}, 0, "image/example.com/x:1 removed\n", ""},
		{[]string{"image", "pull", "busybox"}, 1, "", "error: pull busybox: no registry is reachable\n"},
		{[]string{"image", "frob"}, 2, "", `image: unknown command "frob"`},
		{[]string{"version"}, 0, "Client Version: " + api.Version + "\nServer Version: v-server\n", ""},
		{[]string{"frob"}, 2, "", `error: unknown command "frob"`},
		{[]string{"get", "--bogus"}, 2, "", "error: get: flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := podctl(t, sock, "example.com/x:1", tt.args...)
			if r.code != tt.code || !strings.HasPrefix(r.out, tt.out) || !strings.Contains(r.err, tt.err) {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout starting %q, stderr with %q", r.code, r.out, r.err, tt.code, tt.out, tt.err)
			}
			if tt.err == "" && r.err != "" {
				t.Errorf("unexpected stderr %q", r.err)
			}
		})
	}
	if calls := pods.CallLog(); !contains(calls, "Stop default/web grace=2") || !contains(calls, "Remove data/db grace=0") {
		t.Errorf("calls %q", calls)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRun(t *testing.T) {
	sock, pods := serve(t)
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: new}\nspec: {containers: [{name: app, image: busybox}]}\n"
	r := podctl(t, sock, manifest, "run", "-")
	if r.code != 0 || r.out != "pod/new started\n" || r.err != "" {
		t.Errorf("run: %+v", r)
	}
	pods.WaitHook = func(ctx context.Context, ns, name string) (*pod.Pod, error) {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(`container app: image "busybox2" not found`)
	}
	r = podctl(t, sock, strings.ReplaceAll(manifest, "new", "bad"), "run", "-")
	if r.code != 1 || r.out != "" || r.err != "error: pod/bad: container app: image \"busybox2\" not found\n" {
		t.Errorf("run of a pod that fails: %+v", r)
	}
	r = podctl(t, sock, strings.ReplaceAll(manifest, "new", "det"), "run", "-d", "-")
	if r.code != 0 || r.out != "pod/det created\n" {
		t.Errorf("run -d: %+v", r)
	}
	r = podctl(t, sock, manifest, "run", "-", "-n", "x")
	if r.code != 2 || !strings.Contains(r.err, "metadata.namespace") {
		t.Errorf("run -n: %+v", r)
	}
	r = podctl(t, sock, manifest, "run")
	if r.code != 2 || !strings.Contains(r.err, "run: missing FILE argument") {
		t.Errorf("run without FILE: %+v", r)
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "podd.sock")
	r := podctl(t, sock, "", "get")
	if want := "error: cannot reach podd at " + sock + ": is podd running?\n"; r.code != 1 || r.err != want {
		t.Errorf("get: %+v, want stderr %q", r, want)
	}
	r = podctl(t, sock, "", "version")
	if r.code != 1 || r.out != "Client Version: "+api.Version+"\n" || !strings.Contains(r.err, "is podd running?") {
		t.Errorf("version: %+v", r)
	}
	r = podctl(t, sock, "", "version", "-o", "json")
	var v map[string]string
	if json.Unmarshal([]byte(r.out), &v) != nil || v["clientVersion"] != api.Version || r.code != 1 {
		t.Errorf("version -o json: %+v", r)
	}
}

func TestSocketFromEnv(t *testing.T) {
	sock, _ := serve(t)
	t.Setenv("PODD_SOCKET", sock)
	var out bytes.Buffer
	code := run(t.Context(), []string{"podctl", "version"}, strings.NewReader(""), &out, io.Discard)
	if code != 0 || !strings.Contains(out.String(), "Server Version: v-server") {
		t.Errorf("PODD_SOCKET: exit %d, %q", code, out.String())
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"podctl"}, strings.NewReader(""), &out, io.Discard); code != 0 || !strings.Contains(out.String(), "podctl") {
		t.Errorf("podctl alone: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"podctl", "exec", "--help"}, strings.NewReader(""), &out, io.Discard); code != 0 || !strings.Contains(out.String(), "--stdin") {
		t.Errorf("exec --help: exit %d, %q", code, out.String())
	}
}
