package controller

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func rollingStrategy(surge, unavailable string) string {
	return fmt.Sprintf("{type: RollingUpdate, rollingUpdate: {maxSurge: %s, maxUnavailable: %s}}", surge, unavailable)
}

// countPods counts a Deployment's pods by template image: ready ones, and all.
func (e *workloadEnv) countPods(name string) (ready, total map[string]int) {
	ready, total = map[string]int{}, map[string]int{}
	for _, p := range e.podsOf(name) {
		img := p.Spec.Containers[0].Image
		total[img]++
		if readySince(p) != nil {
			ready[img]++
		}
	}
	return ready, total
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestDeploymentRollingUpdate rolls a new template over 4 ready replicas with several
// maxSurge/maxUnavailable pairs, readying one new pod at a time, and checks at every step the
// bounds Kubernetes keeps: never more than replicas+maxSurge pods, never fewer than
// replicas-maxUnavailable ready ones; at the end, 4 new pods, the old ReplicaSet at 0.
func TestDeploymentRollingUpdate(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable string
		maxPods, minReady  int
	}{
		{"1", "0", 5, 4},
		{"0", "1", 4, 3},
		{"25%", "25%", 5, 3},
		{"2", "0", 6, 4},
		{"100%", "0", 8, 4},
	} {
		t.Run(tc.surge+"/"+tc.unavailable, func(t *testing.T) {
			e := newWorkloadEnv(t)
			strategy := rollingStrategy(tc.surge, tc.unavailable)
			e.apply(deploymentYAML("web", 4, "v1", strategy, ""))
			e.settle(nil)
			e.readyAll("web")
			e.settle(nil)
			d := e.deployment("web")
			if d.Status.AvailableReplicas != 4 || condition(d.Status.Conditions, DeploymentProgressing).Reason != ReasonNewReplicaSetAvailable {
				t.Fatalf("v1 not complete: %+v", d.Status)
			}
			e.apply(deploymentYAML("web", 4, "v2", strategy, ""))
			check := func() {
				ready, total := e.countPods("web")
				if n := sum(total); n > tc.maxPods {
					t.Fatalf("%d pods (%v), want at most %d", n, total, tc.maxPods)
				}
				if n := sum(ready); n < tc.minReady {
					t.Fatalf("%d ready pods (%v), want at least %d", n, ready, tc.minReady)
				}
			}
			for i := 0; i < 50; i++ {
				e.settle(check)
				_, total := e.countPods("web")
				if total["v1"] == 0 && total["v2"] == 4 {
					break
				}
				// Ready one new pod, as a readiness probe would.
				for _, p := range e.podsOf("web") {
					if p.Spec.Containers[0].Image == "v2" && readySince(p) == nil {
						e.makeReady(p)
						break
					}
				}
			}
			e.readyAll("web")
			e.settle(check)
			ready, total := e.countPods("web")
			if total["v1"] != 0 || total["v2"] != 4 || ready["v2"] != 4 {
				t.Fatalf("end: pods %v ready %v, want 4 v2 ready", total, ready)
			}
			sets := e.replicaSetsOf("web")
			if len(sets) != 2 || *sets[0].Spec.Replicas != 0 || *sets[1].Spec.Replicas != 4 {
				t.Fatalf("replica sets: %d", len(sets))
			}
			if revision(sets[0]) != 1 || revision(sets[1]) != 2 {
				t.Errorf("revisions %d, %d, want 1, 2", revision(sets[0]), revision(sets[1]))
			}
			d = e.deployment("web")
			if d.Status.UpdatedReplicas != 4 || d.Status.AvailableReplicas != 4 || d.Status.Replicas != 4 ||
				condition(d.Status.Conditions, DeploymentProgressing).Reason != ReasonNewReplicaSetAvailable ||
				condition(d.Status.Conditions, DeploymentAvailable).Status != "True" {
				t.Errorf("status %+v", d.Status)
			}
		})
	}
}

