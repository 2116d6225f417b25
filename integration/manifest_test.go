package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// invalidManifests is the folder of the malformed manifests that pkg/pod's unit tests decode;
// each starts with a line "# expect: <text the error must contain>".
const invalidManifests = "../pkg/manifest/testdata/invalid"

// TestMalformedManifest runs podctl run with every malformed manifest and checks that it fails,
// says why, and creates nothing; then that a manifest is created whole or not at all, and that
// a pod name is not taken twice. It has a podd of its own, so that "nothing was created" is not
// disturbed by the other tests' pods.
func TestMalformedManifest(t *testing.T) {
	t.Parallel()
	p := startPodd(t)

	// nothingCreated checks that podd holds no pod and made nothing in containerd or on disk (this
	// podd holds nothing else); it removes what was created, so that the next case starts clean.
	nothingCreated := func(t *testing.T) {
		t.Helper()
		res := mustPodctl(t, p, "get", "-A", "-o", "json")
		var list struct{ Items []pod.Pod }
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("get -A -o json: %v\n%s", err, res.Stdout)
		}
		for _, created := range list.Items {
			t.Errorf("pod %s/%s was created", created.Metadata.Namespace, created.Metadata.Name)
			if res := p.Podctl(t, "rm", "--force", "-n", created.Metadata.Namespace, created.Metadata.Name); res.ExitCode != 0 {
				t.Fatalf("remove it: %s", res)
			}
		}
		if len(list.Items) > 0 {
			return // the removal is tested elsewhere
		}
		if ctrs := p.Containers(t); len(ctrs) != 0 {
			t.Errorf("containerd holds %d containers, want none", len(ctrs))
		}
		if pods := listDir(t, filepath.Join(p.Root, "pods")); len(pods) != 0 {
			t.Errorf("pod folders %q, want none", pods)
		}
		if ns := p.NetnsFiles(t); len(ns) != 0 {
			t.Errorf("netns files %q, want none", ns)
		}
	}

	files, err := filepath.Glob(filepath.Join(invalidManifests, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no malformed manifests in %s: %v", invalidManifests, err)
	}
	nothingCreated(t)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			want := expectation(t, file)
			res := p.Podctl(t, "run", file)
			if res.ExitCode == 0 || !strings.Contains(res.Stderr, want) {
				t.Errorf("podctl run %s: %s\nwant a failure that says %q", file, res, want)
			}
			nothingCreated(t)
		})
	}

	t.Run("all or nothing", func(t *testing.T) {
		first, second := uniqueName(t, "first"), uniqueName(t, "second")
		good := func(name string) string {
			return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", %q]
`, name, busyboxImage, untilTerm)
		}
		for _, tc := range []struct{ name, manifest, want string }{
			{"second pod invalid", good(first) + "---\n" + strings.Replace(good(second), "spec:\n", "spec:\n  restartPolicy: Sometimes\n", 1), "spec.restartPolicy"},
			{"second pod unknown field", good(first) + "---\n" + strings.Replace(good(second), "spec:\n", "spec:\n  nodeName: elsewhere\n", 1), "spec.nodeName"},
			{"same name twice", good(first) + "---\n" + good(first), "already exists"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := runPods(t, p, tc.manifest)
				if res.ExitCode == 0 || !strings.Contains(res.Stderr, tc.want) {
					t.Errorf("podctl run: %s\nwant a failure that says %q", res, tc.want)
				}
				nothingCreated(t)
			})
		}
	})

	t.Run("name conflict", func(t *testing.T) {
		name, other := uniqueName(t), uniqueName(t, "other")
		mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", %q]
`, name, busyboxImage, untilTerm))
		before := getPod(t, p, name)
		for _, manifest := range []string{
			// The same name with another spec.
			fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: other\n    image: %s\n", name, busyboxImage),
			// A new pod beside the conflicting one: not created either.
			fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: other\n    image: %s\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: other\n    image: %s\n", other, busyboxImage, name, busyboxImage),
		} {
			res := p.Podctl(t, "run", writeManifest(t, manifest))
			if res.ExitCode == 0 || !strings.Contains(res.Stderr, "already exists") {
				t.Errorf("podctl run of a pod named as an existing one: %s\nwant a failure that says already exists", res)
			}
		}
		if res := p.Podctl(t, "get", other); res.ExitCode == 0 {
			t.Errorf("pod %s was created beside the conflict: %s", other, res)
			p.Podctl(t, "rm", "--force", other)
		}
		after := getPod(t, p, name)
		if after.Metadata.UID != before.Metadata.UID {
			t.Errorf("pod %s has UID %s, want it untouched: %s", name, after.Metadata.UID, before.Metadata.UID)
		}
		cs, was := containerStatus(t, after, "app"), containerStatus(t, before, "app")
		if after.Status.Phase != pod.PodRunning || cs.ContainerID != was.ContainerID || cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("after the conflict the pod is %s with container %+v, want it running as before: %+v", after.Status.Phase, cs, was)
		}
		if ctrs := p.Containers(t); len(ctrs) != 1 {
			t.Errorf("containerd holds %d containers, want the existing pod's one", len(ctrs))
		}
	})
}

