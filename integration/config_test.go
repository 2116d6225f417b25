package integration

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// configTimeout bounds the wait for a ConfigMap or Secret change to reach a mounted file: podd
// rewrites the files as soon as the change is stored, so this is only slack for a loaded machine.
const configTimeout = 20 * time.Second

// envOf is the environment of the pod's first container, as `env` prints it, by name.
func envOf(t testing.TB, p *Podd, name string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(execOut(t, p, name, "env"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// secretValue is a value no test writes twice, to be looked for where it must not be.
func secretValue(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

// TestConfigEnvAndVolumes: env from a ConfigMap and a Secret (configMapKeyRef, secretKeyRef,
// envFrom with and without a prefix, $(VAR) of an envFrom variable), configMap, secret and
// projected volumes with items, defaultMode and an item's mode (checked with stat), read-only,
// and the secret and projected-with-a-secret volumes on a tmpfs, as /proc/mounts shows them.
func TestConfigEnvAndVolumes(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	password := secretValue(t)
	p.ApplyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: %[1]s-cfg}
data: {color: blue, size: large, app.properties: "a=1\nb=2\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: %[1]s-sec}
stringData: {password: %[2]s, user: admin}
---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[3]s
    command: ["sh", "-c", %[4]q]
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: %[1]s-cfg, key: color}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: %[1]s-sec, key: password}}
    - name: GREETING
      value: "$(CFG_size)-$(COLOR)"
    envFrom:
    - {prefix: CFG_, configMapRef: {name: %[1]s-cfg}}
    - secretRef: {name: %[1]s-sec}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
    - {name: all, mountPath: /etc/all}
    - {name: whole, mountPath: /etc/whole}
  volumes:
  - name: config
    configMap:
      name: %[1]s-cfg
      defaultMode: 0600
      items:
      - {key: color, path: colors/main}
      - {key: size, path: size, mode: 0444}
  - name: secret
    secret: {secretName: %[1]s-sec, defaultMode: 0400}
  - name: all
    projected:
      sources:
      - configMap: {name: %[1]s-cfg, items: [{key: color, path: color}]}
      - secret: {name: %[1]s-sec, items: [{key: user, path: auth/user}]}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}, {path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: whole
    configMap: {name: %[1]s-cfg}
`, name, password, busyboxImage, untilTerm))
	waitPhase(t, p, name, pod.PodRunning)

	t.Run("env", func(t *testing.T) {
		env := envOf(t, p, name)
		for k, want := range map[string]string{
			"COLOR": "blue", "PASSWORD": password, "GREETING": "large-blue",
			"CFG_color": "blue", "CFG_size": "large", "user": "admin", "password": password,
		} {
			if env[k] != want {
				t.Errorf("env %s = %q, want %q", k, env[k], want)
			}
		}
	})

	t.Run("files and modes", func(t *testing.T) {
		for path, want := range map[string]string{
			"/etc/config/colors/main": "blue", "/etc/config/size": "large",
			"/etc/secret/password": password, "/etc/secret/user": "admin",
			"/etc/all/color": "blue", "/etc/all/auth/user": "admin", "/etc/all/name": name,
			"/etc/whole/app.properties": "a=1\nb=2\n",
		} {
			if got := execOut(t, p, name, "cat", path); got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
		}
		for path, want := range map[string]string{
			"/etc/config/colors/main": "600", "/etc/config/size": "444", "/etc/secret/password": "400",
			"/etc/all/color": "644", "/etc/whole/color": "644",
		} {
			if got := strings.TrimSpace(execOut(t, p, name, "stat", "-L", "-c", "%a", path)); got != want {
				t.Errorf("mode of %s = %s, want %s", path, got, want)
			}
		}
		// Only the items: the keys not listed are not there.
		if got := execOut(t, p, name, "ls", "/etc/config"); got != "colors\nsize\n" {
			t.Errorf("ls /etc/config = %q, want colors and size only", got)
		}
		if got := execOut(t, p, name, "readlink", "/etc/whole/color"); got != "..data/color\n" {
			t.Errorf("/etc/whole/color links to %q, want ..data/color", got)
		}
		if res := p.Podctl(t, "exec", name, "--", "touch", "/etc/config/x"); res.ExitCode == 0 {
			t.Errorf("the configMap volume is writable from the container")
		}
	})

	t.Run("projected downwardAPI follows labels", func(t *testing.T) {
		mustPodctl(t, p, "label", name, "tier=front")
		waitFile(t, p, name, "/etc/all/labels", `tier="front"`)
		if got := execOut(t, p, name, "cat", "/etc/all/auth/user"); got != "admin" {
			t.Errorf("/etc/all/auth/user = %q after the label change", got)
		}
	})

	t.Run("secrets on a tmpfs", func(t *testing.T) {
		fs := map[string]string{}
		for _, line := range strings.Split(execOut(t, p, name, "cat", "/proc/mounts"), "\n") {
			if f := strings.Fields(line); len(f) > 2 {
				fs[f[1]] = f[2]
			}
		}
		for mount, want := range map[string]string{"/etc/secret": "tmpfs", "/etc/all": "tmpfs"} {
			if fs[mount] != want {
				t.Errorf("%s is a %q, want a %s", mount, fs[mount], want)
			}
		}
		if fs["/etc/config"] == "tmpfs" {
			t.Errorf("/etc/config (a ConfigMap's) is a tmpfs: only Secrets need one")
		}
	})
}

// TestConfigMapEditReachesFile: a ConfigMap changed with podctl apply reaches the file of a
// running pod's configMap volume (read on the host, where podd writes it, and in the container)
// while the container's env keeps the value it started with and a subPath mount of the volume
// keeps its file (both as in Kubernetes). The delay from podctl apply to the file is logged
// (median of several edits): it is measured, not asserted.
func TestConfigMapEditReachesFile(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	cm := func(color string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s-cfg}\ndata: {color: %s}\n", name, color)
	}
	p.ApplyManifest(t, cm("blue")+fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: %[1]s-cfg, key: color}}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: config, mountPath: /etc/color, subPath: color}
  volumes:
  - name: config
    configMap: {name: %[1]s-cfg}
`, name, busyboxImage, untilTerm))
	uid := waitPhase(t, p, name, pod.PodRunning).Metadata.UID
	hostFile := filepath.Join(p.Root, "pods", uid, "volumes", "config", "color")

	var delays []time.Duration
	for i := 1; i <= 5; i++ {
		color := fmt.Sprintf("green-%d", i)
		path := writeManifest(t, cm(color))
		start := time.Now()
		mustPodctl(t, p, "apply", "-f", path)
		deadline := start.Add(configTimeout)
		for {
			if data, err := os.ReadFile(hostFile); err == nil && string(data) == color {
				break
			}
			if time.Now().After(deadline) {
				data, err := os.ReadFile(hostFile)
				t.Fatalf("the ConfigMap's edit to %q did not reach %s within %v: %q, %v", color, hostFile, configTimeout, data, err)
			}
			time.Sleep(time.Millisecond)
		}
		delays = append(delays, time.Since(start))
		waitFile(t, p, name, "/etc/config/color", color)
	}
	slices.Sort(delays)
	t.Logf("ConfigMap edit (podctl apply) to the mounted file: median %v of %v", delays[len(delays)/2], delays)

	env := envOf(t, p, name)
	if env["COLOR"] != "blue" {
		t.Errorf("env COLOR = %q after the edits, want the value it started with, blue", env["COLOR"])
	}
	if got := execOut(t, p, name, "cat", "/etc/color"); got != "blue" {
		t.Errorf("the subPath mount reads %q, want blue: a subPath mount is not updated (as in Kubernetes)", got)
	}
	if cs := containerStatus(t, getPod(t, p, name), "app"); cs.RestartCount != 0 {
		t.Errorf("the container restarted %d times: an edit must not restart it", cs.RestartCount)
	}
}

