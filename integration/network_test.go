package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/store"
)

// freePort finds a TCP port that nothing on the host listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fetchByName runs, in pod from, an HTTP GET of http://host/ with busybox nc (busybox's wget
// crashes in Debian's static build), and returns the response.
func fetchByName(t testing.TB, p *Podd, from, host string) Result {
	t.Helper()
	return p.Podctl(t, "exec", from, "--", "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' | nc -w 5 %s 80`, host, host))
}

// TestPodNetwork: pods get an address on podd's bridge, in their status, env and /etc/hosts;
// they reach each other by name; a hostPort is published on the host's loopback too.
func TestPodNetwork(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	web, client, late := uniqueName(t, "web"), uniqueName(t, "client"), uniqueName(t, "late")
	hostPort := freePort(t)
	server := func(name, page string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: web
    image: %[2]s
    command: ["sh", "-c", "mkdir -p /www && echo %[3]s > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports:
    - {containerPort: 80, hostPort: %[4]d}
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: POD_IPS
      valueFrom: {fieldRef: {fieldPath: status.podIPs}}
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
`, name, busyboxImage, page, hostPort)
	}
	sleeper := func(name string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
`, name, busyboxImage)
	}
	mustRun(t, p, server(web, "hello-from-web")+"---\n"+sleeper(client))

	subnet := netip.MustParsePrefix(p.PodCIDR)
	got := getPod(t, p, web)
	ip, err := netip.ParseAddr(got.Status.PodIP)
	if err != nil || !subnet.Contains(ip) {
		t.Fatalf("status.podIP %q, want an address in %s", got.Status.PodIP, subnet)
	}
	if len(got.Status.PodIPs) != 1 || got.Status.PodIPs[0].IP != got.Status.PodIP {
		t.Errorf("status.podIPs %+v, want [{ip: %s}]", got.Status.PodIPs, got.Status.PodIP)
	}
	if _, err := netip.ParseAddr(got.Status.HostIP); err != nil || len(got.Status.HostIPs) != 1 {
		t.Errorf("status.hostIP %q hostIPs %+v, want the host's address", got.Status.HostIP, got.Status.HostIPs)
	}
	other := getPod(t, p, client)
	if other.Status.PodIP == "" || other.Status.PodIP == got.Status.PodIP {
		t.Errorf("second pod's podIP %q, want an address of its own (the first has %s)", other.Status.PodIP, got.Status.PodIP)
	}

	t.Run("env", func(t *testing.T) {
		res := mustPodctl(t, p, "exec", web, "--", "sh", "-c", `echo "$POD_IP|$POD_IPS|$HOST_IP"`)
		want := got.Status.PodIP + "|" + got.Status.PodIP + "|" + got.Status.HostIP + "\n"
		if res.Stdout != want {
			t.Errorf("env POD_IP|POD_IPS|HOST_IP = %q, want %q", res.Stdout, want)
		}
	})
	t.Run("hosts file", func(t *testing.T) {
		hosts := mustPodctl(t, p, "exec", web, "--", "cat", "/etc/hosts").Stdout
		if !strings.Contains(hosts, got.Status.PodIP+"\t"+web+" "+web+".default\n") {
			t.Errorf("/etc/hosts of %s lacks its own address %s:\n%s", web, got.Status.PodIP, hosts)
		}
		if !strings.Contains(hosts, other.Status.PodIP+"\t"+client+".default "+client+"\n") {
			t.Errorf("/etc/hosts of %s lacks the other pod %s (%s):\n%s", web, client, other.Status.PodIP, hosts)
		}
	})
	t.Run("by name", func(t *testing.T) {
		for _, host := range []string{web, web + ".default"} {
			res := fetchByName(t, p, client, host)
			if res.ExitCode != 0 || !strings.Contains(res.Stdout, "200 OK") || !strings.Contains(res.Stdout, "hello-from-web") {
				t.Errorf("GET http://%s/ from pod %s: %s", host, client, res)
			}
		}
	})
	t.Run("hostPort on the host's loopback", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", hostPort))
		if err != nil {
			t.Fatalf("GET the hostPort on 127.0.0.1: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hello-from-web") {
			t.Errorf("GET 127.0.0.1:%d: %s %q", hostPort, resp.Status, body)
		}
	})
	t.Run("a pod created later is reached at once", func(t *testing.T) {
		// The server's hostPort is taken: the late pod publishes nothing.
		mustRun(t, p, strings.Replace(server(late, "hello-from-late"), fmt.Sprintf(", hostPort: %d", hostPort), "", 1))
		res := fetchByName(t, p, client, late)
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, "hello-from-late") {
			t.Errorf("GET http://%s/ from pod %s right after it started: %s", late, client, res)
		}
	})
	t.Run("names go with their pods", func(t *testing.T) {
		removePod(t, p, "default", web)
		hosts := mustPodctl(t, p, "exec", client, "--", "cat", "/etc/hosts").Stdout
		if strings.Contains(hosts, web) {
			t.Errorf("/etc/hosts of %s still names the removed pod %s:\n%s", client, web, hosts)
		}
		// No lookup of the gone name: it would go on to the host's DNS servers.
	})
}

