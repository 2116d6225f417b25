package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/runtime"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// spoolOf is the host folder of a PersistentVolumeClaim: the queue's spool.
func spoolOf(t *testing.T, p *Podd, claim string) *spool.Spool {
	t.Helper()
	var pvc struct {
		Metadata struct{ UID string } `json:"metadata"`
	}
	res := mustPodctl(t, p, "get", "pvc", claim, "-o", "json")
	if err := json.Unmarshal([]byte(res.Stdout), &pvc); err != nil || pvc.Metadata.UID == "" {
		t.Fatalf("pvc %s: %v\n%s", claim, err, res)
	}
	s, err := spool.Open(filepath.Join(p.Root, "volumes", "pvc-"+pvc.Metadata.UID))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWorkQueueExample runs specs/patterns/work-queue.yaml as written (but for the test's busybox):
// the Job completes once the queue is empty, five outputs are committed and the poison item is a
// dead letter with its reason.
func TestWorkQueueExample(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	p.ApplyManifest(t, specManifest(t, "patterns", "work-queue.yaml"))
	// The live view while the queue runs: podctl's output is no terminal, so a line per update;
	// it waits for the queue and its items, and returns once none is pending.
	res := mustPodctl(t, p, "--root", p.Root, "get", "queues", "-w")
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^wq-demo\s+\[#{30}\] 100% 6/6  leased 0  failed 0  dead 1  \d+/min  ETA 0s$`).MatchString(last) {
		t.Errorf("get queues -w: last line %q of\n%s", last, res.Stdout)
	}
	waitJob(t, p, "wq-demo", "the work queue's Job to complete", 3*time.Minute, jobComplete)
	s := spoolOf(t, p, "wq-spool")
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c != (spool.Counts{Done: 5, Dead: 1}) {
		t.Fatalf("counts %+v, want 5 done and 1 dead", c)
	}
	for id, want := range map[string]string{"item-1": "ALPHA\n", "item-5": "ECHO\n"} {
		if b, err := os.ReadFile(filepath.Join(s.Output(id), "result")); err != nil || string(b) != want {
			t.Errorf("output of %s: %q %v, want %q", id, b, err, want)
		}
	}
	dead, _ := s.Items(spool.StateDead)
	if len(dead) != 1 || dead[0].ID != "item-6" || dead[0].Reason != "poison" || !strings.Contains(dead[0].LogTail, "cannot process item-6") {
		t.Fatalf("dead letters %+v", dead)
	}
	res = mustPodctl(t, p, "--root", p.Root, "describe", "queue", "wq-demo")
	for _, re := range []string{`Done:\s+5\n`, `Dead:\s+1\n`, `Pending:\s+0\n`, `Leased:\s+0\n`} {
		if !regexp.MustCompile(re).MatchString(res.Stdout) {
			t.Errorf("describe queue: no %s in\n%s", re, res.Stdout)
		}
	}
	res = mustPodctl(t, p, "--root", p.Root, "get", "queues")
	if !regexp.MustCompile(`wq-demo\s+Job\s+Running\s+0\s+0\s+5\s+0\s+1\s`).MatchString(res.Stdout) {
		t.Errorf("get queues:\n%s", res.Stdout)
	}
	if res := mustPodctl(t, p, "--root", p.Root, "queue", "dead", "wq-demo"); !strings.Contains(res.Stdout, "item-6: poison after 1 attempt(s), exit code 65") || !strings.Contains(res.Stdout, "| cannot process item-6") {
		t.Errorf("queue dead:\n%s", res.Stdout)
	}
	if res := mustPodctl(t, p, "--root", p.Root, "queue", "watch", "wq-demo"); !strings.Contains(res.Stdout, "100% 6/6") {
		t.Errorf("queue watch:\n%s", res.Stdout)
	}
	mustPodctl(t, p, "--root", p.Root, "queue", "pause", "wq-demo")
	if res := mustPodctl(t, p, "--root", p.Root, "get", "queues"); !strings.Contains(res.Stdout, "Paused") {
		t.Errorf("get queues after pause:\n%s", res.Stdout)
	}
	if ctl, _ := s.Control(); !ctl.Paused {
		t.Errorf("control after pause: %+v", ctl)
	}
	mustPodctl(t, p, "--root", p.Root, "queue", "resume", "wq-demo")
	// Retry of the dead letter: it is pending again (the workers have ended, so it stays so).
	mustPodctl(t, p, "--root", p.Root, "queue", "retry", "wq-demo", "--all-dead")
	if c, _ := s.Counts(); c != (spool.Counts{New: 1, Done: 5}) {
		t.Errorf("after queue retry --all-dead: %+v", c)
	}
	if res := p.Podctl(t, "--root", p.Root, "queue", "retry", "wq-demo", "item-1"); res.ExitCode == 0 || !strings.Contains(res.Stderr, "item item-1 is done, not dead") {
		t.Errorf("queue retry of a done item:\n%s", res)
	}
}

// wqChaosManifest is a queue of n items (every 20th poison) worked by a Job of 4 workers whose
// program takes work (a sleep argument) per item.
func wqChaosManifest(n int, work string) string {
	var items strings.Builder
	for i := range n {
		v := fmt.Sprintf("v%d", i)
		if i%20 == 7 {
			v = fmt.Sprintf("poison%d", i)
		}
		fmt.Fprintf(&items, "  item-%03d: %q\n", i, v)
	}
	return `apiVersion: v1
kind: ConfigMap
metadata: {name: wq-chaos-items}
data:
` + items.String() + `---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: wq-chaos-spool}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 100Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: wq-chaos}
spec:
  parallelism: 4
  backoffLimit: 20
  template:
    metadata:
      labels: {app: wq-chaos}
      annotations:
        podd.io/inject: workqueue
        workqueue.podd.io/spool: /spool
        workqueue.podd.io/source-dir: /items
        workqueue.podd.io/max-attempts: "10"
        workqueue.podd.io/backoff: 200ms
        workqueue.podd.io/max-backoff: 2s
        workqueue.podd.io/poll: 200ms
        workqueue.podd.io/volumes: "spool:/spool,work:/podd-wq,items:/items:ro"
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      containers:
      - name: worker
        image: ` + busyboxImage + `
        command:
        - /podd-wq/podd-patterns
        - wq-run
        - --
        - sh
        - -c
        - |
          in=$(cat "$WORK_ITEM")
          case "$in" in poison*) echo "cannot process $in" >&2; exit 65;; esac
          sleep ` + work + `
          echo "done:$in" > "$WORK_OUTPUT/result"
        volumeMounts:
        - {name: work, mountPath: /podd-wq}
      volumes:
      - {name: work, emptyDir: {}}
      - name: spool
        persistentVolumeClaim: {claimName: wq-chaos-spool}
      - name: items
        configMap: {name: wq-chaos-items}
`
}

// withRunMode sets the work queue's --run in a manifest of wqChaosManifest's.
func withRunMode(manifest, mode string) string {
	return strings.Replace(manifest, "        workqueue.podd.io/poll: 200ms\n",
		"        workqueue.podd.io/poll: 200ms\n        workqueue.podd.io/run: "+mode+"\n", 1)
}

// runProcs are the host PIDs of the processes of the pod's fresh containers (the work queue's
// copies of its worker, which podd runs per item), with their command lines.
func runProcs(t *testing.T, p *Podd, q *pod.Pod) map[int]string {
	t.Helper()
	out := map[int]string{}
	for _, c := range p.Containers(t) {
		if c.Labels[runtime.LabelPodUID] != q.Metadata.UID || !strings.Contains(c.Labels[runtime.LabelContainer], supervisor.RunSeparator) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cgroupBase(t, "pids"), cgroups.ContainerPath(p.CgroupRoot, q.Metadata.UID, c.ID), "cgroup.procs"))
		if err != nil {
			continue // it just ended
		}
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			out[pid] = strings.ReplaceAll(string(cmd), "\x00", " ")
		}
	}
	return out
}

