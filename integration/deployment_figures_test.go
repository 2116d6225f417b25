package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDeploymentFigures measures, on its own podd, how long a rolling update of 5 replicas takes
// (maxSurge 1, maxUnavailable 0, pods ready once started) and podd's RSS with 20 Deployments of 5
// replicas running. Figures depend on the machine: they are logged with their BENCH_OUT keys,
// never asserted, and the test runs only with PODD_DEPLOY_FIGURES=1:
//
//	PODD_DEPLOY_FIGURES=1 go test -count=1 -v -run TestDeploymentFigures ./integration/
func TestDeploymentFigures(t *testing.T) {
	if os.Getenv("PODD_DEPLOY_FIGURES") != "1" {
		t.Skip("figures only with PODD_DEPLOY_FIGURES=1 (they load the machine)")
	}
	p := startPodd(t)
	strategy := "{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}"
	p.ApplyManifest(t, deploymentManifest("fig-roll", 5, "v1", strategy))
	waitDeploymentSettled(t, p, "fig-roll", 5, "v1")
	start := time.Now()
	mustPodctl(t, p, "apply", "-f", writeManifest(t, deploymentManifest("fig-roll", 5, "v2", strategy)))
	mustPodctl(t, p, "rollout", "status", "deploy/fig-roll", "--timeout", "300s")
	took := time.Since(start)
	waitDeploymentSettled(t, p, "fig-roll", 5, "v2")
	t.Logf("deploy_rollout_5_ms=%d", took.Milliseconds())
	mustPodctl(t, p, "delete", "deploy", "fig-roll")

	var docs []string
	for i := range 20 {
		// Without the readiness probe: 100 exec probes a second would measure the probes.
		m := deploymentManifest(fmt.Sprintf("fig-%02d", i), 5, "v1", strategy)
		m = m[:strings.Index(m, "        readinessProbe:")]
		docs = append(docs, m)
	}
	start = time.Now()
	p.ApplyManifest(t, strings.Join(docs, "---\n"))
	for i := range 20 {
		waitDeploymentSettled(t, p, fmt.Sprintf("fig-%02d", i), 5, "v1")
	}
	up := time.Since(start)
	time.Sleep(5 * time.Second) // the controllers' status writes settle
	rss := rssKiB(t, poddPID(t, p))
	t.Logf("deploy_20x5_up_ms=%d", up.Milliseconds())
	t.Logf("rss_20x5_deploy_mib=%.1f", float64(rss)/1024)
}