// TestHostPortTaken: a hostPort that another pod publishes or a host process holds is refused
// with the field's path, and nothing of the pod is created.
func TestHostPortTaken(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	first, second, third := uniqueName(t, "first"), uniqueName(t, "second"), uniqueName(t, "third")
	port := freePort(t)
	manifest := func(name string, port int) string { return hostPortPod(name, 8080, port) }
	mustRun(t, p, manifest(first, port))

	refused := func(name string, port int) {
		t.Helper()
		res := runPods(t, p, manifest(name, port))
		want := fmt.Sprintf("spec.containers[0].ports[0].hostPort: port %d/TCP on 0.0.0.0 is already in use", port)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, want) {
			t.Errorf("podctl run of %s with a taken hostPort: %s\nwant an error containing %q", name, res, want)
		}
		if res := p.Podctl(t, "get", name); res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
			t.Errorf("the refused pod %s exists: %s", name, res)
		}
	}
	refused(second, port)

	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	refused(third, l.Addr().(*net.TCPAddr).Port)
}

// TestPodNetworkHost: a hostNetwork pod has the host's address as its own, and no attachment.
func TestPodNetworkHost(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
`, name, busyboxImage))
	got := getPod(t, p, name)
	if got.Status.PodIP == "" || got.Status.PodIP != got.Status.HostIP {
		t.Errorf("podIP %q hostIP %q, want both the host's address", got.Status.PodIP, got.Status.HostIP)
	}
	if res := mustPodctl(t, p, "exec", name, "--", "sh", "-c", "echo $POD_IP"); strings.TrimSpace(res.Stdout) != got.Status.HostIP {
		t.Errorf("env POD_IP %q, want %q", res.Stdout, got.Status.HostIP)
	}
	if _, err := os.Stat(filepath.Join(p.State, "cni", "pods", got.Metadata.UID+".json")); !os.IsNotExist(err) {
		t.Errorf("a hostNetwork pod has a network attachment: %v", err)
	}
}

// TestPodNetworkNone: a pod annotated podd.io/network: none has only its loopback device.
func TestPodNetworkNone(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  annotations:
    podd.io/network: none
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
`, name, busyboxImage))
	res := mustPodctl(t, p, "exec", name, "--", "cat", "/proc/net/dev")
	var devs []string
	for _, line := range strings.Split(res.Stdout, "\n") {
		if dev, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(dev, "|") {
			devs = append(devs, strings.TrimSpace(dev))
		}
	}
	if strings.Join(devs, ",") != "lo" {
		t.Errorf("network devices %v, want only lo:\n%s", devs, res.Stdout)
	}
	got := getPod(t, p, name)
	if got.Status.PodIP != "" || got.Status.HostIP == "" {
		t.Errorf("podIP %q hostIP %q, want no podIP and the host's IP", got.Status.PodIP, got.Status.HostIP)
	}
	if res := p.Podctl(t, "run", writeManifest(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s-bad
  annotations:
    podd.io/network: bridged
spec:
  containers:
  - {name: app, image: %s}
`, name, busyboxImage))); res.ExitCode == 0 || !strings.Contains(res.Stderr, "metadata.annotations[podd.io/network]") {
		t.Errorf("a bad podd.io/network value: %s", res)
	}
}

// TestPodNetworkNoLeaks: create/remove cycles, one cut short by a kill -9 of podd during a
// create, one during a remove, and one whose pod vanished from the store while podd was dead (its
// sandbox is then an orphan that the start-up reconciliation removes), leave no address, veth,
// iptables rule, netns or CNI cache entry.
func TestPodNetworkNoLeaks(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	// One pod first, so that the bridge and the shared chains exist before counting.
	warm := uniqueName(t, "warm")
	podOf := func(name string, port int) string { return hostPortPod(name, 80, port) }
	mustRun(t, p, podOf(warm, freePort(t)))
	mustPodctl(t, p, "rm", "--force", warm)
	before, err := countNetResources(p)
	if err != nil {
		t.Fatal(err)
	}
	if before != (netResources{}) {
		t.Fatalf("before the cycles: %+v, want nothing left by the first pod", before)
	}
	const cycles = 30
	var withOne netResources
	for i := range cycles {
		name := uniqueName(t, fmt.Sprint(i))
		manifest := podOf(name, freePort(t))
		switch i {
		case 10: // podd dies while it sets the pod up
			runDetached(t, p, manifest)
			p.Kill9(t)
			p.Start(t)
		case 25: // podd dies; its pod is gone from the store when it comes back: an orphan sandbox
			mustRun(t, p, manifest)
			uid := getPod(t, p, name).Metadata.UID
			p.Kill9(t)
			st, err := store.Open(filepath.Join(p.Root, "podd.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(context.Background(), uid); err != nil {
				t.Fatal(err)
			}
			st.Close()
			p.Start(t)
		case 20: // podd dies during the removal
			mustRun(t, p, manifest)
			done := make(chan Result, 1)
			go func() { done <- p.Podctl(t, "rm", "--force", name) }()
			time.Sleep(150 * time.Millisecond)
			p.Kill9(t)
			<-done
			p.Start(t)
		default:
			mustRun(t, p, manifest)
			if i == 0 {
				mid, err := countNetResources(p)
				if err != nil {
					t.Fatal(err)
				}
				withOne = mid
				if mid.Addresses != 1 || mid.Veths != 1 || mid.Rules == 0 || mid.Netns != 1 || mid.CNICache != 1 {
					t.Errorf("with one pod: %+v, want 1 address, 1 veth, some rules, 1 netns, 1 CNI cache entry", mid)
				}
			}
		}
		if res := p.Podctl(t, "rm", "--force", name); res.ExitCode != 0 && !strings.Contains(res.Stderr, "not found") {
			t.Fatalf("cycle %d: podctl rm: %s", i, res)
		}
	}
	waitGone := time.Now().Add(30 * time.Second)
	var after netResources
	for {
		if after, err = countNetResources(p); err != nil {
			t.Fatal(err)
		}
		if after == before || time.Now().After(waitGone) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after != before {
		t.Errorf("after %d cycles: %+v, before: %+v", cycles, after, before)
	}
	t.Logf("before: %+v, with one pod: %+v, after %d cycles: %+v", before, withOne, cycles, after)
	if ctrs := p.Containers(t); len(ctrs) != 0 {
		t.Errorf("%d containers left", len(ctrs))
	}
}

// TestPodNetworkRestartWithOtherFlags: a pod keeps its address across a podd restart (no second
// attachment), even when podd comes back with another --bridge and --pod-cidr, and its removal
// then still detaches it from the network it was attached to.
func TestPodNetworkRestartWithOtherFlags(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	name := uniqueName(t)
	mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
    ports:
    - {containerPort: 80, hostPort: %d}
`, name, busyboxImage, freePort(t)))
	before := getPod(t, p, name).Status.PodIP
	oldNet := &Podd{State: p.State, Bridge: p.Bridge, PodCIDR: p.PodCIDR}
	attached, err := countNetResources(oldNet)
	if err != nil {
		t.Fatal(err)
	}

	p.Stop(t)
	newBridge, newCIDR := newPodNetwork()
	t.Cleanup(func() {
		if err := cleanPodNetwork(&Podd{Bridge: newBridge, PodCIDR: newCIDR}); err != nil {
			t.Error(err)
		}
	})
	p.Flags = []string{"--bridge", newBridge, "--pod-cidr", newCIDR}
	p.Start(t)
	got := waitPod(t, p, name, "with its address", func(got *pod.Pod) bool { return got.Status.PodIP != "" })
	if got.Status.PodIP != before {
		t.Errorf("podIP after the restart %q, want %q as before", got.Status.PodIP, before)
	}
	if now, err := countNetResources(oldNet); err != nil || now != attached {
		t.Errorf("after the restart: %+v (%v), want %+v as before: the pod was attached again", now, err, attached)
	}
	mustPodctl(t, p, "rm", "--force", name)
	if after, err := countNetResources(oldNet); err != nil || after.Addresses != 0 || after.Veths != 0 || after.Rules != 0 || after.CNICache != 0 || after.Netns != 0 {
		t.Errorf("after the removal: %+v (%v), want nothing left on the first network (with the pod: %+v)", after, err, attached)
	}
}

// hostPortPod is a pod of one sleeping container that publishes containerPort on hostPort.
func hostPortPod(name string, containerPort, hostPort int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
    ports:
    - {containerPort: %d, hostPort: %d}
`, name, busyboxImage, containerPort, hostPort)
}
