package integration

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/ociimage"
	"github.com/podd-dev/podd/pkg/pod"
)

// The Kubernetes documentation's Deployment example (kubernetes/website,
// content/en/examples/controllers/nginx-deployment.yaml), byte for byte but for its image.
const nginxDeploymentExample = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app.kubernetes.io/name: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: nginx
  template:
    metadata:
      labels:
        app.kubernetes.io/name: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
`

// printenvImage is the test busybox with /bin/printenv (printenvScript).
const printenvImage = "localhost/podd-test/busybox-printenv:1"

// printenvScript prints the value of each variable named, one a line, as printenv NAME... does;
// it exits 1 when one is unset.
const printenvScript = `#!/bin/sh
rc=0
for n in "$@"; do
	eval "set=\${$n+x}"
	if [ "$set" = x ]; then eval "printf '%s\n' \"\$$n\""; else rc=1; fi
done
exit $rc
`

// serverImage2 stands in for nginx:1.16.1, the image the documentation updates the Deployment to:
// serverImage's content under another name.
const serverImage2 = "localhost/podd-test/busybox-server:2"

// TestKubernetesDeploymentExample walks through the documentation's Deployments page
// (concepts/workloads/controllers/deployment) with its nginx-deployment.yaml: create, rollout
// status, get deployments and rs, the pods' pod-template-hash, update the image (the page's
// `kubectl set image`, here the same change made by applying the edited manifest), rollout
// history, undo, scale to 10, and delete. nginx:1.14.2 is the test server image and nginx:1.16.1
// the same content under another name.
func TestKubernetesDeploymentExample(t *testing.T) {
	p := startPodd(t)
	spec, err := ociimage.Busybox(serverImage2, ociimage.WithCmd("sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"))
	if err != nil {
		t.Fatal(err)
	}
	mustPodctl(t, p, "image", "import", buildImage(t, spec))
	const name, selector = "nginx-deployment", "app.kubernetes.io/name=nginx"
	v1 := strings.Replace(nginxDeploymentExample, "nginx:1.14.2", serverImage, 1)
	v2 := strings.Replace(nginxDeploymentExample, "nginx:1.14.2", serverImage2, 1)

	mustPodctl(t, p, "apply", "-f", writeManifest(t, v1))
	if res := mustPodctl(t, p, "rollout", "status", "deployment/"+name, "--timeout", "180s"); !strings.Contains(res.Stdout, `deployment "nginx-deployment" successfully rolled out`) {
		t.Errorf("rollout status:\n%s", res)
	}
	if res := mustPodctl(t, p, "get", "deployments"); !regexp.MustCompile(`(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`).MatchString(res.Stdout) ||
		!regexp.MustCompile(`(?m)^nginx-deployment\s+3/3\s+3\s+3\s+\S+$`).MatchString(res.Stdout) {
		t.Errorf("get deployments: want kubectl's columns and 3/3 3 3:\n%s", res.Stdout)
	}
	sets := getReplicaSets(t, p, name)
	if len(sets) != 1 {
		t.Fatalf("%d replica sets, want 1", len(sets))
	}
	hash := sets[0].Metadata.Labels["pod-template-hash"]
	if res := mustPodctl(t, p, "get", "rs"); !regexp.MustCompile(`(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE$`).MatchString(res.Stdout) ||
		!regexp.MustCompile(`(?m)^nginx-deployment-`+hash+`\s+3\s+3\s+3\s+\S+$`).MatchString(res.Stdout) {
		t.Errorf("get rs: want nginx-deployment-%s with 3 3 3:\n%s", hash, res.Stdout)
	}
	pods := waitRunningPods(t, p, selector, 3)
	for _, n := range pods {
		q := getPod(t, p, n)
		if q.Metadata.Labels["pod-template-hash"] != hash || !strings.HasPrefix(n, name+"-"+hash+"-") {
			t.Errorf("pod %s: labels %v, want pod-template-hash %s", n, q.Metadata.Labels, hash)
		}
	}

	// kubectl set image deployment.v1.apps/nginx-deployment nginx=nginx:1.16.1
	mustPodctl(t, p, "apply", "-f", writeManifest(t, v2))
	mustPodctl(t, p, "rollout", "status", "deployment/"+name, "--timeout", "180s")
	waitDeploymentImage(t, p, name, selector, 3, serverImage2)
	sets = getReplicaSets(t, p, name)
	if len(sets) != 2 {
		t.Fatalf("%d replica sets after the update, want 2", len(sets))
	}
	for _, rs := range sets {
		want := int32(3)
		if rs.Metadata.Labels["pod-template-hash"] == hash {
			want = 0
		}
		if *rs.Spec.Replicas != want || rs.Status.Replicas != want {
			t.Errorf("replica set %s: %d desired, %d current, want %d", rs.Metadata.Name, *rs.Spec.Replicas, rs.Status.Replicas, want)
		}
	}
	if res := mustPodctl(t, p, "describe", "deployments"); !strings.Contains(res.Stdout, "nginx-deployment") || !strings.Contains(res.Stdout, serverImage2) || !strings.Contains(res.Stdout, "ScalingReplicaSet") {
		t.Errorf("describe deployments:\n%s", res.Stdout)
	}

	res := mustPodctl(t, p, "rollout", "history", "deployment/"+name)
	if !regexp.MustCompile(`(?m)^1\s+<none>$`).MatchString(res.Stdout) || !regexp.MustCompile(`(?m)^2\s+<none>$`).MatchString(res.Stdout) {
		t.Errorf("rollout history: want revisions 1 and 2:\n%s", res.Stdout)
	}
	if res := mustPodctl(t, p, "rollout", "undo", "deployment/"+name); !strings.Contains(res.Stdout, "deployment.apps/nginx-deployment rolled back") {
		t.Errorf("rollout undo:\n%s", res)
	}
	mustPodctl(t, p, "rollout", "status", "deployment/"+name, "--timeout", "180s")
	waitDeploymentImage(t, p, name, selector, 3, serverImage)

	if res := mustPodctl(t, p, "scale", "deployment/"+name, "--replicas=10"); !strings.Contains(res.Stdout, "deployment.apps/nginx-deployment scaled") {
		t.Errorf("scale:\n%s", res)
	}
	waitDeploymentImage(t, p, name, selector, 10, serverImage)
	if res := mustPodctl(t, p, "get", "deploy", name); !regexp.MustCompile(`(?m)^nginx-deployment\s+10/10\s+10\s+10\s+\S+$`).MatchString(res.Stdout) {
		waitFor(t, "get deploy to show 10/10", func() bool {
			return regexp.MustCompile(`(?m)^nginx-deployment\s+10/10\s+10\s+10\s+\S+$`).MatchString(mustPodctl(t, p, "get", "deploy", name).Stdout)
		})
	}
	mustPodctl(t, p, "delete", "deployment", name)
	waitFor(t, "the deployment's pods and replica sets to go", func() bool {
		return len(listPodsWithLabel(t, p, "app.kubernetes.io/name", "nginx")) == 0 && len(getReplicaSets(t, p, name)) == 0
	})
}

// waitDeploymentImage waits until the Deployment has exactly n running pods, none terminating, all
// of image, and its status counts them all updated and available.
func waitDeploymentImage(t *testing.T, p *Podd, name, selector string, n int, image string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d pods of %s with %s", n, name, image), func() bool {
		d := getDeployment(t, p, name)
		if d.Status.ObservedGeneration < d.Metadata.Generation || int(d.Status.UpdatedReplicas) != n || int(d.Status.AvailableReplicas) != n || int(d.Status.Replicas) != n {
			return false
		}
		all := listPodsWithLabel(t, p, "app.kubernetes.io/name", "nginx")
		if len(all) != n {
			return false
		}
		for _, q := range all {
			if q.Status.Phase != pod.PodRunning || q.Status.Reason == "Terminating" || q.Spec.Containers[0].Image != image {
				return false
			}
		}
		return true
	})
}

// TestKubernetesDownwardAPIExamples runs the documentation's downward API examples
// (content/en/examples/pods/inject/dapi-volume.yaml, dapi-volume-resources.yaml,
// dapi-envars-pod.yaml and dapi-envars-container.yaml) as it writes them, but for the image,
// and checks what its pages (tasks/inject-data-application/downward-api-volume-expose-pod-information
// and environment-variable-expose-pod-information) say they show.
func TestKubernetesDownwardAPIExamples(t *testing.T) {
	p := startPodd(t)
	// The env examples print with printenv, which registry.k8s.io/busybox has and Debian's static
	// busybox lacks: their image is the test busybox with a printenv of a few lines of sh.
	spec, err := ociimage.Busybox(printenvImage, ociimage.WithContent("/bin/printenv", []byte(printenvScript), 0o755))
	if err != nil {
		t.Fatal(err)
	}
	mustPodctl(t, p, "image", "import", buildImage(t, spec))
	withPrintenv := func(manifest string) string {
		return strings.ReplaceAll(manifest, "registry.k8s.io/busybox:1.27.2", printenvImage)
	}

	t.Run("dapi-volume", func(t *testing.T) {
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "kubernetes-downwardapi-volume-example",
    labels: {
      zone: "us-est-coast",
      cluster: "test-cluster1",
      rack: "rack-22",
    },
    annotations: {
      build: "two",
      builder: "john-doe",
    },
  },
  spec: {
    containers: [{
      name: "client-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "sh",
        "-c",
      ],
      args: [
        "while true; do if [[ -e /etc/podinfo/labels ]]; then echo -en '\\n\\n'; cat /etc/podinfo/labels; fi; if [[ -e /etc/podinfo/annotations ]]; then echo -en '\\n\\n'; cat /etc/podinfo/annotations; fi; sleep 5; done;",
      ],
      volumeMounts: [{
        name: "podinfo",
        mountPath: "/etc/podinfo",
      }],
    }],
    volumes: [{
      name: "podinfo",
      downwardAPI: {
        items: [{
          path: "labels",
          fieldRef: {
            fieldPath: "metadata.labels",
          },
        }, {
          path: "annotations",
          fieldRef: {
            fieldPath: "metadata.annotations",
          },
        }],
      },
    }],
  },
}
`)
		const name = "kubernetes-downwardapi-volume-example"
		waitPhase(t, p, name, pod.PodRunning)
		// The page: the log shows the labels and annotations, one per line, key="value".
		want := []string{`cluster="test-cluster1"` + "\n" + `rack="rack-22"` + "\n" + `zone="us-est-coast"`, `build="two"` + "\n" + `builder="john-doe"`}
		waitLog(t, p, name, "client-container", want...)
		// The page's ls -laR /etc/podinfo: labels and annotations are links into ..data.
		for _, f := range []string{"labels", "annotations"} {
			if got := execOut(t, p, name, "readlink", "/etc/podinfo/"+f); got != "..data/"+f+"\n" {
				t.Errorf("/etc/podinfo/%s links to %q, want ..data/%s", f, got, f)
			}
		}
		deletePod(t, p, name)
	})

	t.Run("dapi-volume-resources", func(t *testing.T) {
		applyExample(t, p, `---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "kubernetes-downwardapi-volume-example-2",
  },
  spec: {
    containers: [{
      name: "client-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "sh",
        "-c",
      ],
      args: [
        "while true; do echo -en '\\n'; if [[ -e /etc/podinfo/cpu_limit ]]; then echo -en '\\n'; cat /etc/podinfo/cpu_limit; fi; if [[ -e /etc/podinfo/cpu_request ]]; then echo -en '\\n'; cat /etc/podinfo/cpu_request; fi; if [[ -e /etc/podinfo/mem_limit ]]; then echo -en '\\n'; cat /etc/podinfo/mem_limit; fi; if [[ -e /etc/podinfo/mem_request ]]; then echo -en '\\n'; cat /etc/podinfo/mem_request; fi; sleep 5; done;",
      ],
      resources: {
        requests: {
          memory: "32Mi",
          cpu: "125m",
        },
        limits: {
          memory: "64Mi",
          cpu: "250m",
        },
      },
      volumeMounts: [{
        name: "podinfo",
        mountPath: "/etc/podinfo",
      }],
    }],
    volumes: [{
      name: "podinfo",
      downwardAPI: {
        items: [{
          path: "cpu_limit",
          resourceFieldRef: {
            containerName: "client-container",
            resource: "limits.cpu",
            divisor: "1m",
          },
        }, {
          path: "cpu_request",
          resourceFieldRef: {
            containerName: "client-container",
            resource: "requests.cpu",
            divisor: "1m",
          },
        }, {
          path: "mem_limit",
          resourceFieldRef: {
            containerName: "client-container",
            resource: "limits.memory",
            divisor: "1Mi",
          },
        }, {
          path: "mem_request",
          resourceFieldRef: {
            containerName: "client-container",
            resource: "requests.memory",
            divisor: "1Mi",
          },
        }],
      },
    }],
  },
}
`)
		const name = "kubernetes-downwardapi-volume-example-2"
		waitPhase(t, p, name, pod.PodRunning)
		// The page: kubectl exec ... -- cat /etc/podinfo/cpu_limit shows 250 (1m units). The files
		// have no newline: the log's loop prints "\n\n250\n125\n64\n32" each round.
		for file, want := range map[string]string{"cpu_limit": "250", "cpu_request": "125", "mem_limit": "64", "mem_request": "32"} {
			if got := execOut(t, p, name, "cat", "/etc/podinfo/"+file); got != want {
				t.Errorf("/etc/podinfo/%s = %q, want %s", file, got, want)
			}
		}
		waitLog(t, p, name, "client-container", "\n250\n125\n64\n32\n")
		deletePod(t, p, name)
	})

	t.Run("dapi-envars-pod", func(t *testing.T) {
		applyExample(t, p, withPrintenv(`---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "dapi-envars-fieldref",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "sh",
        "-c",
      ],
      args: [
        "while true; do echo -en '\\n'; printenv MY_NODE_NAME MY_POD_NAME MY_POD_NAMESPACE; printenv MY_POD_IP MY_POD_SERVICE_ACCOUNT; sleep 10; done;",
      ],
      env: [{
        name: "MY_NODE_NAME",
        valueFrom: {
          fieldRef: {
            fieldPath: "spec.nodeName",
          },
        },
      }, {
        name: "MY_POD_NAME",
        valueFrom: {
          fieldRef: {
            fieldPath: "metadata.name",
          },
        },
      }, {
        name: "MY_POD_NAMESPACE",
        valueFrom: {
          fieldRef: {
            fieldPath: "metadata.namespace",
          },
        },
      }, {
        name: "MY_POD_IP",
        valueFrom: {
          fieldRef: {
            fieldPath: "status.podIP",
          },
        },
      }, {
        name: "MY_POD_SERVICE_ACCOUNT",
        valueFrom: {
          fieldRef: {
            fieldPath: "spec.serviceAccountName",
          },
        },
      }],
    }],
    restartPolicy: "Never",
  },
}
`))
		const name = "dapi-envars-fieldref"
		got := waitPod(t, p, name, "running with an address", func(q *pod.Pod) bool {
			return q.Status.Phase == pod.PodRunning && q.Status.PodIP != ""
		})
		if got.Spec.NodeName == "" {
			t.Fatalf("pod %s has no spec.nodeName", name)
		}
		// The page: the log shows the node's name, the pod's name and namespace, its IP and its
		// service account, one per line.
		want := strings.Join([]string{got.Spec.NodeName, name, "default", got.Status.PodIP, "default"}, "\n") + "\n"
		waitLog(t, p, name, "test-container", want)
		deletePod(t, p, name)
	})

	t.Run("dapi-envars-container", func(t *testing.T) {
		applyExample(t, p, withPrintenv(`---
{
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "dapi-envars-resourcefieldref",
  },
  spec: {
    containers: [{
      name: "test-container",
      image: "registry.k8s.io/busybox:1.27.2",
      command: [
        "sh",
        "-c",
      ],
      args: [
        "while true; do echo -en '\\n'; printenv MY_CPU_REQUEST MY_CPU_LIMIT; printenv MY_MEM_REQUEST MY_MEM_LIMIT; sleep 10; done;",
      ],
      resources: {
        requests: {
          memory: "32Mi",
          cpu: "125m",
        },
        limits: {
          memory: "64Mi",
          cpu: "250m",
        },
      },
      env: [{
        name: "MY_CPU_REQUEST",
        valueFrom: {
          resourceFieldRef: {
            containerName: "test-container",
            resource: "requests.cpu",
          },
        },
      }, {
        name: "MY_CPU_LIMIT",
        valueFrom: {
          resourceFieldRef: {
            containerName: "test-container",
            resource: "limits.cpu",
          },
        },
      }, {
        name: "MY_MEM_REQUEST",
        valueFrom: {
          resourceFieldRef: {
            containerName: "test-container",
            resource: "requests.memory",
          },
        },
      }, {
        name: "MY_MEM_LIMIT",
        valueFrom: {
          resourceFieldRef: {
            containerName: "test-container",
            resource: "limits.memory",
          },
        },
      }],
    }],
    restartPolicy: "Never",
  },
}
`))
		const name = "dapi-envars-resourcefieldref"
		waitPhase(t, p, name, pod.PodRunning)
		// The page: 1, 1, 33554432, 67108864 (cpu rounded up to whole cores, memory in bytes).
		waitLog(t, p, name, "test-container", "\n1\n1\n33554432\n67108864\n")
		deletePod(t, p, name)
	})
}

// waitLog waits until the container's log holds every one of want, and fails with the log
// otherwise.
func waitLog(t *testing.T, p *Podd, name, container string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(logsWait)
	for {
		out := podLogs(t, p, name, container)
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(out, w) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log of %s/%s lacks %q after %v:\n%q", name, container, missing, logsWait, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