// containerProcs are the host PIDs of a container's processes, with their command lines.
func containerProcs(t *testing.T, p *Podd, q *pod.Pod, statuses []pod.ContainerStatus, name string) map[int]string {
	t.Helper()
	out := map[int]string{}
	for _, cs := range statuses {
		if cs.Name != name || cs.State.Running == nil {
			continue
		}
		id := strings.TrimPrefix(cs.ContainerID, "containerd://")
		b, err := os.ReadFile(filepath.Join(cgroupBase(t, "pids"), cgroups.ContainerPath(p.CgroupRoot, q.Metadata.UID, id), "cgroup.procs"))
		if err != nil {
			continue // it just ended
		}
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			out[pid] = strings.ReplaceAll(string(cmd), "\x00", " ")
		}
	}
	return out
}

func cgroupBase(t *testing.T, ctrl string) string {
	if cgroupMode(t) == cgroups.V2 {
		return "/sys/fs/cgroup"
	}
	return filepath.Join("/sys/fs/cgroup", ctrl)
}

// TestWorkQueueChaos: 80 items (4 poison), 4 workers, while the user's programs and whole worker
// containers are killed at random, a worker's helper is killed, and podd is killed with -9 twice:
// at the end every good item's output is committed once with the content its input asks for, the
// poison items are dead letters with their reason, nothing is pending or leased, and the Job
// completes. WQ_CHAOS_ITEMS and WQ_CHAOS_WORK (the program's sleep, default 1) scale it: the
// issue's run is WQ_CHAOS_ITEMS=1000 WQ_CHAOS_WORK=0.1 go test -count=5 -run TestWorkQueueChaos.
func TestWorkQueueChaos(t *testing.T) {
	t.Parallel()
	n, work := 48, "1"
	if v := os.Getenv("WQ_CHAOS_ITEMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 40 {
			t.Fatalf("WQ_CHAOS_ITEMS=%q: want a number of at least 40", v)
		}
	}
	if v := os.Getenv("WQ_CHAOS_WORK"); v != "" {
		work = v
	}
	modes := []string{"fresh", "long-lived"}
	if v := os.Getenv("WQ_CHAOS_RUN"); v != "" {
		modes = []string{v}
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			workQueueChaos(t, n, work, mode)
		})
	}
}

