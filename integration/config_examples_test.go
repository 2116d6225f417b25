package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// The examples of the Kubernetes documentation for ConfigMaps, Secrets and projected volumes
// (kubernetes/website, content/en/examples/: configmap/*.yaml, pods/pod-configmap-*.yaml,
// pods/inject/secret*.yaml, pods/storage/projected*.yaml), as the documentation writes them —
// most in its JSON-like YAML with trailing commas and comments — except for their images:
// busybox ones become the test busybox, nginx the test server image (whose command, like
// nginx's, runs until it is stopped). podd must run each unchanged otherwise.

var exampleImages = strings.NewReplacer(
	`"registry.k8s.io/busybox:1.27.2"`, `"`+busyboxImage+`"`,
	`registry.k8s.io/busybox`, busyboxImage,
	`busybox:1.28`, busyboxImage,
	`"nginx"`, `"`+serverImage+`"`,
)

// applyExample applies a documentation example with its images replaced.
func applyExample(t *testing.T, p *Podd, manifest string) {
	t.Helper()
	mustPodctl(t, p, "apply", "-f", writeManifest(t, exampleImages.Replace(manifest)))
}

// deletePod deletes a pod at once and waits until it is gone: the examples reuse names.
func deletePod(t *testing.T, p *Podd, name string) {
	t.Helper()
	mustPodctl(t, p, "delete", "pod", name, "--grace-period", "0")
	deadline := time.Now().Add(podWaitTimeout)
	for p.Podctl(t, "get", name).ExitCode == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pod %s still there %v after its deletion", name, podWaitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exampleOutput runs an example pod that prints and ends (restartPolicy Never), and returns its
// output once it succeeded and the output holds every one of want (or logsWait passed: the
// logger writes a last line without a newline a moment after the container exits); the pod is
// deleted.
func exampleOutput(t *testing.T, p *Podd, manifest, name, container string, want ...string) string {
	t.Helper()
	applyExample(t, p, manifest)
	defer deletePod(t, p, name)
	if got := waitDone(t, p, name); got.Status.Phase != pod.PodSucceeded {
		t.Fatalf("example pod %s ended %s:\n%s", name, got.Status.Phase, mustPodctl(t, p, "describe", name).Stdout)
	}
	deadline := time.Now().Add(logsWait)
	for {
		out := podLogs(t, p, name, container)
		complete := true
		for _, w := range want {
			complete = complete && strings.Contains(out, w)
		}
		if complete || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKubernetesConfigExamples runs the documentation's ConfigMap, Secret and projected volume
// examples on a podd of its own (their names are fixed) and checks what the documentation says
// they show.
func TestKubernetesConfigExamples(t *testing.T) {
	p := startPodd(t)

	t.Run("configmap-multikeys with pod-configmap-*", func(t *testing.T) {
		// configmap/configmap-multikeys.yaml
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "special-config",
    namespace: "default",
  },
  data: {
    SPECIAL_LEVEL: "very",
    SPECIAL_TYPE: "charm",
  },
}
`)
		// pods/pod-configmap-env-var-valueFrom.yaml: the documentation says it prints "very charm".
		out := exampleOutput(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "dapi-test-pod",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "/bin/echo",
        "$(SPECIAL_LEVEL_KEY) $(SPECIAL_TYPE_KEY)",
      ],
      env: [{
        name: "SPECIAL_LEVEL_KEY",
        valueFrom: {
          configMapKeyRef: {
            name: "special-config",
            key: "SPECIAL_LEVEL",
          },
        },
      }, {
        name: "SPECIAL_TYPE_KEY",
        valueFrom: {
          configMapKeyRef: {
            name: "special-config",
            key: "SPECIAL_TYPE",
          },
        },
      }],
    }],
    restartPolicy: "Never",
  },
}
`, "dapi-test-pod", "test-container", "very charm\n")
		if out != "very charm\n" {
			t.Errorf("pod-configmap-env-var-valueFrom printed %q, want \"very charm\"", out)
		}

		// pods/pod-configmap-envFrom.yaml
		out = exampleOutput(t, p, `apiVersion: v1
kind: Pod
metadata:
  name: dapi-test-pod
spec:
  containers:
    - name: test-container
      image: registry.k8s.io/busybox
      command: [ "/bin/sh", "-c", "env" ]
      envFrom:
      - configMapRef:
          name: special-config
  restartPolicy: Never
`, "dapi-test-pod", "test-container", "SPECIAL_LEVEL=very\n", "SPECIAL_TYPE=charm\n")
		for _, want := range []string{"SPECIAL_LEVEL=very\n", "SPECIAL_TYPE=charm\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("pod-configmap-envFrom's env lacks %q:\n%s", want, out)
			}
		}

		// pods/pod-configmap-volume.yaml
		out = exampleOutput(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "dapi-test-pod",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "/bin/sh",
        "-c",
        "ls /etc/config/",
      ],
      volumeMounts: [{
        name: "config-volume",
        mountPath: "/etc/config",
      }],
    }],
    volumes: [{
      name: "config-volume",
      configMap: {
        # Provide the name of the ConfigMap containing the files you want
        # to add to the container
        name: "special-config",
      },
    }],
    restartPolicy: "Never",
  },
}
`, "dapi-test-pod", "test-container", "SPECIAL_LEVEL\nSPECIAL_TYPE\n")
		if out != "SPECIAL_LEVEL\nSPECIAL_TYPE\n" {
			t.Errorf("pod-configmap-volume listed %q, want SPECIAL_LEVEL and SPECIAL_TYPE", out)
		}

		// pods/pod-configmap-volume-specific-key.yaml: the documentation says it prints "very".
		out = exampleOutput(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "dapi-test-pod",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "/bin/sh",
        "-c",
        "cat /etc/config/keys",
      ],
      volumeMounts: [{
        name: "config-volume",
        mountPath: "/etc/config",
      }],
    }],
    volumes: [{
      name: "config-volume",
      configMap: {
        name: "special-config",
        items: [{
          key: "SPECIAL_LEVEL",
          path: "keys",
        }],
      },
    }],
    restartPolicy: "Never",
  },
}
`, "dapi-test-pod", "test-container", "very")
		if out != "very" {
			t.Errorf("pod-configmap-volume-specific-key printed %q, want \"very\"", out)
		}
	})

	t.Run("configmaps with pod-multiple-configmap-env-variable", func(t *testing.T) {
		// configmap/configmaps.yaml
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "special-config",
    namespace: "default",
  },
  data: {
    special.how: "very",
  },
}
---
{
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "env-config",
    namespace: "default",
  },
  data: {
    log_level: "INFO",
  },
}
`)
		// pods/pod-multiple-configmap-env-variable.yaml
		out := exampleOutput(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "dapi-test-pod",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "/bin/sh",
        "-c",
        "env",
      ],
      env: [{
        name: "SPECIAL_LEVEL_KEY",
        valueFrom: {
          configMapKeyRef: {
            name: "special-config",
            key: "special.how",
          },
        },
      }, {
        name: "LOG_LEVEL",
        valueFrom: {
          configMapKeyRef: {
            name: "env-config",
            key: "log_level",
          },
        },
      }],
    }],
    restartPolicy: "Never",
  },
}
`, "dapi-test-pod", "test-container", "SPECIAL_LEVEL_KEY=very\n", "LOG_LEVEL=INFO\n")
		for _, want := range []string{"SPECIAL_LEVEL_KEY=very\n", "LOG_LEVEL=INFO\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("pod-multiple-configmap-env-variable's env lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("secret with secret-pod and secret-envars-pod and pod-secret-envFrom", func(t *testing.T) {
		// pods/inject/secret.yaml
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "Secret",
  metadata: {
    name: "test-secret",
  },
  data: {
    username: "bXktYXBw",
    password: "Mzk1MjgkdmRnN0pi",
  },
}
`)
		// pods/inject/secret-pod.yaml
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "secret-test-pod",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "nginx",
      volumeMounts: [
        # name must match the volume name below
        {
          name: "secret-volume",
          mountPath: "/etc/secret-volume",
          readOnly: true,
        },
      ],
    }],
    # The secret data is exposed to Containers in the Pod through a Volume.
    volumes: [{
      name: "secret-volume",
      secret: {
        secretName: "test-secret",
      },
    }],
  },
}
`)
		waitPhase(t, p, "secret-test-pod", pod.PodRunning)
		if got := execOut(t, p, "secret-test-pod", "ls", "/etc/secret-volume"); got != "password\nusername\n" {
			t.Errorf("ls /etc/secret-volume = %q", got)
		}
		for file, want := range map[string]string{"username": "my-app", "password": "39528$vdg7Jb"} {
			if got := execOut(t, p, "secret-test-pod", "cat", "/etc/secret-volume/"+file); got != want {
				t.Errorf("/etc/secret-volume/%s = %q, want %q", file, got, want)
			}
		}
		deletePod(t, p, "secret-test-pod")

		// pods/inject/secret-envars-pod.yaml
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "secret-envars-test-pod",
  },
  spec: {
    containers: [{
      name: "envars-test-container",
      image: "nginx",
      env: [{
        name: "SECRET_USERNAME",
        valueFrom: {
          secretKeyRef: {
            name: "test-secret",
            key: "username",
          },
        },
      }, {
        name: "SECRET_PASSWORD",
        valueFrom: {
          secretKeyRef: {
            name: "test-secret",
            key: "password",
          },
        },
      }],
    }],
  },
}
`)
		waitPhase(t, p, "secret-envars-test-pod", pod.PodRunning)
		env := envOf(t, p, "secret-envars-test-pod")
		if env["SECRET_USERNAME"] != "my-app" || env["SECRET_PASSWORD"] != "39528$vdg7Jb" {
			t.Errorf("secret-envars-pod: SECRET_USERNAME=%q SECRET_PASSWORD=%q", env["SECRET_USERNAME"], env["SECRET_PASSWORD"])
		}
		deletePod(t, p, "secret-envars-test-pod")

		// pods/inject/pod-secret-envFrom.yaml
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "envfrom-secret",
  },
  spec: {
    containers: [{
      name: "envars-test-container",
      image: "nginx",
      envFrom: [{
        secretRef: {
          name: "test-secret",
        },
      }],
    }],
  },
}
`)
		waitPhase(t, p, "envfrom-secret", pod.PodRunning)
		env = envOf(t, p, "envfrom-secret")
		if env["username"] != "my-app" || env["password"] != "39528$vdg7Jb" {
			t.Errorf("pod-secret-envFrom: username=%q password=%q", env["username"], env["password"])
		}
		deletePod(t, p, "envfrom-secret")
	})

	t.Run("projected", func(t *testing.T) {
		// The documentation makes the Secrets with kubectl create secret generic user
		// --from-file=./username.txt (and pass from ./password.txt): these are those Secrets.
		applyExample(t, p, `apiVersion: v1
kind: Secret
metadata: {name: user}
stringData: {username.txt: admin}
---
apiVersion: v1
kind: Secret
metadata: {name: pass}
stringData: {password.txt: 1f2d1e2e67df}
`)
		// pods/storage/projected.yaml
		applyExample(t, p, `apiVersion: v1
kind: Pod
metadata:
  name: test-projected-volume
spec:
  containers:
  - args:
    - sleep
    - "86400"
    image: busybox:1.28
    name: test-projected-volume
    volumeMounts:
    - mountPath: /projected-volume
      name: all-in-one
      readOnly: true
  volumes:
  - name: all-in-one
    projected:
      sources:
      - secret:
          name: user
      - secret:
          name: pass
`)
		waitPhase(t, p, "test-projected-volume", pod.PodRunning)
		for file, want := range map[string]string{"username.txt": "admin", "password.txt": "1f2d1e2e67df"} {
			if got := execOut(t, p, "test-projected-volume", "cat", "/projected-volume/"+file); got != want {
				t.Errorf("/projected-volume/%s = %q, want %q", file, got, want)
			}
		}
		deletePod(t, p, "test-projected-volume")

		applyExample(t, p, `apiVersion: v1
kind: Secret
metadata: {name: mysecret}
stringData: {username: admin}
---
apiVersion: v1
kind: Secret
metadata: {name: mysecret2}
stringData: {password: 1f2d1e2e67df}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myconfigmap}
data: {config: "log=debug"}
`)
		// pods/storage/projected-secret-downwardapi-configmap.yaml
		applyExample(t, p, `apiVersion: v1
kind: Pod
metadata:
  name: volume-test
spec:
  containers:
  - command:
    - sleep
    - "3600"
    image: busybox:1.28
    name: container-test
    volumeMounts:
    - mountPath: /projected-volume
      name: all-in-one
      readOnly: true
  volumes:
  - name: all-in-one
    projected:
      sources:
      - secret:
          items:
          - key: username
            path: my-group/my-username
          name: mysecret
      - downwardAPI:
          items:
          - fieldRef:
              fieldPath: metadata.labels
            path: labels
          - path: cpu_limit
            resourceFieldRef:
              containerName: container-test
              resource: limits.cpu
      - configMap:
          items:
          - key: config
            path: my-group/my-config
          name: myconfigmap
`)
		waitPhase(t, p, "volume-test", pod.PodRunning)
		for file, want := range map[string]string{"my-group/my-username": "admin", "my-group/my-config": "log=debug", "labels": ""} {
			if got := execOut(t, p, "volume-test", "cat", "/projected-volume/"+file); got != want {
				t.Errorf("/projected-volume/%s = %q, want %q", file, got, want)
			}
		}
		// No limit: the node's cores, as the kubelet reports it.
		if got := execOut(t, p, "volume-test", "cat", "/projected-volume/cpu_limit"); got == "" {
			t.Errorf("/projected-volume/cpu_limit is empty")
		}
		deletePod(t, p, "volume-test")

		// pods/storage/projected-secrets-nondefault-permission-mode.yaml
		applyExample(t, p, `apiVersion: v1
kind: Pod
metadata:
  name: volume-test
spec:
  containers:
  - command:
    - sleep
    - "3600"
    image: busybox:1.28
    name: container-test
    volumeMounts:
    - mountPath: /projected-volume
      name: all-in-one
      readOnly: true
  volumes:
  - name: all-in-one
    projected:
      sources:
      - secret:
          items:
          - key: username
            path: my-group/my-username
          name: mysecret
      - secret:
          items:
          - key: password
            mode: 511
            path: my-group/my-password
          name: mysecret2
`)
		waitPhase(t, p, "volume-test", pod.PodRunning)
		for file, want := range map[string]string{"my-group/my-username": "644", "my-group/my-password": "777"} {
			if got := strings.TrimSpace(execOut(t, p, "volume-test", "stat", "-L", "-c", "%a", "/projected-volume/"+file)); got != want {
				t.Errorf("mode of /projected-volume/%s = %s, want %s", file, got, want)
			}
		}
		deletePod(t, p, "volume-test")
	})

	t.Run("serviceAccountToken is refused by name", func(t *testing.T) {
		// pods/storage/projected-service-account-token.yaml's source: podd has no service accounts.
		res := p.Podctl(t, "apply", "-f", writeManifest(t, `apiVersion: v1
kind: Pod
metadata:
  name: sa-token-test
spec:
  containers:
  - name: container-test
    image: `+busyboxImage+`
    volumeMounts:
    - name: token-vol
      mountPath: "/service-account"
      readOnly: true
  volumes:
  - name: token-vol
    projected:
      sources:
      - serviceAccountToken:
          audience: api
          expirationSeconds: 3600
          path: token
`))
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "spec.volumes[0].projected.sources[0].serviceAccountToken") {
			t.Errorf("a serviceAccountToken source: want a refusal naming it:\n%s", res)
		}
	})
}

