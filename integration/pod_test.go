package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/containers"

	"github.com/podd-dev/podd/pkg/pod"
)

// labelPodUID is the label podd puts on every container it creates: the contract that lets a
// restarted podd, and these tests, find a pod's containers.
const labelPodUID = "io.podd.pod.uid"

// untilTerm is a container command that runs until the stop signal: the shell traps SIGTERM, and
// waits on a background sleep so that the trap runs at once instead of after the sleep.
const untilTerm = `trap 'exit 0' TERM; sleep 1000 & wait`

// podWaitTimeout bounds the wait for a pod to reach a state it should reach within seconds.
const podWaitTimeout = 60 * time.Second

// TestPod runs a pod of three containers that share an emptyDir and the network namespace: busybox
// httpd serves the folder on 127.0.0.1, a writer puts a page there built from the downward API and
// $(VAR) expansion, and a client fetches it over localhost. The page is read through podctl exec
// and through the client's log; exec, logs, get and the shim grouping are checked on it.
func TestPod(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: www
    emptyDir: {}
  containers:
  - name: httpd
    image: %[2]s
    command: ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"]
    volumeMounts:
    - {name: www, mountPath: /www}
  - name: writer
    image: %[2]s
    env:
    - name: POD_NAME
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    - name: GREETING
      value: hello from $(POD_NAME)
    command: ["sh", "-c"]
    args:
    - echo "$(GREETING)" > /www/.index.tmp && mv /www/.index.tmp /www/index.html; echo to-stdout; echo to-stderr >&2; %[3]s
    volumeMounts:
    - {name: www, mountPath: /www}
  - name: client
    image: %[2]s
    command: ["sh", "-c", "until wget -qO- http://127.0.0.1:8080/ 2>/dev/null; do sleep 0.2; done; %[3]s"]
`, name, busyboxImage, untilTerm))
	page := "hello from " + name + "\n"

	t.Run("client log", func(t *testing.T) {
		// The client prints the page once it fetched it; `podctl run` returns when it started.
		deadline := time.Now().Add(podWaitTimeout)
		for {
			log := podLogs(t, p, name, "client")
			if log == page {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the client's log is %q, want %q", log, page)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("exec", func(t *testing.T) {
		res := p.Podctl(t, "exec", name, "-c", "httpd", "--", "cat", "/www/index.html")
		if res.ExitCode != 0 || res.Stdout != page {
			t.Errorf("exec cat /www/index.html: got %s\nwant exit code 0 and stdout %q", res, page)
		}
		// The client container reaches httpd over the pod's shared loopback.
		res = p.Podctl(t, "exec", name, "-c", "client", "--", "wget", "-qO-", "http://127.0.0.1:8080/")
		if res.ExitCode != 0 || res.Stdout != page {
			t.Errorf("exec wget in the client: got %s\nwant exit code 0 and stdout %q", res, page)
		}
		// Without -c, the pod's first container.
		res = p.Podctl(t, "exec", name, "--", "sh", "-c", "exit 7")
		if res.ExitCode != 7 {
			t.Errorf("exec sh -c 'exit 7': got %s\nwant exit code 7", res)
		}
		res = p.Podctl(t, "exec", name, "--", "sh", "-c", "echo out; echo err >&2")
		if res.ExitCode != 0 || res.Stdout != "out\n" || !strings.Contains(res.Stderr, "err\n") {
			t.Errorf("exec echo out, echo err >&2: got %s\nwant stdout \"out\\n\" and stderr with \"err\"", res)
		}
		res = p.PodctlInput(t, strings.NewReader("hi\n"), "exec", "-i", name, "--", "cat")
		if res.ExitCode != 0 || res.Stdout != "hi\n" {
			t.Errorf("echo hi | exec -i cat: got %s\nwant exit code 0 and stdout \"hi\\n\"", res)
		}
		res = p.Podctl(t, "exec", name, "-c", "nosuch", "--", "true")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
			t.Errorf("exec in a container that does not exist: got %s\nwant a not-found failure", res)
		}
	})

	t.Run("logs hold stdout and stderr", func(t *testing.T) {
		log := podLogs(t, p, name, "writer")
		if !strings.Contains(log, "to-stdout\n") || !strings.Contains(log, "to-stderr\n") {
			t.Errorf("the writer's log is %q, want both to-stdout and to-stderr", log)
		}
	})

	t.Run("status as json", func(t *testing.T) {
		res := mustPodctl(t, p, "get", name, "-o", "json")
		// A generic decoding: the field names on the wire are what is checked, not podd's Go types.
		var obj map[string]any
		if err := json.Unmarshal([]byte(res.Stdout), &obj); err != nil {
			t.Fatalf("get -o json is not a JSON object: %v\n%s", err, res.Stdout)
		}
		status, _ := obj["status"].(map[string]any)
		if status["phase"] != "Running" {
			t.Errorf("status.phase = %v, want Running", status["phase"])
		}
		ready := false
		conds, _ := status["conditions"].([]any)
		for _, c := range conds {
			c, _ := c.(map[string]any)
			if c["type"] == "Ready" && c["status"] == "True" {
				ready = true
			}
		}
		if !ready {
			t.Errorf("status.conditions = %v, want Ready True", conds)
		}
		statuses, _ := status["containerStatuses"].([]any)
		var names []string
		for i, cs := range statuses {
			cs, _ := cs.(map[string]any)
			names = append(names, fmt.Sprint(cs["name"]))
			where := fmt.Sprintf("status.containerStatuses[%d] (%v)", i, cs["name"])
			if id, _ := cs["containerID"].(string); !strings.HasPrefix(id, "containerd://") || len(id) <= len("containerd://") {
				t.Errorf("%s.containerID = %v, want containerd://<id>", where, cs["containerID"])
			}
			if cs["image"] != busyboxImage {
				t.Errorf("%s.image = %v, want %s", where, cs["image"], busyboxImage)
			}
			if cs["ready"] != true {
				t.Errorf("%s.ready = %v, want true", where, cs["ready"])
			}
			if rc, ok := cs["restartCount"].(float64); !ok || rc != 0 {
				t.Errorf("%s.restartCount = %v, want 0", where, cs["restartCount"])
			}
			state, _ := cs["state"].(map[string]any)
			running, _ := state["running"].(map[string]any)
			startedAt, _ := running["startedAt"].(string)
			if _, err := time.Parse(time.RFC3339, startedAt); err != nil {
				t.Errorf("%s.state = %v, want running with an RFC 3339 startedAt", where, state)
			}
		}
		if !slices.Equal(names, []string{"httpd", "writer", "client"}) {
			t.Errorf("status.containerStatuses names %q, want [httpd writer client] in the spec's order", names)
		}
	})

	t.Run("list as json", func(t *testing.T) {
		res := mustPodctl(t, p, "get", "-o", "json")
		var list struct {
			Items *[]json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil || list.Items == nil {
			t.Fatalf("get -o json: want an object with items: %v\n%s", err, res.Stdout)
		}
		found := false
		for _, raw := range *list.Items {
			var item pod.Pod
			if err := json.Unmarshal(raw, &item); err != nil {
				t.Fatalf("an item of get -o json: %v\n%s", err, raw)
			}
			found = found || item.Metadata.Name == name
		}
		if !found {
			t.Errorf("get -o json does not list pod %s:\n%s", name, res.Stdout)
		}
	})

	t.Run("table", func(t *testing.T) {
		for _, args := range [][]string{{"get"}, {"get", name}, {"ps"}} {
			res := mustPodctl(t, p, args...)
			lines := strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n")
			if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
				t.Errorf("podctl %s: header %q, want NAME READY STATUS RESTARTS AGE", strings.Join(args, " "), got)
			}
			var row []string
			for _, l := range lines[1:] {
				if f := strings.Fields(l); len(f) > 0 && f[0] == name {
					row = f
				}
			}
			if len(row) != 5 || row[1] != "3/3" || row[2] != "Running" || row[3] != "0" {
				t.Errorf("podctl %s: row %q, want %s 3/3 Running 0 <age>\n%s", strings.Join(args, " "), row, name, res.Stdout)
			}
		}
	})

	t.Run("one shim", func(t *testing.T) {
		// The runc v2 shim groups the containers whose spec carries the same
		// io.containerd.runc.v2.group annotation: one shim serves the whole pod.
		uid := getPod(t, p, name).Metadata.UID
		ctrs := podContainers(t, p, uid)
		if len(ctrs) != 3 {
			t.Fatalf("containerd holds %d containers of the pod, want 3", len(ctrs))
		}
		ids := map[string]bool{uid: true}
		parents := map[int]bool{}
		for _, c := range ctrs {
			ids[c.ID] = true
			pid := taskPid(t, p, c.ID)
			ppid := parentPid(t, pid)
			if cmd := processArgs(ppid); len(cmd) == 0 || filepath.Base(cmd[0]) != "containerd-shim-runc-v2" {
				t.Errorf("the parent of container %s's process %d is %d %q, want containerd-shim-runc-v2", c.ID, pid, ppid, cmd)
			}
			parents[ppid] = true
		}
		if len(parents) != 1 {
			t.Errorf("the pod's processes have %d parents %v, want one shim", len(parents), parents)
		}
		shims := shimProcesses(ids)
		if len(shims) != 1 {
			t.Errorf("%d shim processes whose -id is the pod's UID or one of its containers: %v, want 1", len(shims), shims)
		}
		for pid, id := range shims {
			t.Logf("the pod's shim: pid %d, -id %s (pod UID %s)", pid, id, uid)
			if !parents[pid] {
				t.Errorf("shim %d is not the parent of the pod's processes %v", pid, parents)
			}
		}
	})
}

// mustPodctl runs podctl against p and fails the test unless it succeeds.
func mustPodctl(t testing.TB, p *Podd, args ...string) Result {
	t.Helper()
	res := p.Podctl(t, args...)
	if res.ExitCode != 0 {
		t.Fatalf("podctl %s: %s", strings.Join(args, " "), res)
	}
	return res
}

// runDetached writes a manifest and runs `podctl run -d` with it: for pods whose containers fail
// (which makes `podctl run` itself fail). Cleanup removes the pods.
func runDetached(t testing.TB, p *Podd, manifest string) {
	t.Helper()
	if res := runPods(t, p, manifest, "-d"); res.ExitCode != 0 {
		t.Fatalf("podctl run -d: %s\nmanifest:\n%s", res, manifest)
	}
}

// mustRun runs a manifest with `podctl run` and fails the test unless it succeeds; unlike
// Podd.RunManifest, the cleanup tolerates pods the test removed itself and does not wait two
// minutes on a podd that hangs (see removePod).
func mustRun(t testing.TB, p *Podd, manifest string) {
	t.Helper()
	if res := runPods(t, p, manifest); res.ExitCode != 0 {
		t.Fatalf("podctl run: %s\nmanifest:\n%s", res, manifest)
	}
}

// runPods writes a manifest and runs `podctl run` with it and args, whatever comes of it.
// Cleanup removes the manifest's pods.
func runPods(t testing.TB, p *Podd, manifest string, args ...string) Result {
	t.Helper()
	path := writeManifest(t, manifest)
	for _, ref := range manifestPods(t, manifest) {
		t.Cleanup(func() { removePod(t, p, namespaceOr(ref.namespace), ref.name) })
	}
	return p.Podctl(t, append(append([]string{"run"}, args...), path)...)
}

// removePod removes a pod with `podctl rm`, for a cleanup: a pod that is gone already is fine. A
// podd that does not answer within removeTimeout hangs: it is sent SIGQUIT, which writes its
// goroutines to its log and ends it (the shared podd is started again for the next test).
func removePod(t testing.TB, p *Podd, namespace, name string) {
	t.Helper()
	if !p.Running() {
		return
	}
	res, done := podctlWithin(t, p, removeTimeout, "rm", "-n", namespace, name)
	switch {
	case !done:
		p.quit(t)
		t.Errorf("clean up: podctl rm %s did not return within %v: podd hangs; its goroutines are in its log", name, removeTimeout)
	case res.ExitCode != 0 && !strings.Contains(res.Stderr, "not found"):
		t.Errorf("clean up: podctl rm %s: %s", name, res)
	}
}

// removeTimeout bounds a cleanup's `podctl rm`: the pods of these tests stop within a few seconds.
const removeTimeout = 20 * time.Second

func namespaceOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// getPod reads a pod with `podctl get NAME -o json`.
func getPod(t testing.TB, p *Podd, name string, args ...string) *pod.Pod {
	t.Helper()
	res := mustPodctl(t, p, append([]string{"get", name, "-o", "json"}, args...)...)
	var got pod.Pod
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("decode podctl get %s -o json: %v\n%s", name, err, res.Stdout)
	}
	return &got
}

// waitPod polls the pod until cond holds, and returns it then; it fails the test after
// podWaitTimeout, saying what it waited for and showing the pod.
func waitPod(t testing.TB, p *Podd, name, what string, cond func(*pod.Pod) bool) *pod.Pod {
	t.Helper()
	deadline := time.Now().Add(podWaitTimeout)
	for {
		got := getPod(t, p, name)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(got, "", "  ")
			t.Fatalf("pod %s: not %s within %v:\n%s", name, what, podWaitTimeout, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPhase waits until the pod is in phase.
func waitPhase(t testing.TB, p *Podd, name string, phase pod.PodPhase) *pod.Pod {
	t.Helper()
	return waitPod(t, p, name, "in phase "+string(phase), func(got *pod.Pod) bool { return got.Status.Phase == phase })
}

// containerStatus finds a container's status in a pod; it fails the test when there is none.
func containerStatus(t testing.TB, p *pod.Pod, container string) pod.ContainerStatus {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			return s
		}
	}
	t.Fatalf("pod %s has no status of container %s: %+v", p.Metadata.Name, container, p.Status.ContainerStatuses)
	return pod.ContainerStatus{}
}

// podLogs reads a container's log with `podctl logs`.
func podLogs(t testing.TB, p *Podd, name, container string) string {
	t.Helper()
	return mustPodctl(t, p, "logs", name, "-c", container).Stdout
}

// podContainers lists the containers in podd's containerd namespace that carry the pod's UID.
func podContainers(t testing.TB, p *Podd, uid string) []containers.Container {
	t.Helper()
	ctrs, err := containerdClient(t).ContainerService().List(p.Context(), fmt.Sprintf("labels.%q==%q", labelPodUID, uid))
	if err != nil {
		t.Fatalf("list the containers of pod %s: %v", uid, err)
	}
	return ctrs
}

// taskPid is the host pid of a container's task.
func taskPid(t testing.TB, p *Podd, id string) int {
	t.Helper()
	ctr, err := containerdClient(t).LoadContainer(p.Context(), id)
	if err != nil {
		t.Fatalf("load container %s: %v", id, err)
	}
	task, err := ctr.Task(p.Context(), nil)
	if err != nil {
		t.Fatalf("task of container %s: %v", id, err)
	}
	return int(task.Pid())
}

// parentPid reads a process's parent from /proc.
func parentPid(t testing.TB, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the status of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			ppid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("process %d: PPid %q: %v", pid, v, err)
			}
			return ppid
		}
	}
	t.Fatalf("process %d: no PPid in its status", pid)
	return 0
}

// processArgs is a process's command line; nil for a process that is gone or a zombie.
func processArgs(pid int) []string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z") {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cmdline) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
}

// shimProcesses finds the live containerd-shim-runc-v2 processes whose -id is one of ids, and
// returns their pids with that id.
func shimProcesses(ids map[string]bool) map[int]string {
	shims := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args := processArgs(pid)
		if len(args) == 0 || filepath.Base(args[0]) != "containerd-shim-runc-v2" {
			continue
		}
		for i, a := range args {
			if (a == "-id" || a == "--id") && i+1 < len(args) && ids[args[i+1]] {
				shims[pid] = args[i+1]
			}
		}
	}
	return shims
}

// waitDone waits until the pod has ended: phase Succeeded or Failed.
func waitDone(t testing.TB, p *Podd, name string) *pod.Pod {
	t.Helper()
	return waitPod(t, p, name, "Succeeded or Failed", func(got *pod.Pod) bool {
		return got.Status.Phase == pod.PodSucceeded || got.Status.Phase == pod.PodFailed
	})
}
