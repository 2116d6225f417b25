package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/cgroups"
	"github.com/podd-dev/podd/pkg/controller/elections"
	"github.com/podd-dev/podd/pkg/pod"
)

// electorStatus is what the elector sidecar answers on 127.0.0.1:4040.
type electorStatus struct {
	Leader   string `json:"leader"`
	Self     string `json:"self"`
	IsLeader bool   `json:"isLeader"`
	Token    uint64 `json:"token"`
}

// rawHTTP sends a raw HTTP/1.0 request with busybox nc from inside a pod's app container and
// returns the status line and the body ("" and the error text when nc failed).
func rawHTTP(t *testing.T, p *Podd, podName, addr, request string) (status, body string) {
	t.Helper()
	port := addr[strings.LastIndex(addr, ":")+1:]
	host := addr[:strings.LastIndex(addr, ":")]
	res := p.Podctl(t, "exec", podName, "-c", "app", "--", "sh", "-c", fmt.Sprintf("printf %%b %q | nc %s %s", request, host, port))
	if res.ExitCode != 0 {
		return "", res.String()
	}
	head, body, _ := strings.Cut(strings.ReplaceAll(res.Stdout, "\r\n", "\n"), "\n\n")
	status, _, _ = strings.Cut(head, "\n")
	return status, body
}

func electorOf(t *testing.T, p *Podd, podName string) (electorStatus, bool) {
	t.Helper()
	status, body := rawHTTP(t, p, podName, "127.0.0.1:4040", `GET / HTTP/1.0\r\n\r\n`)
	var st electorStatus
	if !strings.Contains(status, " 200 ") || json.Unmarshal([]byte(body), &st) != nil {
		return st, false
	}
	return st, true
}

// fencedPut writes key with token to the fenced store from inside a pod; the HTTP status code.
func fencedPut(t *testing.T, p *Podd, podName, storeIP string, token uint64) int {
	t.Helper()
	req := fmt.Sprintf(`PUT /k/x HTTP/1.0\r\nX-Fencing-Token: %d\r\nContent-Length: 2\r\n\r\nok`, token)
	status, body := rawHTTP(t, p, podName, storeIP+":8080", req)
	fields := strings.Fields(status)
	if len(fields) < 2 {
		t.Fatalf("PUT to the fenced store from %s: %q %s", podName, status, body)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatalf("PUT to the fenced store: status line %q", status)
	}
	return code
}