// expectation reads a malformed manifest's "# expect: " line.
func expectation(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		if want, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok && want != "" {
			return want
		}
	}
	t.Fatalf("%s does not start with a line \"# expect: <text>\"", file)
	return ""
}

// TestKubernetesSemantics runs pods whose containers print what Kubernetes defines — command and
// args against the image's ENTRYPOINT and CMD, the image's WORKDIR and ENV, env expansion and the
// downward API, users, a read-only root, volumes, hostnames — and compares their logs with what a
// kubelet would make them print. The pods run once (restartPolicy Never), all at the same time.
func TestKubernetesSemantics(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello"), []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, k := range []string{"cmd", "imgcfg", "env", "security", "volumes", "hostname", "spechostname"} {
		names[k] = uniqueName(t, k)
	}
	sh := func(script string) string { return fmt.Sprintf(`["sh", "-c", %q]`, script) }
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  restartPolicy: Never
  containers:
  - name: ep-default
    image: %[2]s
  - name: ep-args
    image: %[2]s
    args: ["x", "y"]
  - name: ep-command
    image: %[2]s
    command: ["/bin/echo", "c"]
  - name: ep-both
    image: %[2]s
    command: ["/bin/echo", "c"]
    args: ["a", "b"]
  - name: ep-expand
    image: %[2]s
    env:
    - {name: A, value: a}
    args: ["$(A)", "$$(A)", "$(NOPE)"]
`, names["cmd"], entrypointImage) + fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  restartPolicy: Never
  containers:
  - name: image
    image: %[2]s
    command: %[3]s
  - name: override
    image: %[2]s
    command: %[3]s
    workingDir: /etc
    env:
    - {name: FOO, value: mine}
`, names["imgcfg"], stopSignalImage, sh(`pwd; echo "FOO=$FOO"`)) + fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {k: lv}
  annotations: {k: av}