// TestConfigMissing: a pod whose references are all optional starts without the ConfigMap and
// Secret (the variables unset, the volume empty); one that needs a missing ConfigMap waits, with
// CreateContainerConfigError or FailedMount and an event naming it, and starts once it is applied.
func TestConfigMissing(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)

	p.ApplyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s-opt}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: %[1]s-none, key: color, optional: true}}
    envFrom:
    - secretRef: {name: %[1]s-none, optional: true}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
  volumes:
  - name: config
    configMap: {name: %[1]s-none, optional: true}
`, name, busyboxImage, untilTerm))
	waitPhase(t, p, name+"-opt", pod.PodRunning)
	if _, ok := envOf(t, p, name+"-opt")["COLOR"]; ok {
		t.Errorf("COLOR is set from a missing optional ConfigMap")
	}
	if got := execOut(t, p, name+"-opt", "ls", "/etc/config"); got != "" {
		t.Errorf("the volume of a missing optional ConfigMap holds %q", got)
	}

	for _, tt := range []struct{ pod, ref string }{
		{name + "-env", "    env:\n    - name: COLOR\n      valueFrom: {configMapKeyRef: {name: " + name + "-later, key: color}}\n"},
		{name + "-vol", "    volumeMounts:\n    - {name: config, mountPath: /etc/config}\n  volumes:\n  - name: config\n    configMap: {name: " + name + "-later}\n"},
	} {
		p.ApplyManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
%[4]s`, tt.pod, busyboxImage, untilTerm, tt.ref))
	}
	missing := fmt.Sprintf("configmap %q not found", name+"-later")
	for _, ref := range []struct{ pod, reason string }{{name + "-env", "Failed"}, {name + "-vol", "FailedMount"}} {
		waitPod(t, p, ref.pod, "waiting with CreateContainerConfigError", func(got *pod.Pod) bool {
			for _, cs := range got.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && w.Reason == pod.ReasonCreateContainerConfigError && strings.Contains(w.Message, missing) {
					return true
				}
			}
			return false
		})
		events := mustPodctl(t, p, "events", ref.pod).Stdout
		if !strings.Contains(events, ref.reason) || !strings.Contains(events, missing) {
			t.Errorf("events of %s: want %s with %q:\n%s", ref.pod, ref.reason, missing, events)
		}
	}
	p.ApplyManifest(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s-later}\ndata: {color: red}\n", name))
	waitPhase(t, p, name+"-env", pod.PodRunning)
	if got := envOf(t, p, name+"-env")["COLOR"]; got != "red" {
		t.Errorf("COLOR = %q once the ConfigMap exists, want red", got)
	}
	waitPhase(t, p, name+"-vol", pod.PodRunning)
	if got := execOut(t, p, name+"-vol", "cat", "/etc/config/color"); got != "red" {
		t.Errorf("/etc/config/color = %q once the ConfigMap exists, want red", got)
	}
}

