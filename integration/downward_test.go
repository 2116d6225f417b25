package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/pod"
)

// downwardTimeout bounds the wait for a label change to show inside a container: podd rewrites
// the files before it answers, so this is only slack for a loaded machine.
const downwardTimeout = 20 * time.Second

// execOut runs a command in the pod's first container and returns its stdout; it fails the test
// unless the command succeeds.
func execOut(t testing.TB, p *Podd, name string, cmd ...string) string {
	t.Helper()
	return mustPodctl(t, p, append([]string{"exec", name, "--"}, cmd...)...).Stdout
}

// waitFile polls a file inside the container until it reads want.
func waitFile(t testing.TB, p *Podd, name, path, want string) {
	t.Helper()
	deadline := time.Now().Add(downwardTimeout)
	for {
		got := execOut(t, p, name, "cat", path)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in pod %s reads %q, want %q (after %v)", path, name, got, want, downwardTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDownwardAPI: spec.nodeName in env and in the pod, a downwardAPI volume with the pod's
// labels, annotations, name, namespace and uid, and label/annotate changes that the running
// container sees in the files (not in its env) without being restarted.
func TestDownwardAPI(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app: web, tier: front}
  annotations: {note: "say \"hi\""}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    volumeMounts:
    - {name: podinfo, mountPath: /etc/podinfo}
  volumes:
  - name: podinfo
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: namespace, fieldRef: {fieldPath: metadata.namespace}}
      - {path: ids/uid, mode: 0400, fieldRef: {fieldPath: metadata.uid}}
      - {path: app, fieldRef: {fieldPath: "metadata.labels['app']"}}
`, name, busyboxImage, untilTerm))
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	before := getPod(t, p, name)
	if before.Spec.NodeName != hostname {
		t.Errorf("spec.nodeName = %q, want the hostname %q", before.Spec.NodeName, hostname)
	}
	uid := before.Metadata.UID
	started := containerStatus(t, before, "app")

	t.Run("env", func(t *testing.T) {
		if got := execOut(t, p, name, "sh", "-c", `echo "$NODE/$APP"`); got != hostname+"/web\n" {
			t.Errorf("NODE/APP = %q, want %q", got, hostname+"/web\n")
		}
	})

	t.Run("files", func(t *testing.T) {
		for path, want := range map[string]string{
			"labels":      "app=\"web\"\ntier=\"front\"",
			"annotations": `note="say \"hi\""`,
			"name":        name,
			"namespace":   "default",
			"ids/uid":     uid,
			"app":         "web",
		} {
			if got := execOut(t, p, name, "cat", "/etc/podinfo/"+path); got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
		}
		// The kubelet's layout: the files through ..data, which a rename swaps.
		if got := execOut(t, p, name, "readlink", "/etc/podinfo/labels"); got != "..data/labels\n" {
			t.Errorf("labels links to %q", got)
		}
		if got := execOut(t, p, name, "stat", "-c", "%a", "/etc/podinfo/ids/uid"); got != "400\n" {
			t.Errorf("mode of ids/uid = %q, want 400", got)
		}
		if res := p.Podctl(t, "exec", name, "--", "touch", "/etc/podinfo/x"); res.ExitCode == 0 {
			t.Errorf("the volume is writable from the container")
		}
		out := mustPodctl(t, p, "describe", name).Stdout
		for _, want := range []string{"Node:", hostname, "DownwardAPI", "metadata.labels -> labels"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("label and annotate", func(t *testing.T) {
		if out := mustPodctl(t, p, "label", name, "version=v2", "tier-").Stdout; out != "pod/"+name+" labeled\n" {
			t.Errorf("podctl label said %q", out)
		}
		waitFile(t, p, name, "/etc/podinfo/labels", "app=\"web\"\nversion=\"v2\"")

		// kubectl's rule: an existing key changes only with --overwrite.
		res := p.Podctl(t, "label", name, "app=api")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "'app' already has a value (web), and --overwrite is false") {
			t.Errorf("label without --overwrite: %s", res)
		}
		res = p.Podctl(t, "label", name, "bad key=x")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "metadata.labels[bad key]") {
			t.Errorf("bad label key: %s", res)
		}
		res = p.Podctl(t, "label", name, "app=-x", "--overwrite")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, `metadata.labels[app]: Invalid value: "-x"`) {
			t.Errorf("bad label value: %s", res)
		}
		mustPodctl(t, p, "label", name, "app=api", "--overwrite")
		waitFile(t, p, name, "/etc/podinfo/app", "api")

		mustPodctl(t, p, "annotate", name, "note-", "build=42")
		waitFile(t, p, name, "/etc/podinfo/annotations", `build="42"`)

		got := getPod(t, p, name)
		if got.Metadata.Labels["app"] != "api" || got.Metadata.Annotations["build"] != "42" || got.Metadata.Annotations["note"] != "" {
			t.Errorf("pod metadata = %+v", got.Metadata)
		}
		// Env values from fieldRefs keep what they were when the container started.
		if env := execOut(t, p, name, "sh", "-c", `echo "$APP"`); env != "web\n" {
			t.Errorf("APP = %q after the label change, want the value at start", env)
		}
		// The same container instance: not restarted.
		now := containerStatus(t, got, "app")
		if now.RestartCount != started.RestartCount || now.ContainerID != started.ContainerID || now.State.Running == nil {
			t.Errorf("container changed: before %+v, after %+v", started, now)
		}
		if ev := mustPodctl(t, p, "events", name).Stdout; !strings.Contains(ev, "MetadataUpdated") || !strings.Contains(ev, "labels app=api") {
			t.Errorf("no MetadataUpdated event:\n%s", ev)
		}
	})

	t.Run("stored", func(t *testing.T) {
		// Not through the store file (the shared podd runs): the answer of get is what a restarted
		// podd reads back; TestPodAPISocket restarts its own podd.
		if got := getPod(t, p, name); got.Metadata.Labels["version"] != "v2" {
			t.Errorf("labels = %v", got.Metadata.Labels)
		}
	})
}

// TestDownwardAPIRefused: a pod for another node and a bad downwardAPI volume are refused with
// the field's name, and create nothing.
func TestDownwardAPIRefused(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	for _, tt := range []struct{ spec, want string }{
		{"  nodeName: not-this-node\n", `spec.nodeName: Invalid value: "not-this-node"`},
		{"  volumes:\n  - name: v\n    downwardAPI:\n      items:\n      - {path: ../x, fieldRef: {fieldPath: metadata.name}}\n", "spec.volumes[0].downwardAPI.items[0].path"},
		{"  volumes:\n  - name: v\n    downwardAPI:\n      items:\n      - {path: cpu, resourceFieldRef: {resource: limits.cpu}}\n", "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: Required value"},
	} {
		manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers:\n  - {name: a, image: %s}\n%s", name, busyboxImage, tt.spec)
		res := runPods(t, p, manifest)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, tt.want) {
			t.Errorf("want a refusal naming %q, got %s", tt.want, res)
		}
		if res := p.Podctl(t, "get", name); res.ExitCode == 0 {
			t.Errorf("a refused pod exists: %s", res)
		}
	}
}

// podctlImage is busybox with a static podctl in /bin, for containers that read their own pod
// through the per-pod API socket (busybox's nc cannot speak to a unix socket).
const podctlImage = "localhost/podd-test/podctl:1"

// TestPodAPISocket: a pod that asks for it (podd.io/api-socket) gets a socket in /run/podd through
// which its container reads its own pod and nothing else; it outlives a podd restart and goes
// with the pod.
func TestPodAPISocket(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	spec, err := ociimage.Busybox(podctlImage, ociimage.WithFile(goBuildStatic(t, "./cmd/podctl"), "/bin/podctl", 0o755))
	if err != nil {
		t.Fatal(err)
	}
	mustPodctl(t, p, "image", "import", buildImage(t, spec))

	self, other := uniqueName(t, "self"), uniqueName(t, "other")
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  annotations: {podd.io/api-socket: "true"}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: %[3]s, command: ["sh", "-c", %[4]q], securityContext: {runAsUser: 1000}}
---
apiVersion: v1
kind: Pod
metadata: {name: %[2]s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: %[3]s, command: ["sh", "-c", %[4]q]}
`, self, other, podctlImage, untilTerm))
	uid := getPod(t, p, self).Metadata.UID

	// readSelf asks, from inside the container, for its own pod, as podctl there does by default.
	readSelf := func(t *testing.T) *pod.Pod {
		t.Helper()
		var got pod.Pod
		out := execOut(t, p, self, "podctl", "get", self, "-o", "json")
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("decode %q: %v", out, err)
		}
		return &got
	}

	t.Run("own pod", func(t *testing.T) {
		got := readSelf(t)
		if got.Metadata.Name != self || got.Metadata.UID != uid || got.Status.Phase != pod.PodRunning {
			t.Errorf("the container sees %s %s %s", got.Metadata.Name, got.Metadata.UID, got.Status.Phase)
		}
		if out := execOut(t, p, self, "podctl", "get"); !strings.Contains(out, self) || strings.Contains(out, other) {
			t.Errorf("podctl get in the container lists:\n%s", out)
		}
		if out := execOut(t, p, self, "podctl", "describe", self); !strings.Contains(out, "Started") {
			t.Errorf("describe in the container shows no events:\n%s", out)
		}
	})

	t.Run("nothing else", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"podctl", "get", other}, "serves only pod default/" + self},
			{[]string{"podctl", "rm", self}, "not allowed through the pod's own API socket"},
			{[]string{"podctl", "label", self, "a=b"}, "not allowed through the pod's own API socket"},
			{[]string{"podctl", "-n", "kube-system", "get", self}, "not found"},
			{[]string{"podctl", "image", "ls"}, "not available through a pod's own API socket"},
		} {
			res := p.Podctl(t, append([]string{"exec", self, "--"}, tt.args...)...)
			if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, tt.want) {
				t.Errorf("%v: want a failure saying %q, got %s", tt.args, tt.want, res)
			}
		}
		// The pod that did not ask has no socket.
		if res := p.Podctl(t, "exec", other, "--", "ls", "/run/podd"); res.ExitCode == 0 {
			t.Errorf("the other pod has /run/podd: %s", res)
		}
		if got := getPod(t, p, self); got.Status.Phase != pod.PodRunning {
			t.Errorf("the pod changed: %s", got.Status.Phase)
		}
	})

	// The container keeps the socket's folder mounted; a new podd listens in it again, after a
	// clean stop (which removes the socket) and after kill -9 (which leaves a dead one behind).
	answers := func(t *testing.T) {
		t.Helper()
		deadline := time.Now().Add(downwardTimeout)
		for {
			res := p.Podctl(t, "exec", self, "--", "podctl", "get", self, "-o", "json")
			if res.ExitCode == 0 && strings.Contains(res.Stdout, uid) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no answer on the pod's socket after the restart: %s", res)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Run("podd restart", func(t *testing.T) {
		p.Restart(t)
		answers(t)
	})
	t.Run("podd kill -9", func(t *testing.T) {
		p.Kill9(t)
		// A dead socket file stays behind, which the next podd must replace.
		sock := filepath.Join(p.State, "pods", uid, "api", "podd.sock")
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			t.Errorf("%s answers with podd dead", sock)
		} else if _, err := os.Stat(sock); err != nil {
			t.Logf("no stale socket after kill -9: %v", err)
		}
		p.Start(t)
		answers(t)
	})

	t.Run("removal", func(t *testing.T) {
		dir := filepath.Join(p.State, "pods", uid)
		if _, err := os.Stat(filepath.Join(dir, "api", "podd.sock")); err != nil {
			t.Fatalf("socket on the host: %v", err)
		}
		mustPodctl(t, p, "rm", self)
		deadline := time.Now().Add(downwardTimeout)
		for {
			_, err := os.Stat(dir)
			if os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s left after the pod's removal (%v): %v", dir, err, listDir(t, dir))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestDownwardAPIResources: resourceFieldRef in env and in a downwardAPI volume, with divisors,
// and a container without a limit sees the host's capacity as its limit.
func TestDownwardAPIResources(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %s
    command: [sleep, "3600"]
    resources:
      limits: {cpu: 250m, memory: 48Mi}
      requests: {cpu: 100m, memory: 16Mi}
    env:
    - {name: CPU_LIMIT_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    - {name: CPU_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
    - {name: MEM_REQUEST_MI, valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Mi}}}
    - {name: FREE_CPU, valueFrom: {resourceFieldRef: {containerName: free, resource: limits.cpu}}}
    volumeMounts: [{name: res, mountPath: /res}]
  - name: free
    image: %s
    command: [sleep, "3600"]
  volumes:
  - name: res
    downwardAPI:
      items:
      - {path: mem_limit, resourceFieldRef: {containerName: app, resource: limits.memory}}
      - {path: cpu_request, resourceFieldRef: {containerName: app, resource: requests.cpu, divisor: 1m}}
`, name, busyboxImage, busyboxImage))
	env := execOut(t, p, name, "env")
	for _, want := range []string{"CPU_LIMIT_M=250", "CPU_LIMIT=1", "MEM_REQUEST_MI=16", fmt.Sprintf("FREE_CPU=%d", goruntime.NumCPU())} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if got := execOut(t, p, name, "cat", "/res/mem_limit"); got != "50331648" {
		t.Errorf("/res/mem_limit = %q, want 50331648", got)
	}
	if got := execOut(t, p, name, "cat", "/res/cpu_request"); got != "100" {
		t.Errorf("/res/cpu_request = %q, want 100", got)
	}
}

// TestSubPathSymlinkStaysInVolume: a symlink that one container leaves in a volume (x → /) does
// not make another container's subPath mount the host's root: podd resolves the subPath inside
// the volume, as if the volume were /.
func TestSubPathSymlinkStaysInVolume(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: plant
    image: %s
    command: ["sh", "-c", "ln -s / /data/x && echo mine > /data/marker"]
    volumeMounts: [{name: data, mountPath: /data}]
  containers:
  - name: app
    image: %s
    command: [sleep, "3600"]
    volumeMounts: [{name: data, mountPath: /mnt, subPath: x}]
  volumes:
  - {name: data, emptyDir: {}}
`, name, busyboxImage, busyboxImage))
	out := execOut(t, p, name, "ls", "/mnt")
	if strings.Contains(out, "etc") || strings.Contains(out, "proc") || !strings.Contains(out, "marker") {
		t.Errorf("subPath x (a symlink to /) mounted %q; want the volume itself (marker, x), not the host's /", out)
	}
}
