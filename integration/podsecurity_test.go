package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// statusLines are the lines of a process's /proc status that show its confinement.
const statusLines = `grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status`

// unshareProbe tries what the audit found open: a new user namespace, in which the process would
// hold every capability. It prints unshare-ok or unshare-refused.
const unshareProbe = `if unshare -U -r true 2>/dev/null; then echo unshare-ok; else echo unshare-refused; fi`

// statusField reads one "Name:\tvalue" line of what statusLines printed.
func statusField(t *testing.T, out, field string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + field + `:\s*(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s line in:\n%s", field, out)
	}
	return m[1]
}

// securityProbePod is a pod whose containers (name → securityContext in flow style, "" for
// none) print their confinement (statusLines, unshareProbe) and exit.
func securityProbePod(name string, containers [][2]string) string {
	probe := fmt.Sprintf(`["sh", "-c", %q]`, statusLines+"; "+unshareProbe)
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  restartPolicy: Never\n  containers:\n", name)
	for _, c := range containers {
		fmt.Fprintf(&b, "  - name: %s\n    image: %s\n    command: %s\n", c[0], busyboxImage, probe)
		if c[1] != "" {
			fmt.Fprintf(&b, "    securityContext: %s\n", c[1])
		}
	}
	return b.String()
}

// defaultCaps is containerd's (Docker's) default capability set, 0xa80425fb, which is what
// Kubernetes' documentation shows for a container that asks for nothing.
const defaultCaps = "00000000a80425fb"

// probeWant is what a probe container should print.
type probeWant struct {
	container               string
	seccomp, nnp, caps, uns string // uns "": not checked
}

func checkProbes(t *testing.T, p *Podd, name string, wants []probeWant) {
	t.Helper()
	if got := waitDone(t, p, name); got.Status.Phase != pod.PodSucceeded {
		t.Fatalf("pod ended %s: %+v", got.Status.Phase, got.Status.ContainerStatuses)
	}
	for _, tc := range wants {
		out := podLogs(t, p, name, tc.container)
		t.Logf("%s:\n%s", tc.container, out)
		if got := statusField(t, out, "Seccomp"); got != tc.seccomp {
			t.Errorf("%s: Seccomp: %s, want %s", tc.container, got, tc.seccomp)
		}
		if got := statusField(t, out, "NoNewPrivs"); got != tc.nnp {
			t.Errorf("%s: NoNewPrivs: %s, want %s", tc.container, got, tc.nnp)
		}
		if got := statusField(t, out, "CapEff"); got != tc.caps {
			t.Errorf("%s: CapEff: %s, want %s", tc.container, got, tc.caps)
		}
		if tc.uns != "" && !strings.Contains(out, tc.uns) {
			t.Errorf("%s: unshare -U -r: %q, want %s", tc.container, out, tc.uns)
		}
	}
}

// TestSecurityContextDefaults is finding 8's first half: a container that asks for nothing runs
// under containerd's RuntimeDefault seccomp profile (Seccomp: 2) and so cannot unshare a user
// namespace (where it would hold every capability), with no_new_privs off as in Kubernetes,
// since allowPrivilegeEscalation defaults to true, and the default capabilities.
func TestSecurityContextDefaults(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, securityProbePod(name, [][2]string{{"plain", ""}}))
	checkProbes(t, p, name, []probeWant{{"plain", "2", "0", defaultCaps, "unshare-refused"}})
}

// TestSecurityContextFields: allowPrivilegeEscalation false sets no_new_privs, capabilities are
// dropped (ALL) and added, names with or without CAP_, and seccompProfile Unconfined turns the
// filter off (and with it the refusal of unshare).
func TestSecurityContextFields(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, securityProbePod(name, [][2]string{
		{"noescalation", "{allowPrivilegeEscalation: false}"},
		{"dropall", "{capabilities: {drop: [ALL]}}"},
		{"addadmin", "{capabilities: {add: [NET_ADMIN], drop: [CAP_CHOWN]}}"},
		{"unconfined", "{seccompProfile: {type: Unconfined}}"},
	}))
	checkProbes(t, p, name, []probeWant{
		{"noescalation", "2", "1", defaultCaps, "unshare-refused"},
		{"dropall", "2", "0", "0000000000000000", "unshare-refused"},
		// + CAP_NET_ADMIN (bit 12), - CAP_CHOWN (bit 0).
		{"addadmin", "2", "0", "00000000a80435fa", "unshare-refused"},
		{"unconfined", "0", "0", defaultCaps, "unshare-ok"},
	})
}

// TestRunAsNonRoot: runAsNonRoot with an image that runs as root does not start, with the
// kubelet's CreateContainerConfigError and an event naming the field; with runAsUser it runs.
func TestRunAsNonRoot(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  securityContext: {runAsNonRoot: true}
  containers:
  - name: root
    image: %[2]s
    command: ["sleep", "3600"]
  - name: user
    image: %[2]s
    command: ["sleep", "3600"]
    securityContext: {runAsUser: 1000}
`, name, busyboxImage))
	got := waitPod(t, p, name, "user running and root refused", func(got *pod.Pod) bool {
		root, user := findContainerStatus(got, "root"), findContainerStatus(got, "user")
		return root != nil && root.State.Waiting != nil && root.State.Waiting.Reason == pod.ReasonCreateContainerConfigError &&
			user != nil && user.State.Running != nil
	})
	if msg := findContainerStatus(got, "root").State.Waiting.Message; !strings.Contains(msg, "runAsNonRoot") || !strings.Contains(msg, "root") {
		t.Errorf("root's waiting message %q does not name runAsNonRoot", msg)
	}
	waitFor(t, "an event naming runAsNonRoot", func() bool {
		ev := mustPodctl(t, p, "events", name).Stdout
		return strings.Contains(ev, "CreateContainerConfigError") && strings.Contains(ev, "runAsNonRoot")
	})
	if out := execIn(t, p, name, "user", "id", "-u"); out != "1000" {
		t.Errorf("user's id -u: %q, want 1000", out)
	}
}