func workQueueChaos(t *testing.T, n int, work, mode string) {
	p := startPodd(t)
	p.ApplyManifest(t, withRunMode(wqChaosManifest(n, work), mode))
	var s *spool.Spool
	waitFor(t, "the spool's claim", func() bool {
		return p.Podctl(t, "get", "pvc", "wq-chaos-spool").ExitCode == 0
	})
	s = spoolOf(t, p, "wq-chaos-spool")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	programsKilled, containersKilled, helpersKilled, poddKills := 0, 0, 0, 0
	deadline := time.Now().Add(4*time.Minute + time.Duration(n)*500*time.Millisecond)
	for {
		c, err := s.Counts()
		if err != nil {
			t.Fatal(err)
		}
		if c.Done+c.Dead == n && c.Pending() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not finish: %+v", c)
		}
		time.Sleep(700 * time.Millisecond)
		if !p.Running() {
			continue
		}
		var list struct{ Items []*pod.Pod }
		res := p.Podctl(t, "get", "po", "-l", "app=wq-chaos", "-o", "json")
		if res.ExitCode != 0 || json.Unmarshal([]byte(res.Stdout), &list) != nil || len(list.Items) == 0 {
			continue
		}
		q := list.Items[rng.IntN(len(list.Items))]
		switch {
		case (poddKills == 0 && c.Done >= n/4) || (poddKills == 1 && c.Done >= n/2):
			p.Kill9(t)
			poddKills++
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			p.Start(t)
		case helpersKilled == 0 && c.Done >= n/8:
			for pid := range containerProcs(t, p, q, q.Status.InitContainerStatuses, "podd-workqueue") {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					helpersKilled++
				}
			}
		case containersKilled < 2 && c.Done >= n/3 && rng.IntN(3) == 0:
			// The whole worker container, runner and all: its pod fails, the Job replaces it.
			killed := false
			for pid := range containerProcs(t, p, q, q.Status.ContainerStatuses, "worker") {
				killed = syscall.Kill(pid, syscall.SIGKILL) == nil || killed
			}
			if killed {
				containersKilled++
			}
		case programsKilled < max(8, n/10) && rng.IntN(2) == 0:
			// The user's program (its shell and the shell's children), not the runner: in
			// fresh mode, the processes of an item's fresh container.
			procs := containerProcs(t, p, q, q.Status.ContainerStatuses, "worker")
			if mode == "fresh" {
				procs = runProcs(t, p, q)
			}
			killed := false
			for pid, cmd := range procs {
				if !strings.Contains(cmd, "wq-run") {
					killed = syscall.Kill(pid, syscall.SIGKILL) == nil || killed
				}
			}
			if killed {
				programsKilled++
			}
		}
	}
	t.Logf("killed: %d user programs, %d worker containers, %d helper processes, podd %d times", programsKilled, containersKilled, helpersKilled, poddKills)
	if programsKilled == 0 || containersKilled == 0 || helpersKilled == 0 || poddKills != 2 {
		t.Fatalf("the chaos did not all happen: programs %d, containers %d, helpers %d, podd %d", programsKilled, containersKilled, helpersKilled, poddKills)
	}
	waitJob(t, p, "wq-chaos", "the Job to complete once the queue is empty", 3*time.Minute, func(j *object.Job) bool { return jobComplete(j) })

	poison := (n + 12) / 20 // i%20 == 7 for i < n
	c, _ := s.Counts()
	if c != (spool.Counts{Done: n - poison, Dead: poison}) {
		t.Fatalf("counts %+v", c)
	}
	for i := range n {
		id := fmt.Sprintf("item-%03d", i)
		if i%20 == 7 {
			continue
		}
		want := fmt.Sprintf("done:v%d\n", i)
		if b, err := os.ReadFile(filepath.Join(s.Output(id), "result")); err != nil || string(b) != want {
			t.Errorf("output of %s: %q %v, want %q", id, b, err, want)
		}
	}
	dead, _ := s.Items(spool.StateDead)
	for _, m := range dead {
		if m.Reason != "poison" || m.LastExitCode == nil || *m.LastExitCode != 65 || !strings.Contains(m.LogTail, "cannot process poison") {
			t.Errorf("dead letter %+v", m)
		}
	}
	retried := 0
	done, _ := s.Items(spool.StateDone)
	for _, m := range done {
		if m.Attempts > 1 {
			retried++
		}
	}
	t.Logf("%d done (%d after more than one attempt), %d dead", len(done), retried, len(dead))
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(entries) != 0 {
		t.Errorf("the spool's tmp/ holds %d leftovers", len(entries))
	}
	// Nothing leaked: deleting the Job leaves no container of it.
	mustPodctl(t, p, "delete", "job", "wq-chaos")
	waitFor(t, "the Job's containers to be gone", func() bool { return len(p.Containers(t)) == 0 })
}