spec:
  restartPolicy: Never
  containers:
  - name: env
    image: %[2]s
    command: ["env"]
    env:
    - {name: A, value: a}
    - {name: B, value: $(A)-b}
    - {name: C, value: $$(A)}
    - {name: D, value: $(NOPE)}
    - {name: E, value: $(F)}
    - {name: F, value: f}
    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: LABEL, valueFrom: {fieldRef: {fieldPath: "metadata.labels['k']"}}}
    - {name: ANNOTATION, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['k']"}}}
`, names["env"], busyboxImage) + fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  restartPolicy: Never
  volumes:
  - {name: scratch, emptyDir: {}}
  containers:
  - name: user
    image: %[2]s
    command: %[3]s
    securityContext: {runAsUser: 1000}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  - name: group
    image: %[2]s
    command: ["sh", "-c", "id -u; id -g"]
    securityContext: {runAsUser: 1000, runAsGroup: 2000}
  - name: readonly
    image: %[2]s
    command: %[4]s
    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
`, names["security"], busyboxImage,
		sh(`id -u; touch /scratch/by-user && echo scratch-ok`),
		sh(`if touch /x 2>/dev/null; then echo root-rw; else echo root-ro; fi; if touch /scratch/x; then echo scratch-rw; else echo scratch-ro; fi`),
	) + fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  restartPolicy: Never
  volumes:
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: data, emptyDir: {}}
  - {name: host, hostPath: {path: %[3]q, type: Directory}}
  containers:
  - name: tmpfs
    image: %[2]s
    command: ["grep", " /mem ", "/proc/mounts"]
    volumeMounts: [{name: mem, mountPath: /mem}]
  - name: subpath
    image: %[2]s
    command: %[4]s
    volumeMounts:
    - {name: data, mountPath: /all}
    - {name: data, mountPath: /sub, subPath: sub}
  - name: hostpath
    image: %[2]s
    command: ["sh", "-c", "cat /host/hello && echo from-pod > /host/out"]
    volumeMounts: [{name: host, mountPath: /host}]
