package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkPodStart measures `podctl run` of a two-container pod (until both containers have
// started) on podd's bridge and without network (podd.io/network: none), and reports the median
// of the b.N runs; the pod is removed between runs, outside the timing.
//
//	go test -run '^$' -bench BenchmarkPodStart -benchtime 10x ./integration/
func BenchmarkPodStart(b *testing.B) {
	p := sharedPodd(b)
	for _, mode := range []string{"bridge", "none"} {
		b.Run(mode, func(b *testing.B) {
			var times []time.Duration
			for i := range b.N {
				name := uniqueName(b, mode, fmt.Sprint(i))
				path := writeManifest(b, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  annotations: {podd.io/network: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: %s, command: ["sleep", "3600"]}
  - {name: b, image: %s, command: ["sleep", "3600"]}
`, name, mode, busyboxImage, busyboxImage))
				start := time.Now()
				res := p.Podctl(b, "run", path)
				times = append(times, time.Since(start))
				if res.ExitCode != 0 {
					b.Fatalf("podctl run: %s", res)
				}
				b.StopTimer()
				mustPodctl(b, p, "rm", "--force", name)
				b.StartTimer()
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
