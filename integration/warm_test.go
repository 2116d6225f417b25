package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/internal/fault"
)

// warmIP is the recorded address of a warm sandbox (or of the pod that took it).
func warmIP(t testing.TB, p *Podd, uid string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.State, "cni", "pods", uid+".json"))
	if err != nil {
		t.Fatalf("network state of %s: %v", uid, err)
	}
	var st struct {
		IPs []string `json:"ips"`
	}
	if err := json.Unmarshal(data, &st); err != nil || len(st.IPs) == 0 {
		t.Fatalf("network state of %s has no address: %s", uid, data)
	}
	return st.IPs[0]
}

// warmPods is a web server, a client, and a pod with a hostPort (which takes no warm sandbox).
func warmPods(t testing.TB, web, client, ported string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: web
    image: %[4]s
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"]
---
apiVersion: v1
kind: Pod
metadata: {name: %[2]s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: app, image: %[4]s, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: %[3]s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %[4]s
    command: ["sleep", "3600"]
    ports:
    - {containerPort: 80, hostPort: %[5]d}
`, web, client, ported, busyboxImage, freePort(t))
}

// TestWarmSandboxes: a podd with a pool of two warm sandboxes fills it; the first two bridge
// pods take them (their UIDs, with the addresses attached ahead) and work as any pod (hostname,
// hosts files, traffic between pods); a pod with a hostPort sets up its own; the pool fills
// again with new sandboxes; a podd killed and restarted removes the warm sandboxes no pod took
// and fills the pool anew, the pods keeping theirs; a podd stopped removes its warm sandboxes;
// removing the pods leaves only the pool.
func TestWarmSandboxes(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--warm-sandboxes", "2")
	before := p.waitWarm(t, 2)
	addrs := map[string]string{}
	for uid := range before {
		addrs[uid] = warmIP(t, p, uid)
	}

	web, client, ported := uniqueName(t, "web"), uniqueName(t, "client"), uniqueName(t, "ported")
	mustRun(t, p, warmPods(t, web, client, ported))
	pods := map[string]string{} // name → UID
	for _, name := range []string{web, client, ported} {
		got := getPod(t, p, name)
		pods[name] = got.Metadata.UID
		if name == ported {
			if before[got.Metadata.UID] {
				t.Errorf("pod %s with a hostPort took a warm sandbox", name)
			}
			continue
		}
		if !before[got.Metadata.UID] {
			t.Errorf("pod %s has UID %s, not one of the warm sandboxes %v", name, got.Metadata.UID, before)
			continue
		}
		if want := addrs[got.Metadata.UID]; got.Status.PodIP != want {
			t.Errorf("pod %s has address %s, want %s, its warm sandbox's", name, got.Status.PodIP, want)
		}
		if h := strings.TrimSpace(mustPodctl(t, p, "exec", name, "--", "hostname").Stdout); h != name {
			t.Errorf("pod %s: hostname %q, want its name", name, h)
		}
	}
	if pods[web] == pods[client] {
		t.Fatalf("two pods took the same warm sandbox %s", pods[web])
	}
	webIP := getPod(t, p, web).Status.PodIP
	hosts := mustPodctl(t, p, "exec", client, "--", "cat", "/etc/hosts").Stdout
	if !strings.Contains(hosts, webIP+"\t"+web+".default "+web) {
		t.Errorf("client's hosts file has no line for %s (%s):\n%s", web, webIP, hosts)
	}
	if strings.Contains(hosts, "\t.") {
		t.Errorf("client's hosts file names a warm sandbox:\n%s", hosts)
	}
	out := mustPodctl(t, p, "exec", client, "--", "sh", "-c", fmt.Sprintf("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 80", web)).Stdout
	if !strings.Contains(out, "hello-from-"+web) {
		t.Errorf("client to web by name: %q, want the page", out)
	}

	// The pool fills again, with sandboxes of no pod.
	refilled := p.waitWarm(t, 2)
	for uid := range refilled {
		if before[uid] {
			t.Errorf("warm sandbox %s, taken by a pod, is in the pool again", uid)
		}
	}

	// kill -9 and restart: the warm sandboxes no pod took are removed, the pool is made anew.
	p.Kill9(t)
	p.Start(t)
	deadline := time.Now().Add(podWaitTimeout)
	for {
		left := leftOf(t, p, refilled)
		now := p.warmUIDs(t)
		if len(left) == 0 && len(now) == 2 {
			for uid := range now {
				if refilled[uid] {
					t.Errorf("warm sandbox %s survived the restart", uid)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: left of the earlier warm sandboxes %v; pool %v", left, now)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name, uid := range pods {
		got := getPod(t, p, name)
		if got.Metadata.UID != uid || got.Status.PodIP == "" {
			t.Errorf("pod %s after the restart: UID %s address %q, want UID %s and its address", name, got.Metadata.UID, got.Status.PodIP, uid)
		}
	}

	// A podd that stops (SIGTERM) removes its warm sandboxes; its pods keep theirs.
	pool := p.waitWarm(t, 2)
	p.Stop(t)
	if left := leftOf(t, p, pool); len(left) > 0 {
		t.Errorf("a stopped podd left its warm sandboxes: %v", left)
	}
	for _, uid := range pods {
		if _, err := os.Stat(filepath.Join(p.State, "netns", uid)); err != nil {
			t.Errorf("pod %s lost its network namespace when podd stopped: %v", uid, err)
		}
	}
	p.Start(t)
	mustPodctl(t, p, "rm", web, client, ported)
	p.waitNoLeaks(t, nil, nil, podWaitTimeout)
}

// leftOf lists what the podd still owns of the sandboxes of uids.
func leftOf(t testing.TB, p *Podd, uids map[string]bool) []string {
	t.Helper()
	var left []string
	for kind, items := range p.owned(t, nil) {
		for item, uid := range items {
			if uids[uid] {
				left = append(left, kind+" "+item)
			}
		}
	}
	return left
}

// TestWarmSandboxCrashPoints kills podd at the warm sandboxes' crash points and at a pod
// creation's store points with a pool, and checks after each that the restarted podd runs the
// pods it acknowledged with their names (hostname, hosts file), removed every warm sandbox no pod
// took, and leaks nothing once the pods are removed.
func TestWarmSandboxCrashPoints(t *testing.T) {
	t.Parallel()
	p := startPoddWith(t, "--warm-sandboxes", "2")
	for i, point := range append([]string{fault.CreateBeforeStore, fault.CreateAfterStore}, fault.WarmPoints...) {
		t.Run(point, func(t *testing.T) {
			manifest, names := crashManifest(fmt.Sprintf("warm-%d", i), 2)
			c := &crashCheck{p: p, names: names, uids: map[string]bool{}}
			c.cleanupOnFailure(t)
			var must []string
			// WarmAfterNamespaces is passed when the restarted podd fills its pool again.
			c.armCrash(t, point+":1")
			// The warm sandboxes of the podd that crashes: only a pod may keep one of them.
			// (A sandbox that crashed halfway, with no address yet, is no warm sandbox: the
			// leak check of removeAll finds it if it stays.)
			before := map[string]bool{}
			if point != fault.WarmAfterNamespaces {
				before = p.waitWarm(t, 2)
				res := p.Podctl(t, "run", writeManifest(t, manifest))
				must = acknowledged(res)
				if res.ExitCode == 0 {
					t.Errorf("podctl run succeeded: podd did not crash at %s", point)
				}
			}
			if !p.waitExit(podWaitTimeout) {
				t.Fatalf("podd did not crash at %s", point)
			}
			c.afterCrash(t, must)
			pods := listPods(t, p)
			for _, name := range names {
				got := pods[name]
				if got == nil {
					continue
				}
				if h := strings.TrimSpace(mustPodctl(t, p, "exec", name, "--", "hostname").Stdout); h != name {
					t.Errorf("pod %s: hostname %q after the crash, want its name", name, h)
				}
				hosts := mustPodctl(t, p, "exec", name, "--", "cat", "/etc/hosts").Stdout
				if !strings.Contains(hosts, got.Status.PodIP+"\t"+name) {
					t.Errorf("pod %s: its hosts file has no line for itself (%s):\n%s", name, got.Status.PodIP, hosts)
				}
				delete(before, got.Metadata.UID)
			}
			// What is left of the earlier pool's sandboxes that no pod took: nothing, once the
			// restarted podd's housekeeping ran.
			deadline := time.Now().Add(podWaitTimeout)
			for {
				left := leftOf(t, p, before)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("left of warm sandboxes no pod took, after the crash: %v", left)
				}
				time.Sleep(200 * time.Millisecond)
			}
			c.removeAll(t)
		})
	}
}