`, names["volumes"], busyboxImage, hostDir, sh(`echo via-subpath > /sub/f && cat /all/sub/f && ls /all`)) + fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  restartPolicy: Never
  containers:
  - name: names
    image: %[3]s
    command: %[4]s
---
apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  restartPolicy: Never
  hostname: myhost
  containers:
  - name: names
    image: %[3]s
    command: %[4]s
`, names["hostname"], names["spechostname"], busyboxImage, sh(`hostname; cat /etc/hosts`))

	if res := runPods(t, p, manifest); res.ExitCode != 0 {
		t.Errorf("podctl run: %s\nmanifest:\n%s", res, manifest)
	}
	for _, k := range slices.Sorted(maps.Keys(names)) {
		if got := waitDone(t, p, names[k]); got.Status.Phase != pod.PodSucceeded {
			for _, cs := range got.Status.ContainerStatuses {
				if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
					t.Errorf("pod %s container %s: %+v\nlog:\n%s", names[k], cs.Name, cs.State, podLogs(t, p, names[k], cs.Name))
				}
			}
		}
	}
	logOf := func(t *testing.T, k, container string) string {
		t.Helper()
		return podLogs(t, p, names[k], container)
	}
	expect := func(t *testing.T, k, container, want string) {
		t.Helper()
		if got := logOf(t, k, container); got != want {
			t.Errorf("pod %s container %s printed %q, want %q", names[k], container, got, want)
		}
	}

	t.Run("command and args", func(t *testing.T) {
		expect(t, "cmd", "ep-default", "ep cmd\n")           // ENTRYPOINT + CMD
		expect(t, "cmd", "ep-args", "ep x y\n")              // ENTRYPOINT + args
		expect(t, "cmd", "ep-command", "c\n")                // command alone: no CMD
		expect(t, "cmd", "ep-both", "c a b\n")               // command + args
		expect(t, "cmd", "ep-expand", "ep a $(A) $(NOPE)\n") // $(VAR), $$ and an unknown name
	})

	t.Run("image workdir and env", func(t *testing.T) {
		expect(t, "imgcfg", "image", "/tmp\nFOO=bar\n")
		expect(t, "imgcfg", "override", "/etc\nFOO=mine\n")
	})

	t.Run("env", func(t *testing.T) {
		env := map[string]string{}
		for _, line := range strings.Split(logOf(t, "env", "env"), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
		uid := getPod(t, p, names["env"]).Metadata.UID
		for k, want := range map[string]string{
			"A": "a", "B": "a-b", "C": "$(A)", "D": "$(NOPE)", "E": "$(F)", "F": "f",
			"NAME": names["env"], "NS": "default", "UID": uid, "LABEL": "lv", "ANNOTATION": "av",
			"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		} {
			if got, ok := env[k]; !ok || got != want {
				t.Errorf("%s=%q (set: %v), want %q", k, got, ok, want)
			}
		}
	})

	t.Run("security context", func(t *testing.T) {
		expect(t, "security", "user", "1000\nscratch-ok\n")
		expect(t, "security", "group", "1000\n2000\n")
		expect(t, "security", "readonly", "root-ro\nscratch-rw\n")
	})

	t.Run("volumes", func(t *testing.T) {
		mount := logOf(t, "volumes", "tmpfs")
		if !strings.HasPrefix(mount, "tmpfs /mem tmpfs ") || !strings.Contains(mount, "size=16384k") {
			t.Errorf("/proc/mounts has %q for /mem, want a tmpfs of size=16384k", mount)
		}
		expect(t, "volumes", "subpath", "via-subpath\nsub\n")
		expect(t, "volumes", "hostpath", "hello from the host\n")
		if out, err := os.ReadFile(filepath.Join(hostDir, "out")); err != nil || string(out) != "from-pod\n" {
			t.Errorf("the file the pod wrote into its hostPath: %q, %v; want from-pod", out, err)
		}
	})

	t.Run("hostname and hosts", func(t *testing.T) {
		for _, tc := range []struct{ k, hostname string }{
			{"hostname", names["hostname"]},
			{"spechostname", "myhost"},
		} {
			log := logOf(t, tc.k, "names")
			first, hosts, _ := strings.Cut(log, "\n")
			if first != tc.hostname {
				t.Errorf("pod %s: hostname %q, want %q", names[tc.k], first, tc.hostname)
			}
			for _, want := range []string{tc.hostname, names[tc.k], "localhost"} {
				if !hostsHas(hosts, want) {
					t.Errorf("pod %s: /etc/hosts does not name %s:\n%s", names[tc.k], want, hosts)
				}
			}
		}
	})

	t.Run("hostNetwork", func(t *testing.T) {
		// A pod of its own: when it fails to start, the others are not involved.
		name := uniqueName(t)
		res := runPods(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  hostNetwork: true
  containers:
  - name: names
    image: %s
    command: ["sh", "-c", "hostname; cat /etc/hosts"]
`, name, busyboxImage))
		if res.ExitCode != 0 {
			t.Fatalf("podctl run of a hostNetwork pod: %s", res)
		}
		if got := waitDone(t, p, name); got.Status.Phase != pod.PodSucceeded {
			t.Errorf("the hostNetwork pod ended %s: %+v", got.Status.Phase, got.Status.ContainerStatuses)
		}
		first, _, _ := strings.Cut(podLogs(t, p, name, "names"), "\n")
		if first != host {
			t.Errorf("hostname in a hostNetwork pod: %q, want the host's %q", first, host)
		}
	})

	t.Run("hostPath Directory missing", func(t *testing.T) {
		name := uniqueName(t)
		missing := filepath.Join(t.TempDir(), "missing")
		res := runPods(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - {name: host, hostPath: {path: %q, type: Directory}}
  containers:
  - name: app
    image: %s
    volumeMounts: [{name: host, mountPath: /host}]
`, name, missing, busyboxImage))
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, missing) {
			t.Errorf("podctl run with a hostPath Directory that does not exist: %s\nwant a failure naming %s", res, missing)
		}
		uid := getPod(t, p, name).Metadata.UID
		mustPodctl(t, p, "rm", name)
		if res := p.Podctl(t, "get", name); res.ExitCode == 0 {
			t.Errorf("podctl get after podctl rm: %s\nwant not found", res)
		}
		if ctrs := podContainers(t, p, uid); len(ctrs) != 0 {
			t.Errorf("containerd holds %d containers of the removed pod", len(ctrs))
		}
		if _, err := os.Stat(filepath.Join(p.Root, "pods", uid)); !os.IsNotExist(err) {
			t.Errorf("the removed pod's folder remains: %v", err)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Errorf("the missing hostPath was created: %v", err)
		}
	})
}

// hostsHas tells whether an /etc/hosts file names name on some line.
func hostsHas(hosts, name string) bool {
	for _, line := range strings.Split(hosts, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && !strings.HasPrefix(f[0], "#") && slices.Contains(f[1:], name) {
			return true
		}
	}
	return false
}