// TestWorkQueueWorkerDeath: the worker container dies (SIGKILL of all its processes) while its
// item is leased: the item leaves leased/ as soon as podd and the kernel see the death, not after
// any timeout; its record carries the container's end as podd saw it; the Job's next worker pod
// runs the retry, which commits.
func TestWorkQueueWorkerDeath(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	// One item, whose first attempt runs until it is killed.
	manifest := strings.NewReplacer("parallelism: 4", "parallelism: 1", "wq-chaos", "wq-death").
		Replace(wqChaosManifest(1, `0; [ "$WORK_ATTEMPT" -gt 1 ] || sleep 300`))
	p.ApplyManifest(t, manifest)
	waitFor(t, "the spool's claim", func() bool { return p.Podctl(t, "get", "pvc", "wq-death-spool").ExitCode == 0 })
	s := spoolOf(t, p, "wq-death-spool")
	var q *pod.Pod
	waitFor(t, "the item leased and its program running", func() bool {
		c, _ := s.Counts()
		var list struct{ Items []*pod.Pod }
		res := p.Podctl(t, "get", "po", "-l", "app=wq-death", "-o", "json")
		if c.Leased != 1 || json.Unmarshal([]byte(res.Stdout), &list) != nil || len(list.Items) != 1 {
			return false
		}
		q = list.Items[0]
		for _, cmd := range containerProcs(t, p, q, q.Status.ContainerStatuses, "worker") {
			if strings.Contains(cmd, "sleep 300") {
				return true
			}
		}
		return false
	})
	killedAt := time.Now()
	for pid := range containerProcs(t, p, q, q.Status.ContainerStatuses, "worker") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, "the item to leave leased/", func() bool { c, _ := s.Counts(); return c.Leased == 0 })
	// A figure, not an assertion (the helper asks podd for the container's end, up to 2 s).
	t.Logf("the lease ended %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	waitFor(t, "the retry to commit", func() bool { c, _ := s.Counts(); return c.Done == 1 })
	done, _ := s.Items(spool.StateDone)
	if len(done) != 1 || done[0].Attempts != 2 || !strings.Contains(done[0].LastError, "the worker's container ended during the attempt (its connection to the helper closed): container worker: exit code 137") {
		t.Fatalf("record %+v", done)
	}
	if b, err := os.ReadFile(filepath.Join(s.Output(done[0].ID), "result")); err != nil || string(b) != "done:v0\n" {
		t.Fatalf("output %q %v", b, err)
	}
}

