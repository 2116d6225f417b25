package manifest

import (
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// benchManifest is the pod `make bench` runs, and a fuller one with probes, hooks and env.
const benchManifest = `apiVersion: v1
kind: Pod
metadata:
  name: bench
  annotations:
    podd.io/network: none
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: a
    image: localhost/podbench/busybox:1.35
    command: ["sleep", "1000000"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: b
    image: localhost/podbench/busybox:1.35
    command: ["sleep", "1000000"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  volumes:
  - name: shared
    emptyDir: {}
`

const fullManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  restartPolicy: Always
  initContainers:
  - name: proxy
    image: localhost/podd/busybox:1.35
    restartPolicy: Always
    command: ["httpd", "-f", "-p", "8081"]
    startupProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}
  containers:
  - name: web
    image: localhost/podd/busybox:1.35
    command: ["sh", "-c"]
    args: ["echo $(GREETING) > /www/index.html; exec httpd -f -p 8080 -h /www"]
    workingDir: /www
    env:
    - {name: GREETING, value: hello}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    ports: [{containerPort: 8080}]
    volumeMounts: [{name: www, mountPath: /www}]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2}
    livenessProbe: {exec: {command: [cat, /www/index.html]}}
    lifecycle:
      preStop: {sleep: {seconds: 1}}
    securityContext: {runAsUser: 1000, runAsGroup: 1000}
  volumes:
  - name: www
    emptyDir: {medium: Memory, sizeLimit: 1Mi}
`

// BenchmarkDecode is manifest decoding (strict, with field paths), defaults and validation: the
// pure part of every podctl run. Compare runs with benchstat (make bench-go).
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, manifest string }{
		{"bench-pod", benchManifest},
		{"full-pod", fullManifest},
		{"50-pods", strings.Repeat(benchManifest+"---\n", 50)},
	} {
		data := []byte(bc.manifest)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				pods, err := Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range pods {
					pod.SetDefaults(p)
					if err := pod.Validate(p); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