// TestSecretNeverShown: a Secret's values (the first one, and the one an edit brings) appear
// nowhere in podd's log, in podctl events, describe pod, describe secret or get secret — not even
// when a pod refers to a key the Secret lacks, or a manifest's bad data is refused — while the
// container gets them and describe secret shows the sizes. podd's store, which holds them, is
// readable by root only.
func TestSecretNeverShown(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	first, second := secretValue(t), secretValue(t)
	from := fileSize(p.LogPath)
	secret := func(v string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s-sec}\nstringData: {password: %s}\n", name, v)
	}
	p.ApplyManifest(t, secret(first)+fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: %[1]s-sec, key: password}}
    volumeMounts:
    - {name: secret, mountPath: /etc/secret}
  volumes:
  - name: secret
    secret: {secretName: %[1]s-sec}
---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s-nokey}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: %[1]s-sec, key: token}}
`, name, busyboxImage, untilTerm))
	waitPhase(t, p, name, pod.PodRunning)
	if got := envOf(t, p, name)["PASSWORD"]; got != first {
		t.Errorf("PASSWORD = %q, want the Secret's value", got)
	}
	waitPod(t, p, name+"-nokey", "waiting for the missing key", func(got *pod.Pod) bool {
		for _, cs := range got.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && strings.Contains(w.Message, "couldn't find key token in Secret") {
				return true
			}
		}
		return false
	})
	mustPodctl(t, p, "apply", "-f", writeManifest(t, secret(second)))
	waitFile(t, p, name, "/etc/secret/password", second)
	// Refused: bad base64 data. The refusal names the field, never the data.
	bad := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s-bad}\ndata: {password: %q}\n", name, second+"!")
	if res := p.Podctl(t, "apply", "-f", writeManifest(t, bad)); res.ExitCode == 0 || !strings.Contains(res.Stderr, "data[password]") ||
		strings.Contains(res.Stderr, second) {
		t.Errorf("apply of bad data: want a refusal naming data[password] without the value:\n%s", res)
	}

	describe := mustPodctl(t, p, "describe", "secret", name+"-sec").Stdout
	if !strings.Contains(describe, fmt.Sprintf("password:  %d bytes", len(second))) {
		t.Errorf("describe secret: want the key and its size:\n%s", describe)
	}
	describePod := mustPodctl(t, p, "describe", name).Stdout
	if !strings.Contains(describePod, "<set to the key 'password' in secret '"+name+"-sec'>") {
		t.Errorf("describe pod: want the env's reference:\n%s", describePod)
	}
	shown := map[string]string{
		"describe secret":       describe,
		"describe pod":          describePod,
		"describe pod (no key)": mustPodctl(t, p, "describe", name+"-nokey").Stdout,
		"events":                mustPodctl(t, p, "events", "-A").Stdout,
		"get secret":            mustPodctl(t, p, "get", "secret", name+"-sec").Stdout,
		"get secret -o wide":    mustPodctl(t, p, "get", "secrets", "-o", "wide").Stdout,
		"get pod -o yaml":       mustPodctl(t, p, "get", name, "-o", "yaml").Stdout,
	}
	logData, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	shown["podd's log"] = string(logData[min(from, int64(len(logData))):])
	for what, out := range shown {
		for _, v := range []string{first, second} {
			if strings.Contains(out, v) {
				t.Errorf("%s shows the Secret's value %q:\n%s", what, v, out)
			}
		}
	}
	// kubectl's habit: -o yaml shows the data, base64-encoded.
	if out := mustPodctl(t, p, "get", "secret", name+"-sec", "-o", "yaml").Stdout; !strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(second))) {
		t.Errorf("get secret -o yaml: want the base64 data, as kubectl shows it:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(p.Root, "podd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("podd.db, which holds the Secrets, has mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestConfigAfterPoddRestart: a restarted podd finds the ConfigMaps before it adopts the pods —
// the running container is kept, not restarted, no FailedMount is recorded — and an edit after
// the restart still reaches the file.
func TestConfigAfterPoddRestart(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := uniqueName(t)
	cm := func(color string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s-cfg}\ndata: {color: %s}\n", name, color)
	}
	p.ApplyManifest(t, cm("blue")+fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata: {name: %[1]s-sec}
stringData: {password: pw}
---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: %[1]s-cfg, key: color}}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
  volumes:
  - name: config
    configMap: {name: %[1]s-cfg}
  - name: secret
    secret: {secretName: %[1]s-sec}
`, name, busyboxImage, untilTerm))
	before := containerStatus(t, waitPhase(t, p, name, pod.PodRunning), "app")
	p.Restart(t)
	after := containerStatus(t, waitPhase(t, p, name, pod.PodRunning), "app")
	if after.ContainerID != before.ContainerID || after.RestartCount != 0 {
		t.Errorf("the container changed across the restart: %s (%d restarts), was %s", after.ContainerID, after.RestartCount, before.ContainerID)
	}
	if events := mustPodctl(t, p, "events", name).Stdout; strings.Contains(events, "FailedMount") || strings.Contains(events, "not found") {
		t.Errorf("events after the restart:\n%s", events)
	}
	if got := execOut(t, p, name, "cat", "/etc/secret/password"); got != "pw" {
		t.Errorf("/etc/secret/password = %q after the restart", got)
	}
	mustPodctl(t, p, "apply", "-f", writeManifest(t, cm("green")))
	waitFile(t, p, name, "/etc/config/color", "green")
}