// TestElectorSidecar: three replicas, each with the elector as a native sidecar on the local
// backend (podd arbitrates through the pods' sockets): exactly one leads; kill -9 of the leader's
// app (from the host, through its container's cgroup.procs) makes another lead with a higher
// token; a fenced store refuses the old leader's token after the new leader wrote.
func TestElectorSidecar(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	// The spec's example, as written but for the busybox image.
	data, err := os.ReadFile(filepath.Join("..", "specs", "patterns", "elector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p.ApplyManifest(t, strings.ReplaceAll(string(data), "localhost/podd/busybox:1.35", busyboxImage))
	// The reference fenced resource, in a pod of its own.
	p.ApplyManifest(t, `apiVersion: v1
kind: Pod
metadata: {name: fenced-store}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: store, image: `+patternsImage+`, args: [fenced-store, --listen, ":8080"]}
`)
	app, store := "elector-demo", "fenced-store"
	storeIP := waitPhase(t, p, store, pod.PodRunning).Status.PodIP
	if storeIP == "" {
		t.Fatal("the fenced store has no pod IP")
	}

	var pods []string
	waitFor(t, "3 running replicas", func() bool {
		var list struct{ Items []*pod.Pod }
		res := mustPodctl(t, p, "get", "po", "-l", "app="+app, "-o", "json")
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		pods = pods[:0]
		for _, q := range list.Items {
			if q.Status.Phase == pod.PodRunning {
				pods = append(pods, q.Metadata.Name)
			}
		}
		return len(pods) == 3
	})
	// oneLeader waits until exactly one elector says it leads and the others name it.
	oneLeader := func(what string, ok func(electorStatus) bool) electorStatus {
		var leader electorStatus
		var seen []electorStatus
		waitFor(t, what, func() bool {
			seen = seen[:0]
			leaders := 0
			for _, name := range pods {
				st, answered := electorOf(t, p, name)
				if !answered {
					return false
				}
				seen = append(seen, st)
				if st.IsLeader {
					leaders++
					leader = st
				}
			}
			if leaders != 1 || !ok(leader) {
				return false
			}
			for _, st := range seen {
				if st.Leader != leader.Self || st.Token != leader.Token {
					return false
				}
			}
			return true
		})
		return leader
	}
	first := oneLeader("exactly one elector leads", func(electorStatus) bool { return true })
	t.Logf("leader %s with token %d", first.Self, first.Token)
	if code := fencedPut(t, p, first.Self, storeIP, first.Token); code != 204 {
		t.Fatalf("the leader's write with its token %d: %d, want 204", first.Token, code)
	}

	// kill -9 of every process of the leader's app container, from the host.
	leaderPod := getPod(t, p, first.Self)
	var ctrID string
	for _, cs := range leaderPod.Status.ContainerStatuses {
		if cs.Name == "app" {
			ctrID = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	procs := hostCgroupFile(t, "pids", cgroups.ContainerPath(p.CgroupRoot, leaderPod.Metadata.UID, ctrID), "cgroup.procs")
	killed, killedAt := 0, time.Now()
	for _, f := range strings.Fields(procs) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("cgroup.procs: %q", procs)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no process of the leader's app killed (cgroup.procs %q)", procs)
	}
	// A figure, not an assertion: how long podd took from the kill to the next grant, as its
	// main API's GET /v1/elections shows it (polled every millisecond or so).
	hc := unixHTTPClient(p.Socket)
	for deadline := time.Now().Add(podWaitTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		resp, err := hc.Get("http://podd/v1/elections?namespace=default")
		if err != nil {
			t.Fatal(err)
		}
		var views []elections.View
		err = json.NewDecoder(resp.Body).Decode(&views)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(views) == 1 && views[0].Token > first.Token {
			t.Logf("podd granted token %d to %s %v after the kill", views[0].Token, views[0].Leader, time.Since(killedAt).Round(time.Millisecond))
			break
		}
	}

	second := oneLeader("another elector leads with a higher token", func(st electorStatus) bool {
		return st.Self != first.Self && st.Token > first.Token
	})
	t.Logf("after kill -9: leader %s with token %d", second.Self, second.Token)
	if code := fencedPut(t, p, second.Self, storeIP, second.Token); code != 204 {
		t.Errorf("the new leader's write with token %d: %d, want 204", second.Token, code)
	}
	if code := fencedPut(t, p, first.Self, storeIP, first.Token); code != 409 {
		t.Errorf("a write with the old leader's token %d after the new leader's %d: %d, want 409", first.Token, second.Token, code)
	}

	// Figures, not assertions: the electors' resident memory idle, and after a thousand requests.
	rss := func() []string {
		var out []string
		for _, name := range pods {
			q := getPod(t, p, name)
			for _, cs := range q.Status.InitContainerStatuses {
				if cs.Name != "podd-elector" {
					continue
				}
				procs := hostCgroupFile(t, "pids", cgroups.ContainerPath(p.CgroupRoot, q.Metadata.UID, strings.TrimPrefix(cs.ContainerID, "containerd://")), "cgroup.procs")
				for _, pid := range strings.Fields(procs) {
					status, err := os.ReadFile("/proc/" + pid + "/status")
					if err != nil {
						continue
					}
					for _, line := range strings.Split(string(status), "\n") {
						if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "RssAnon:") {
							out = append(out, strings.Join(strings.Fields(line), " "))
						}
					}
				}
			}
		}
		return out
	}
	t.Logf("electors' VmRSS and RssAnon idle: %v", rss())
	p.Podctl(t, "exec", second.Self, "-c", "app", "--", "sh", "-c", `i=0; while [ $i -lt 1000 ]; do printf 'GET / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 4040 >/dev/null; i=$((i+1)); done`)
	t.Logf("electors' VmRSS and RssAnon after 1000 requests to %s: %v", second.Self, rss())

	// The example's app prints what its elector says.
	waitFor(t, "the new leader's app to have printed that it leads", func() bool {
		return strings.Contains(p.Podctl(t, "logs", second.Self, "-c", "app").Stdout, `"isLeader":true`)
	})

	t.Logf("electors' VmRSS and RssAnon at the end: %v", rss())

	// podctl shows the election.
	if out := mustPodctl(t, p, "get", "elections").Stdout; !regexp.MustCompile(`(?m)^` + app + ` +` + second.Self + ` +` + strconv.FormatUint(second.Token, 10) + ` +\d+ +\S+$`).MatchString(out) {
		t.Errorf("podctl get elections:\n%s", out)
	}
	out := mustPodctl(t, p, "describe", "election", app).Stdout
	for _, want := range []string{"Leader:", second.Self, "Token:", strconv.FormatUint(second.Token, 10)} {
		if !strings.Contains(out, want) {
			t.Errorf("podctl describe election lacks %q:\n%s", want, out)
		}
	}

	// Every grant and loss is an event naming the pod.
	defer func() {
		// kill -9 of podd: leases are not kept, the tokens are. After the restart the electors
		// campaign again and the next leader's token is above every earlier one.
		p.Kill9(t)
		p.Start(t)
		third := oneLeader("a leader after podd's kill -9 and restart, with a higher token", func(st electorStatus) bool {
			return st.Token > second.Token
		})
		t.Logf("after podd's restart: leader %s with token %d", third.Self, third.Token)
		if code := fencedPut(t, p, third.Self, storeIP, third.Token); code != 204 {
			t.Errorf("the leader's write after podd's restart with token %d: %d, want 204", third.Token, code)
		}
		if code := fencedPut(t, p, third.Self, storeIP, second.Token); code != 409 {
			t.Errorf("a write with the token before the restart (%d): %d, want 409", second.Token, code)
		}
	}()
	events := mustPodctl(t, p, "events").Stdout
	for _, want := range []string{"LeaderElected", "LeaderLost", fmt.Sprintf("pod %s lost the lead of election %s (token %d)", first.Self, app, first.Token)} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
}
