package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/sandbox"
)

// TestEtcFilesBounded: /etc/hosts, /etc/hostname and /etc/resolv.conf are writable in a container
// (as in Kubernetes), but a container that writes 64 MiB into each may keep no more than the pod's
// small /etc tmpfs holds: it once wrote them into --root without bound. A pod created next, whose
// name podd writes into the full pod's hosts file, still starts.
func TestEtcFilesBounded(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: fill
    image: %s
    command: ["sh", "-c", "for f in /etc/resolv.conf /etc/hosts /etc/hostname; do dd if=/dev/zero of=$f bs=1M count=64 2>/dev/null; done; touch /tmp/done; sleep 3600"]
`, name, busyboxImage))
	waitPhase(t, p, name, pod.PodRunning)
	waitFor(t, "the container to finish writing", func() bool {
		return p.Podctl(t, "exec", name, "--", "test", "-e", "/tmp/done").ExitCode == 0
	})
	total := 0
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"} {
		out := strings.TrimSpace(execOut(t, p, name, "wc", "-c", f))
		n, err := strconv.Atoi(strings.Fields(out)[0])
		if err != nil {
			t.Fatalf("wc -c %s: %q", f, out)
		}
		total += n
	}
	if total > sandbox.EtcFilesSize {
		t.Errorf("the container's /etc files hold %d bytes, more than the %d of their tmpfs", total, sandbox.EtcFilesSize)
	}

	next := uniqueName(t, "next")
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
`, next, busyboxImage))
	waitPhase(t, p, next, pod.PodRunning)
}

// TestLongestNamesRunAndRemove: a pod with the longest valid names — a 253-character name in a
// 63-character namespace, a 63-character container — starts, logs and is removed. Its log folder
// <namespace>_<name>_<uid> was once longer than a file name may be: the pod never started and
// stayed Terminating for ever.
func TestLongestNamesRunAndRemove(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	base := uniqueName(t) // distinct per test, at most 63 characters
	label := func(c string) string { return base + strings.Repeat(c, 63-len(base)) }
	name := label("a") + "." + label("b") + "." + label("c") + "." + label("d")[:61]
	namespace := label("n")
	container := label("c")
	if len(name) != 253 || len(namespace) != 63 || len(container) != 63 {
		t.Fatalf("names of %d, %d, %d characters", len(name), len(namespace), len(container))
	}
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: %s
    image: %s
    command: ["sh", "-c", "echo hello-from-the-longest; sleep 3600"]
`, name, namespace, container, busyboxImage))
	waitFor(t, "the pod to run", func() bool {
		return getPod(t, p, name, "-n", namespace).Status.Phase == pod.PodRunning
	})
	waitFor(t, "the container's log", func() bool {
		res := p.Podctl(t, "logs", "-n", namespace, name, "-c", container)
		return res.ExitCode == 0 && strings.Contains(res.Stdout, "hello-from-the-longest")
	})
	if res, done := podctlWithin(t, p, removeTimeout, "rm", "-n", namespace, name); !done || res.ExitCode != 0 {
		t.Fatalf("podctl rm (returned: %v): %s", done, res)
	}
	waitFor(t, "the pod to be gone", func() bool {
		res := p.Podctl(t, "get", "-n", namespace, name)
		return res.ExitCode != 0 && strings.Contains(res.Stderr, "not found")
	})
	if logs := listDir(t, filepath.Join(p.Root, "logs")); slices.ContainsFunc(logs, func(n string) bool { return strings.HasPrefix(n, namespace+"_") }) {
		t.Errorf("the pod's log folder is left: %v", logs)
	}
}

// TestFullRootStopAndRemove: a pod whose emptyDir fills podd's --root (a 48 MiB tmpfs of the
// test's own) can still be stopped and removed through the API: both write the store, which
// once failed with "no space left on device".
func TestFullRootStopAndRemove(t *testing.T) {
	t.Parallel()
	p := startPoddConfigured(t, func(p *Podd) {
		if err := os.MkdirAll(p.Root, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", p.Root, "tmpfs", 0, "size=48m,mode=0711"); err != nil {
			t.Fatalf("mount a tmpfs on --root: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(p.Root, unix.MNT_DETACH) })
	})
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: fill
    image: %s
    command: ["sh", "-c", "dd if=/dev/zero of=/data/fill bs=1M count=100; touch /tmp/done; sleep 3600"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - {name: data, emptyDir: {}}
`, name, busyboxImage))
	waitPhase(t, p, name, pod.PodRunning)
	waitFor(t, "the container to fill --root", func() bool {
		return p.Podctl(t, "exec", name, "--", "test", "-e", "/tmp/done").ExitCode == 0
	})
	var st unix.Statfs_t
	if err := unix.Statfs(p.Root, &st); err != nil {
		t.Fatal(err)
	}
	if free := st.Bavail * uint64(st.Bsize); free > 1<<20 {
		t.Fatalf("--root has %d bytes free: the container did not fill it", free)
	}
	mustPodctl(t, p, "stop", name)
	waitPod(t, p, name, "stopped", func(got *pod.Pod) bool {
		for _, cs := range got.Status.ContainerStatuses {
			if cs.State.Terminated == nil {
				return false
			}
		}
		return len(got.Status.ContainerStatuses) > 0
	})
	mustPodctl(t, p, "rm", name)
	waitFor(t, "the pod to be gone", func() bool {
		res := p.Podctl(t, "get", name)
		return res.ExitCode != 0 && strings.Contains(res.Stderr, "not found")
	})
}