// securityExample reads one of specs/examples/security with the test's busybox image.
func securityExample(t *testing.T, file string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "specs", "examples", "security", file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "localhost/podd/busybox:1.35", busyboxImage)
}

// TestSecurityContextExamples runs the four examples of Kubernetes' "Configure a Security Context
// for a Pod or Container" that podd refused before (pod-level securityContext,
// allowPrivilegeEscalation, capabilities.add) and checks what that page says to check.
func TestSecurityContextExamples(t *testing.T) {
	p := sharedPodd(t)
	// The examples set no terminationGracePeriodSeconds, and sleep as PID 1 ignores SIGTERM:
	// each is removed with --force rather than waiting out 30 s.
	running := func(t *testing.T, name string) {
		t.Cleanup(func() { p.Podctl(t, "rm", "--force", name) })
		waitPod(t, p, name, "Running", func(got *pod.Pod) bool { return got.Status.Phase == pod.PodRunning })
	}
	t.Run("security-context.yaml", func(t *testing.T) {
		const name = "security-context-demo"
		mustRun(t, p, securityExample(t, "security-context.yaml"))
		running(t, name)
		id := execIn(t, p, name, "sec-ctx-demo", "id")
		t.Logf("id: %s", id)
		if !strings.HasPrefix(id, "uid=1000") || !regexp.MustCompile(`groups=.*\b2000\b`).MatchString(id) {
			t.Errorf("id: %q, want uid 1000 and group 2000 (fsGroup) among the groups", id)
		}
		if uid := execIn(t, p, name, "sec-ctx-demo", "grep", "^Uid:", "/proc/1/status"); strings.Join(strings.Fields(uid), " ") != "Uid: 1000 1000 1000 1000" {
			t.Errorf("the main process's user: %q, want 1000", uid)
		}
		// The volume belongs to fsGroup, setgid, and so does what the container writes there.
		ls := execIn(t, p, name, "sec-ctx-demo", "stat", "-c", "%A %g", "/data/demo")
		if ls != "drwxrwsrwx 2000" {
			t.Errorf("/data/demo: %q, want drwxrwsrwx 2000", ls)
		}
		file := execIn(t, p, name, "sec-ctx-demo", "sh", "-c", "echo hello > /data/demo/testfile && stat -c '%u %g' /data/demo/testfile")
		if file != "1000 2000" {
			t.Errorf("a file written in /data/demo: owner and group %q, want 1000 2000", file)
		}
		if nnp := execIn(t, p, name, "sec-ctx-demo", "grep", "NoNewPrivs", "/proc/1/status"); !strings.HasSuffix(nnp, "1") {
			t.Errorf("allowPrivilegeEscalation: false: %q, want NoNewPrivs 1", nnp)
		}
	})
	t.Run("security-context-2.yaml", func(t *testing.T) {
		const name = "security-context-demo-2"
		mustRun(t, p, securityExample(t, "security-context-2.yaml"))
		running(t, name)
		if uid := execIn(t, p, name, "sec-ctx-demo-2", "grep", "^Uid:", "/proc/1/status"); strings.Join(strings.Fields(uid), " ") != "Uid: 2000 2000 2000 2000" {
			t.Errorf("the main process's user: %q, want the container's runAsUser 2000 over the pod's 1000", uid)
		}
	})
	t.Run("security-context-3.yaml", func(t *testing.T) {
		const name = "security-context-demo-3"
		mustRun(t, p, securityExample(t, "security-context-3.yaml"))
		running(t, name)
		out := execIn(t, p, name, "sec-ctx-3", "grep", "Cap", "/proc/1/status")
		for _, f := range []string{"CapPrm", "CapEff"} {
			if got := statusField(t, out, f); got != "00000000a80425fb" {
				t.Errorf("%s: %s, want 00000000a80425fb as on the page", f, got)
			}
		}
	})
	t.Run("security-context-4.yaml", func(t *testing.T) {
		const name = "security-context-demo-4"
		mustRun(t, p, securityExample(t, "security-context-4.yaml"))
		running(t, name)
		out := execIn(t, p, name, "sec-ctx-4", "grep", "Cap", "/proc/1/status")
		for _, f := range []string{"CapPrm", "CapEff"} {
			if got := statusField(t, out, f); got != "00000000aa0435fb" {
				t.Errorf("%s: %s, want 00000000aa0435fb (NET_ADMIN and SYS_TIME added) as on the page", f, got)
			}
		}
	})
}

