package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkPodStart measures `podctl run` of a two-container pod (until both containers have
// started) on podd's bridge and without network (podd.io/network: none), alternating the two so
// that a busy machine weighs on both alike, and reports each one's median over b.N runs; the pod
// is removed between runs, outside the timing.
//
//	go test -run '^$' -bench BenchmarkPodStart -benchtime 10x ./integration/
func BenchmarkPodStart(b *testing.B) {
	p := sharedPodd(b)
	times := map[string][]time.Duration{}
	for i := range b.N {
		for _, mode := range []string{"bridge", "none"} {
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
			b.StartTimer()
			start := time.Now()
			res := p.Podctl(b, "run", path)
			times[mode] = append(times[mode], time.Since(start))
			b.StopTimer()
			if res.ExitCode != 0 {
				b.Fatalf("podctl run: %s", res)
			}
			mustPodctl(b, p, "rm", "--force", name)
		}
	}
	for mode, ts := range times {
		slices.Sort(ts)
		b.ReportMetric(float64(ts[len(ts)/2].Microseconds())/1000, mode+"-median-ms")
	}
	b.ReportMetric(0, "ns/op")
}