// TestEmptyDirSizeLimitEvicts: a disk emptyDir's sizeLimit is enforced as the kubelet enforces
// it: a pod that writes 5 MB into a 1Mi emptyDir is evicted (phase Failed, reason Evicted, a
// message naming the volume and the limit) and its container stopped. podd once let it write on.
func TestEmptyDirSizeLimitEvicts(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: fill
    image: %s
    command: ["sh", "-c", "dd if=/dev/zero of=/data/fill bs=1M count=5; sleep 3600"]
    volumeMounts: [{name: scratch, mountPath: /data}]
  volumes:
  - {name: scratch, emptyDir: {sizeLimit: 1Mi}}
`, name, busyboxImage))
	got := waitPod(t, p, name, "evicted", func(got *pod.Pod) bool { return got.Status.Phase == pod.PodFailed })
	if got.Status.Reason != "Evicted" || !strings.Contains(got.Status.Message, `"scratch"`) || !strings.Contains(got.Status.Message, "1Mi") {
		t.Errorf("status reason %q, message %q: want Evicted, naming the volume scratch and the limit 1Mi", got.Status.Reason, got.Status.Message)
	}
	waitPod(t, p, name, "with its container stopped", func(got *pod.Pod) bool {
		return len(got.Status.ContainerStatuses) == 1 && got.Status.ContainerStatuses[0].State.Terminated != nil
	})
}

// TestPidsLimitAllPods: --pids-limit caps the processes of all pods together, in podd's parent
// cgroup (--cgroup-root): a pod that tries to start 80 processes, under a per-pod limit of 4096,
// is refused forks at 50. There was no cap across pods.
func TestPidsLimitAllPods(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--pids-limit", "50")
	fs, err := cgroups.Load(cgroups.MountinfoPath)
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	for _, h := range fs.Hierarchies {
		if h.Root == "/" && (slices.Contains(h.Controllers, "pids") || h.Unified && fs.Mode == cgroups.V2) {
			dir = filepath.Join(h.Mountpoint, p.CgroupRoot)
		}
	}
	if dir == "" {
		t.Fatal("no pids hierarchy")
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	if got := read("pids.max"); got != "50" {
		t.Errorf("pids.max of %s = %s, want 50", dir, got)
	}
	name := uniqueName(t)
	runDetached(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: fork
    image: %s
    command: ["sh", "-c", "(for i in $(seq 80); do sleep 3600 & done); exec sleep 3600"]
`, name, busyboxImage))
	// A subshell forks until the kernel refuses, which ends it (one pid freed); its sleeps stay,
	// children of the container's init, which became a sleep without forking.
	cur := 0
	waitFor(t, "the pods' processes to reach the limit of all pods", func() bool {
		cur, err = strconv.Atoi(read("pids.current"))
		return err == nil && cur >= 49
	})
	if got := getPod(t, p, name); got.Status.Phase != pod.PodRunning {
		t.Errorf("pod phase %s, want Running", got.Status.Phase)
	}
	if cur > 50 {
		t.Errorf("pids.current of all pods = %d, above the limit 50", cur)
	}
}