// TestWorkQueueOOM: the user's program outgrows the worker container's memory limit on its first
// attempt (busybox dd with a 128 MiB buffer under a 48 MiB limit): the kernel's OOM killer kills
// it, the runner reports SIGKILL, and the item's record says podd saw an OOM kill; the retry
// commits.
func TestWorkQueueOOM(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"fresh", "long-lived"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := startPodd(t)
			manifest := strings.NewReplacer("parallelism: 4", "parallelism: 1", "wq-chaos", "wq-oom",
				"        volumeMounts:\n        - {name: work, mountPath: /podd-wq}",
				"        resources: {limits: {memory: 48Mi}}\n        volumeMounts:\n        - {name: work, mountPath: /podd-wq}").
				Replace(withRunMode(wqChaosManifest(1, `0; [ "$WORK_ATTEMPT" -gt 1 ] || exec dd if=/dev/zero of=/dev/null bs=128M count=1`), mode))
			p.ApplyManifest(t, manifest)
			waitFor(t, "the spool's claim", func() bool { return p.Podctl(t, "get", "pvc", "wq-oom-spool").ExitCode == 0 })
			s := spoolOf(t, p, "wq-oom-spool")
			waitJob(t, p, "wq-oom", "the Job to complete", 2*time.Minute, jobComplete)
			done, _ := s.Items(spool.StateDone)
			if len(done) != 1 || done[0].Attempts != 2 || done[0].LastExitCode == nil || *done[0].LastExitCode != 137 ||
				!strings.Contains(done[0].LastError, "podd saw the OOM killer kill it") {
				t.Fatalf("record %+v", done)
			}
			t.Logf("the first attempt's record: %s", done[0].LastError)
		})
	}
}

// TestWorkQueueFreshContainers: with --run fresh (the default) each item runs in a fresh copy of
// the worker container that podd creates for it: what a program leaves in its container's
// filesystem is gone for the next item, its output still reaches the worker's log, and no copy
// outlives its item. The same Job in long-lived mode shows what the test tells apart: there the
// second item finds the first one's file, fails, and (one attempt allowed) is a dead letter.
func TestWorkQueueFreshContainers(t *testing.T) {
	t.Parallel()
	const n = 5
	for _, mode := range []string{"fresh", "long-lived"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := startPodd(t)
			manifest := strings.NewReplacer("parallelism: 4", "parallelism: 1", "wq-chaos", "wq-fresh",
				`workqueue.podd.io/max-attempts: "10"`, `workqueue.podd.io/max-attempts: "1"`).
				Replace(withRunMode(wqChaosManifest(n, `0; [ -e /seen ] && { echo "reused a container"; exit 3; }; touch /seen; echo "ran $WORK_ITEM_ID"`), mode))
			p.ApplyManifest(t, manifest)
			waitFor(t, "the spool's claim", func() bool { return p.Podctl(t, "get", "pvc", "wq-fresh-spool").ExitCode == 0 })
			s := spoolOf(t, p, "wq-fresh-spool")
			var q *pod.Pod
			waitFor(t, "the queue to finish", func() bool {
				var list struct{ Items []*pod.Pod }
				if res := p.Podctl(t, "get", "po", "-l", "app=wq-fresh", "-o", "json"); json.Unmarshal([]byte(res.Stdout), &list) == nil && len(list.Items) > 0 {
					q = list.Items[0]
				}
				c, _ := s.Counts()
				return c.Done+c.Dead == n
			})
			c, _ := s.Counts()
			if mode == "long-lived" {
				if c != (spool.Counts{Done: 1, Dead: n - 1}) {
					t.Fatalf("long-lived: counts %+v, want 1 done and the others dead (their program found the first one's file)", c)
				}
				return
			}
			if c != (spool.Counts{Done: n}) {
				dead, _ := s.Items(spool.StateDead)
				t.Fatalf("fresh: counts %+v, dead letters %+v", c, dead)
			}
			for i := range n {
				if b, err := os.ReadFile(filepath.Join(s.Output(fmt.Sprintf("item-%03d", i)), "result")); err != nil || string(b) != fmt.Sprintf("done:v%d\n", i) {
					t.Errorf("output of item-%03d: %q %v", i, b, err)
				}
			}
			logs := mustPodctl(t, p, "logs", q.Metadata.Name, "-c", "worker").Stdout
			for i := range n {
				if !strings.Contains(logs, fmt.Sprintf("ran item-%03d\n", i)) {
					t.Errorf("the worker's log lacks item-%03d's output:\n%s", i, logs)
				}
			}
			waitJob(t, p, "wq-fresh", "the Job to complete", 2*time.Minute, jobComplete)
			// podd removes a copy once it has answered: soon after the last item, none is left.
			waitFor(t, "no fresh container left", func() bool {
				for _, ctr := range p.Containers(t) {
					if strings.Contains(ctr.Labels[runtime.LabelContainer], supervisor.RunSeparator) {
						return false
					}
				}
				return true
			})
		})
	}
}