// TestPodSecurityLevels: with podd's own defaults every namespace is baseline, which refuses host
// namespaces, host paths, host ports, privilege and added capabilities, naming the field and the
// level, and creates nothing; a namespace named privileged runs them; a restricted namespace
// refuses a pod that sets nothing and runs one that sets what restricted asks; static pods are
// exempt.
func TestPodSecurityLevels(t *testing.T) {
	t.Parallel()
	p := startPoddConfigured(t, func(p *Podd) {
		p.PodSecurityDefaults = true
		p.Flags = []string{"--pod-security-namespace", "system=privileged", "--pod-security-namespace", "secure=restricted"}
	})
	manifest := func(ns, name, spec string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n  terminationGracePeriodSeconds: 0\n%s", name, ns, spec)
	}
	sleeper := fmt.Sprintf("  containers:\n  - name: app\n    image: %s\n    command: [\"sleep\", \"3600\"]\n", busyboxImage)
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"hostnetwork", "  hostNetwork: true\n" + sleeper, `violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
		{"hostroot", "  volumes: [{name: root, hostPath: {path: /}}]\n" + sleeper, `violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`},
		{"containerd", "  volumes: [{name: sock, hostPath: {path: /run/containerd/containerd.sock}}]\n" + sleeper, `violates PodSecurity "baseline:latest": hostPath volumes (volume "sock")`},
		{"privileged", sleeper + "    securityContext: {privileged: true}\n", `violates PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)`},
		{"caps", sleeper + "    securityContext: {capabilities: {add: [SYS_ADMIN]}}\n", `violates PodSecurity "baseline:latest": non-default capabilities (container "app" must not include "SYS_ADMIN" in securityContext.capabilities.add)`},
		{"hostport", sleeper + "    ports: [{containerPort: 80, hostPort: 18080}]\n", `violates PodSecurity "baseline:latest": hostPort (container "app" uses hostPort 18080)`},
		{"unconfined", sleeper + "    securityContext: {seccompProfile: {type: Unconfined}}\n", `violates PodSecurity "baseline:latest": seccompProfile (container "app" must not set securityContext.seccompProfile.type to "Unconfined")`},
	} {
		t.Run("baseline refuses "+tc.name, func(t *testing.T) {
			name := uniqueName(t)
			res := runPods(t, p, manifest("default", name, tc.spec), "--detach")
			if res.ExitCode == 0 || !strings.Contains(res.Stderr, fmt.Sprintf(`pods %q is forbidden: `, name)+tc.want) {
				t.Errorf("podctl run: %s\nwant a refusal containing %q", res, tc.want)
			}
			if res := p.Podctl(t, "get", name); res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
				t.Errorf("the refused pod exists: %s", res)
			}
		})
	}
	t.Run("privileged namespace runs them", func(t *testing.T) {
		name := uniqueName(t)
		mustRun(t, p, manifest("system", name, "  hostNetwork: true\n  volumes: [{name: root, hostPath: {path: /}}]\n"+
			fmt.Sprintf("  containers:\n  - name: app\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    securityContext: {privileged: true}\n    volumeMounts: [{name: root, mountPath: /host, readOnly: true}]\n", busyboxImage)))
		out := strings.TrimSpace(mustPodctl(t, p, "exec", "-n", "system", name, "--", "sh", "-c", statusLines).Stdout)
		if statusField(t, out, "Seccomp") != "0" {
			t.Errorf("a privileged container has a seccomp filter:\n%s", out)
		}
	})
	t.Run("restricted refuses a pod that sets nothing", func(t *testing.T) {
		name := uniqueName(t)
		res := runPods(t, p, manifest("secure", name, sleeper), "--detach")
		want := fmt.Sprintf(`pods %q is forbidden: violates PodSecurity "restricted:latest": `, name) +
			`allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ` +
			`unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ` +
			`runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ` +
			`seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, want) {
			t.Errorf("podctl run: %s\nwant a refusal containing %q", res, want)
		}
	})
	t.Run("restricted runs a restricted pod", func(t *testing.T) {
		name := uniqueName(t)
		mustRun(t, p, manifest("secure", name, fmt.Sprintf(`  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
`, busyboxImage)))
		out := mustPodctl(t, p, "exec", "-n", "secure", name, "--", "sh", "-c", statusLines).Stdout
		for f, want := range map[string]string{"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000"} {
			if got := statusField(t, out, f); got != want {
				t.Errorf("%s: %s, want %s", f, got, want)
			}
		}
	})
	t.Run("baseline runs the documentation's examples 1 to 3 and refuses 4", func(t *testing.T) {
		for _, f := range []string{"security-context.yaml", "security-context-2.yaml", "security-context-3.yaml"} {
			m := securityExample(t, f)
			if res := runPods(t, p, m, "--detach"); res.ExitCode != 0 {
				t.Errorf("%s in a baseline namespace: %s", f, res)
			}
			// No terminationGracePeriodSeconds in the examples: removed with --force, not in 30 s.
			for _, ref := range manifestPods(t, m) {
				t.Cleanup(func() { p.Podctl(t, "rm", "--force", ref.name) })
			}
		}
		res := runPods(t, p, securityExample(t, "security-context-4.yaml"), "--detach")
		want := `violates PodSecurity "baseline:latest": non-default capabilities (container "sec-ctx-4" must not include "NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add)`
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, want) {
			t.Errorf("security-context-4.yaml in a baseline namespace: %s\nwant %q", res, want)
		}
	})
	t.Run("static pods are exempt", func(t *testing.T) {
		name := uniqueName(t)
		writeStatic(t, p, name+".yaml", manifest("default", name, "  hostNetwork: true\n"+sleeper))
		t.Cleanup(func() { os.Remove(filepath.Join(p.Manifests, name+".yaml")) })
		waitStatic(t, p, name, "Running", running)
	})
}