var hashShape = regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{1,10}$`)

// TestDeploymentNamesAndLabels: the ReplicaSet is <deployment>-<hash>, the hash is in the
// pod-template-hash label of the ReplicaSet, its selector, its template and its pods, and
// ownerReferences chain pods to the ReplicaSet and the ReplicaSet to the Deployment.
func TestDeploymentNamesAndLabels(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(deploymentYAML("web", 2, "v1", rollingStrategy("1", "0"), ""))
	e.settle(nil)
	d := e.deployment("web")
	sets := e.replicaSetsOf("web")
	if len(sets) != 1 {
		t.Fatalf("%d replica sets", len(sets))
	}
	rs := sets[0]
	hash := rs.Metadata.Labels[LabelPodTemplateHash]
	if !hashShape.MatchString(hash) || rs.Metadata.Name != "web-"+hash {
		t.Fatalf("replica set %s, hash %q", rs.Metadata.Name, hash)
	}
	if rs.Spec.Selector.MatchLabels[LabelPodTemplateHash] != hash || rs.Spec.Template.Metadata.Labels[LabelPodTemplateHash] != hash ||
		rs.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("selector %v template labels %v", rs.Spec.Selector, rs.Spec.Template.Metadata.Labels)
	}
	if refs := rs.Metadata.OwnerReferences; len(refs) != 1 || refs[0].UID != d.Metadata.UID || refs[0].Kind != "Deployment" {
		t.Errorf("replica set owners %+v", refs)
	}
	if rs.Metadata.Annotations[AnnotationRevision] != "1" || rs.Metadata.Annotations[AnnotationDesiredReplicas] != "2" ||
		rs.Metadata.Annotations[AnnotationMaxReplicas] != "3" {
		t.Errorf("annotations %v", rs.Metadata.Annotations)
	}
	pods := e.podsOf("web")
	name := regexp.MustCompile(`^web-` + hash + `-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	for _, p := range pods {
		if !name.MatchString(p.Metadata.Name) || p.Metadata.Labels[LabelPodTemplateHash] != hash || p.Metadata.OwnerReferences[0].UID != rs.Metadata.UID {
			t.Errorf("pod %s labels %v owners %+v", p.Metadata.Name, p.Metadata.Labels, p.Metadata.OwnerReferences)
		}
	}
	if TemplateHash(&d.Spec.Template, nil) != hash {
		t.Errorf("hash %s is not TemplateHash's %s", hash, TemplateHash(&d.Spec.Template, nil))
	}
	one := int32(1)
	if TemplateHash(&d.Spec.Template, &one) == hash {
		t.Error("the collision count does not change the hash")
	}
}

// TestDeploymentScale: 1 → 5 → 2 replicas, the one ReplicaSet following.
func TestDeploymentScale(t *testing.T) {
	e := newWorkloadEnv(t)
	for _, n := range []int{1, 5, 2} {
		e.apply(deploymentYAML("web", n, "v1", rollingStrategy("25%", "25%"), ""))
		e.settle(nil)
		e.readyAll("web")
		e.settle(nil)
		if got := len(e.podsOf("web")); got != n {
			t.Fatalf("%d pods, want %d", got, n)
		}
		d := e.deployment("web")
		if d.Status.ReadyReplicas != int32(n) || d.Status.AvailableReplicas != int32(n) || len(e.replicaSetsOf("web")) != 1 {
			t.Errorf("replicas %d: status %+v", n, d.Status)
		}
	}
}

// TestDeploymentRecreate: with Recreate, no new pod exists while an old one does (a slow
// removal makes the window visible), and the new ReplicaSet is made only then.
func TestDeploymentRecreate(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(deploymentYAML("web", 3, "v1", "{type: Recreate}", ""))
	e.settle(nil)
	e.readyAll("web")
	e.settle(nil)
	e.pods.removeFor = 30 * time.Millisecond
	e.apply(deploymentYAML("web", 3, "v2", "{type: Recreate}", ""))
	check := func() {
		_, total := e.countPods("web")
		if total["v1"] > 0 && total["v2"] > 0 {
			t.Fatalf("old and new pods at once: %v", total)
		}
	}
	// Steps without waiting for removals: the controllers see pods in removal.
	for i := 0; i < 20; i++ {
		if _, err := e.d.Sync(e.ctx); err != nil {
			t.Log(err)
		}
		if _, err := e.rs.Sync(e.ctx); err != nil {
			t.Log(err)
		}
		check()
		time.Sleep(5 * time.Millisecond)
	}
	e.settle(check)
	_, total := e.countPods("web")
	if total["v2"] != 3 || total["v1"] != 0 {
		t.Fatalf("end: %v", total)
	}
}