// workloadsExample reads one of specs/examples/workloads with the test's busybox image.
func workloadsExample(t *testing.T, file string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "specs", "examples", "workloads", file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "localhost/podd/busybox:1.35", busyboxImage)
}

// TestConfigSpecExamples runs specs/examples/workloads/configmap.yaml and secret.yaml and checks
// what their comments say.
func TestConfigSpecExamples(t *testing.T) {
	p := sharedPodd(t)
	t.Run("configmap.yaml", func(t *testing.T) {
		manifest := workloadsExample(t, "configmap.yaml")
		p.ApplyManifest(t, manifest)
		waitPhase(t, p, "config-demo", pod.PodRunning)
		if got := execOut(t, p, "config-demo", "sh", "-c", "echo $COLOR $APP_size"); got != "blue large\n" {
			t.Errorf("COLOR and APP_size: %q, want blue large", got)
		}
		if got := execOut(t, p, "config-demo", "cat", "/etc/app/color", "/etc/app/conf/app.properties"); got != "bluegreeting=hello\nretries=3\n" {
			t.Errorf("the files: %q", got)
		}
		if got := execOut(t, p, "config-demo", "stat", "-L", "-c", "%a", "/etc/app/color", "/etc/app/conf/app.properties"); got != "440\n400\n" {
			t.Errorf("the files' modes: %q, want 440 and 400", got)
		}
		res := p.PodctlInput(t, strings.NewReader(strings.ReplaceAll(manifest, "color: blue", "color: green")), "apply", "-f", "-")
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, "configmap/app-config configured") {
			t.Fatalf("apply of the edit: %s", res)
		}
		waitFile(t, p, "config-demo", "/etc/app/color", "green")
		if got := execOut(t, p, "config-demo", "sh", "-c", "echo $COLOR"); got != "blue\n" {
			t.Errorf("COLOR after the edit: %q, want blue", got)
		}
		if out := mustPodctl(t, p, "describe", "cm", "app-config").Stdout; !strings.Contains(out, "color:\n----\ngreen\n") {
			t.Errorf("describe cm app-config:\n%s", out)
		}
	})
	t.Run("secret.yaml", func(t *testing.T) {
		p.ApplyManifest(t, workloadsExample(t, "secret.yaml"))
		waitPhase(t, p, "secret-demo", pod.PodRunning)
		if out := mustPodctl(t, p, "get", "secret", "db-credentials").Stdout; !strings.Contains(out, "Opaque") || !strings.Contains(out, "  2  ") {
			t.Errorf("get secret: want TYPE Opaque and DATA 2:\n%s", out)
		}
		if out := mustPodctl(t, p, "describe", "secret", "db-credentials").Stdout; !strings.Contains(out, "password:  11 bytes") || strings.Contains(out, "s3cr3t-pass") {
			t.Errorf("describe secret: want the size, not the value:\n%s", out)
		}
		if got := execOut(t, p, "secret-demo", "cat", "/etc/db/username"); got != "app" {
			t.Errorf("/etc/db/username = %q", got)
		}
		if got := execOut(t, p, "secret-demo", "sh", "-c", "echo $DB_PASSWORD"); got != "s3cr3t-pass\n" {
			t.Errorf("DB_PASSWORD = %q", got)
		}
		if got := execOut(t, p, "secret-demo", "grep", "/etc/db", "/proc/mounts"); !strings.HasPrefix(got, "tmpfs /etc/db tmpfs ro,") {
			t.Errorf("/etc/db in /proc/mounts: %q, want a read-only tmpfs", got)
		}
		if got := execOut(t, p, "secret-demo", "stat", "-L", "-c", "%a", "/etc/db/password"); got != "400\n" {
			t.Errorf("mode of /etc/db/password: %q", got)
		}
		if out := mustPodctl(t, p, "get", "secret", "db-credentials", "-o", "yaml").Stdout; !strings.Contains(out, "czNjcjN0LXBhc3M=") {
			t.Errorf("get secret -o yaml: want the base64 data:\n%s", out)
		}
	})
}
