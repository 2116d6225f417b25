package integration

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// stopContainerd stops the harness's containerd with SIGTERM; the shims, and so the containers,
// keep running. Only a test that runs alone (not parallel) may call it.
func stopContainerd(t *testing.T) {
	t.Helper()
	if err := h.containerd.stop(daemonStopTimeout); err != nil {
		t.Fatal(err)
	}
}

// startContainerdAgain starts the harness's containerd again on the same root, state and socket,
// and waits until the harness's client gets answers from it again.
func startContainerdAgain(t *testing.T) {
	t.Helper()
	d, err := startContainerd(h.dir, h.address)
	if err != nil {
		t.Fatal(err)
	}
	h.containerd = d
	ctx, cancel := context.WithTimeout(context.Background(), containerdStartTimeout)
	defer cancel()
	client, err := waitForContainerd(ctx, d, h.address)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	for {
		vctx, vcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := h.client.Version(vctx)
		vcancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the harness's client does not reconnect to containerd: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestContainerdRestart restarts containerd under a running podd, then starts a podd while
// containerd is down: podd reconnects and waits, and no pod is restarted by either. It restarts
// the containerd every test shares, so it is not parallel: Go runs it alone, before the parallel
// tests resume, and it ends only once containerd is back.
func TestContainerdRestart(t *testing.T) {
	p := startPodd(t)
	web, plain := uniqueName(t, "web"), uniqueName(t, "plain")
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: proxy
    image: %[3]s
    restartPolicy: Always
    command: ["sh", "-c", %[4]q]
  containers:
  - name: app
    image: %[3]s
    command: ["sh", "-c", %[4]q]
---
apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: %[3]s
    command: ["sh", "-c", %[4]q]
`, web, plain, busyboxImage, untilTerm))
	names := []string{web, plain}
	before := instances(t, p, names...)
	if len(before) != 3 {
		t.Fatalf("%d running containers, want 3: %+v", len(before), before)
	}
	same := func(t *testing.T) {
		t.Helper()
		for _, name := range names {
			waitPod(t, p, name, "running", allRunning)
		}
		after := instances(t, p, names...)
		for key, in := range before {
			if got := after[key]; got != in {
				t.Errorf("%s: %+v, want the same instance %+v, not restarted", key, got, in)
			}
		}
	}

	t.Run("containerd restarts under podd", func(t *testing.T) {
		stopContainerd(t)
		// Longer than podd's first backoff steps: its watches fail and are retried meanwhile.
		time.Sleep(2 * time.Second)
		for key, in := range before {
			if processIdentity(in.pid) != in.identity {
				t.Errorf("%s: process %d did not outlive containerd", key, in.pid)
			}
		}
		startContainerdAgain(t)
		same(t)
		// The watches are back: a process killed from the host is noticed and restarted.
		if err := syscall.Kill(before[plain+"/app"].pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitPod(t, p, plain, "app restarted after its kill", func(got *pod.Pod) bool {
			return allRunning(got) && got.Status.ContainerStatuses[0].RestartCount == 1
		})
		before = instances(t, p, names...)
	})

	t.Run("a container exits while containerd is down", func(t *testing.T) {
		// podd's event stream is broken while containerd is down, and the exit the shim
		// publishes then never reaches a subscriber once the shim gives up retrying (it
		// retries 5 times, 1+2+3+4+5 s apart, then drops the event): podd learns of it from the
		// task listing it reads once its new subscription works, with the status the shim kept.
		killed := before[plain+"/app"]
		stopContainerd(t)
		if err := syscall.Kill(killed.pid, syscall.SIGKILL); err != nil {
			startContainerdAgain(t)
			t.Fatal(err)
		}
		time.Sleep(shimPublishGiveUp)
		startContainerdAgain(t)
		waitPod(t, p, plain, "app restarted after its kill while containerd was down", func(got *pod.Pod) bool {
			return allRunning(got) && got.Status.ContainerStatuses[0].RestartCount == killed.restarts+1
		})
		last := getPod(t, p, plain).Status.ContainerStatuses[0].LastState.Terminated
		if last == nil || last.ExitCode != 128+int32(syscall.SIGKILL) {
			t.Errorf("last state %+v, want terminated with exit code 137 (the status the shim kept, not an unknown one)", last)
		}
		after := instances(t, p, web)
		for key, in := range before {
			if strings.HasPrefix(key, web+"/") && after[key] != in {
				t.Errorf("%s: %+v, want the same instance %+v, not restarted", key, after[key], in)
			}
		}
		before = instances(t, p, names...)
	})

	t.Run("podd starts before containerd", func(t *testing.T) {
		p.Kill9(t)
		stopContainerd(t)
		from := fileSize(p.LogPath)
		started := make(chan error, 1)
		go func() { started <- p.start() }()
		// podd waits for containerd instead of failing.
		deadline := time.Now().Add(podWaitTimeout)
		for !strings.Contains(readFrom(p.LogPath, from), "containerd is not available; waiting for it") {
			select {
			case err := <-started:
				startContainerdAgain(t)
				t.Fatalf("podd did not wait for containerd: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				startContainerdAgain(t)
				t.Fatalf("podd did not say that it waits for containerd:\n%s", readFrom(p.LogPath, from))
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
		select {
		case err := <-started:
			startContainerdAgain(t)
			t.Fatalf("podd ended while containerd was down: %v", err)
		default:
		}
		startContainerdAgain(t)
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		same(t)
		if n := strings.Count(readFrom(p.LogPath, from), "containerd is not available"); n != 1 {
			t.Errorf("podd logged %d lines about waiting for containerd, want 1 for a wait this short", n)
		}
		res := p.Podctl(t, "exec", web, "-c", "app", "--", "true")
		if res.ExitCode != 0 {
			t.Errorf("exec after the restarts: %s", res)
		}
	})
}

// shimPublishGiveUp is longer than containerd 1.7's shim keeps retrying to publish an event to a
// containerd that is down (runtime/v2/shim/publisher.go: 5 retries, 1 to 5 s apart), so that the
// event is lost for good.
const shimPublishGiveUp = 25 * time.Second

// readFrom reads a file from an offset on.
func readFrom(path string, from int64) string {
	var b strings.Builder
	copyFileFrom(&b, path, from)
	return b.String()
}