// TestDeploymentHistoryLimit: old ReplicaSets beyond revisionHistoryLimit are deleted, oldest
// revision first; the kept ones have revisions in order.
func TestDeploymentHistoryLimit(t *testing.T) {
	e := newWorkloadEnv(t)
	for _, img := range []string{"v1", "v2", "v3", "v4"} {
		e.apply(deploymentYAML("web", 1, img, rollingStrategy("1", "0"), "  revisionHistoryLimit: 2\n"))
		for i := 0; i < 5; i++ {
			e.settle(nil)
			e.readyAll("web")
		}
		e.settle(nil)
	}
	sets := e.replicaSetsOf("web")
	var got []string
	for _, rs := range sets {
		got = append(got, fmt.Sprintf("%s:%d:%d", rs.Spec.Template.Spec.Containers[0].Image, revision(rs), *rs.Spec.Replicas))
	}
	if want := "v2:2:0 v3:3:0 v4:4:1"; strings.Join(got, " ") != want {
		t.Errorf("replica sets %s, want %s", strings.Join(got, " "), want)
	}
}

// TestDeploymentRollbackRevision: going back to an earlier template reuses its ReplicaSet with
// the next revision, making no new one.
func TestDeploymentRollbackRevision(t *testing.T) {
	e := newWorkloadEnv(t)
	for _, img := range []string{"v1", "v2", "v1"} {
		e.apply(deploymentYAML("web", 1, img, rollingStrategy("1", "0"), ""))
		for i := 0; i < 5; i++ {
			e.settle(nil)
			e.readyAll("web")
		}
	}
	sets := e.replicaSetsOf("web")
	if len(sets) != 2 {
		t.Fatalf("%d replica sets, want 2", len(sets))
	}
	if img := sets[1].Spec.Template.Spec.Containers[0].Image; img != "v1" || revision(sets[1]) != 3 || *sets[1].Spec.Replicas != 1 {
		t.Errorf("newest: %s revision %d replicas %d, want v1 revision 3 replicas 1", img, revision(sets[1]), *sets[1].Spec.Replicas)
	}
}

// TestDeploymentProgressDeadline: a rollout whose pods never become ready is reported
// ProgressDeadlineExceeded once progressDeadlineSeconds pass without progress, and the
// controller asks to look again at the deadline.
func TestDeploymentProgressDeadline(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(deploymentYAML("web", 2, "v1", rollingStrategy("1", "0"), "  progressDeadlineSeconds: 30\n"))
	e.settle(nil)
	after, err := e.d.Sync(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := condition(e.deployment("web").Status.Conditions, DeploymentProgressing)
	if c == nil || c.Status != "True" {
		t.Fatalf("progressing %+v, want True", c)
	}
	if after <= 0 || after > 31*time.Second {
		t.Errorf("requeue after %v, want about the deadline (30s)", after)
	}
	e.clock.Add(31 * time.Second)
	e.settle(nil)
	d := e.deployment("web")
	c = condition(d.Status.Conditions, DeploymentProgressing)
	if c == nil || c.Status != "False" || c.Reason != ReasonProgressDeadlineExceeded {
		t.Fatalf("progressing %+v, want False ProgressDeadlineExceeded", c)
	}
	if a := condition(d.Status.Conditions, DeploymentAvailable); a == nil || a.Status != "False" {
		t.Errorf("available %+v, want False", a)
	}
	// Progress afterwards makes it progress again.
	e.readyAll("web")
	e.settle(nil)
	if c := condition(e.deployment("web").Status.Conditions, DeploymentProgressing); c.Status != "True" {
		t.Errorf("after the pods became ready: %+v", c)
	}
}

// TestDeploymentPaused: a paused Deployment scales but does not roll a new template; resumed,
// it does.
func TestDeploymentPaused(t *testing.T) {
	e := newWorkloadEnv(t)
	e.apply(deploymentYAML("web", 2, "v1", rollingStrategy("1", "0"), ""))
	e.settle(nil)
	e.readyAll("web")
	e.settle(nil)
	e.apply(deploymentYAML("web", 3, "v2", rollingStrategy("1", "0"), "  paused: true\n"))
	e.settle(nil)
	_, total := e.countPods("web")
	if total["v1"] != 3 || total["v2"] != 0 || len(e.replicaSetsOf("web")) != 1 {
		t.Fatalf("paused: pods %v, want 3 v1 and no new replica set", total)
	}
	if c := condition(e.deployment("web").Status.Conditions, DeploymentProgressing); c.Reason != ReasonDeploymentPaused {
		t.Errorf("paused: %+v", c)
	}
	e.apply(deploymentYAML("web", 3, "v2", rollingStrategy("1", "0"), ""))
	for i := 0; i < 10; i++ {
		e.settle(nil)
		e.readyAll("web")
	}
	if _, total := e.countPods("web"); total["v2"] != 3 || total["v1"] != 0 {
		t.Errorf("resumed: pods %v", total)
	}
}
