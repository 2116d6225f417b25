package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/pod"
)

// contentServer serves one tar archive at a time, with an ETag, answering If-None-Match as a
// web server does, on the podd's bridge gateway (the host's address as its pods see it).
type contentServer struct {
	mu      sync.Mutex
	version int
	body    []byte
	gets    int
}

// contentBigSize is the size of each version's big file: large enough that a reader would see a
// file half written if the helper wrote in place.
const contentBigSize = 256 << 10

func (s *contentServer) set(t testing.TB, version int) {
	t.Helper()
	v := fmt.Sprint(version)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"a", v}, {"b", v}, {"big", strings.Repeat(v, contentBigSize)}, {"index.html", "<h1>version " + v + "</h1>\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.body = version, buf.Bytes()
}

func (s *contentServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	etag, body := fmt.Sprintf(`"v%d"`, s.version), s.body
	s.gets++
	s.mu.Unlock()
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}

// listenGateway listens on the podd's bridge gateway, which exists only once a pod is attached:
// IP_FREEBIND binds the address before the bridge has it, as podd's DNS does.
func listenGateway(t testing.TB, p *Podd) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1) }); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort(gatewayOf(p), "0"))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// contentSyncScripts: the web container's main process (webmain: traps HUP and records the
// version it then sees) and its reader loop (reader: resolves the link once per round, reads
// every file of that version, and records a mix of versions or a partial file if it ever sees
// one, and each version it sees, in order).
const contentSyncScripts = `apiVersion: v1
kind: ConfigMap
metadata: {name: %[1]s-scripts}
data:
  webmain: |
    #!/bin/sh
    trap 'echo "hup $(cat /content/current/a 2>/dev/null)" >> /tmp/hups' HUP
    /scripts/reader &
    while :; do sleep 1 & wait $!; done
  reader: |
    #!/bin/sh
    last=
    while :; do
      d=$(readlink -f /content/current 2>/dev/null)
      if [ -z "$d" ] || [ ! -d "$d" ]; then sleep 0.05; continue; fi
      a=$(cat "$d/a" 2>/dev/null) || continue
      b=$(cat "$d/b" 2>/dev/null) || continue
      size=$(wc -c < "$d/big" 2>/dev/null) || continue
      other=$(tr -d "$a" < "$d/big" | wc -c)
      if [ "$a" != "$b" ]; then echo "mix a=$a b=$b in $d" >> /tmp/bad; fi
      if [ "$size" != "%[2]d" ] || [ "$other" != 0 ]; then echo "partial big of $a: $size bytes, $other not $a, in $d" >> /tmp/bad; fi
      if [ "$a" != "$last" ]; then echo "$a" >> /tmp/seen; last=$a; fi
      sleep 0.02
    done
`

// TestContentSyncSidecar: content-sync as a native sidecar beside a busybox web container that
// shares its process namespace; the source is an HTTP server on the host, reached through the
// bridge gateway. The content changes twice: the web container sees versions 1, 2 and 3 in order,
// its reader never sees a mix of two versions or a partial file, and it gets exactly one HUP
// after each change, when the new version is already in place. When the pod stops, the sidecar
// exits 0 after the web container.
func TestContentSyncSidecar(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	name := uniqueName(t)
	src := &contentServer{}
	src.set(t, 1)
	ln := listenGateway(t, p)
	srv := &http.Server{Handler: src, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	p.ApplyManifest(t, fmt.Sprintf(contentSyncScripts, name, contentBigSize)+fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: %[1]s}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: content-sync
    image: %[2]s
    restartPolicy: Always
    args: [content-sync, --source, "http://%[3]s/site.tar", --root, /content, --period, 500ms,
           --signal-process, webmain, --signal, HUP]
    volumeMounts: [{name: content, mountPath: /content}]
  containers:
  - name: web
    image: %[4]s
    command: [/scripts/webmain]
    volumeMounts:
    - {name: content, mountPath: /content, readOnly: true}
    - {name: scripts, mountPath: /scripts}
  volumes:
  - name: content
    emptyDir: {}
  - name: scripts
    configMap: {name: %[1]s-scripts, defaultMode: 0755}
`, name, patternsImage, ln.Addr().String(), busyboxImage))
	waitPhase(t, p, name, pod.PodRunning)

	read := func(path string) string {
		res := p.Podctl(t, "exec", name, "-c", "web", "--", "cat", path)
		return res.Stdout
	}
	waitContent := func(what, path string, cond func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := read(path)
			if cond(got) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s reads %q after 60s\ncontent-sync's log:\n%s", what, path, got, podLogs(t, p, name, "content-sync"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitContent("version 1 seen by the reader", "/tmp/seen", func(s string) bool { return s == "1\n" })
	// The first version may be published before the web container runs (the sidecar starts
	// first): its signal then finds no process, which the helper logs. Changes 2 and 3 find it.
	for _, v := range []int{2, 3} {
		src.set(t, v)
		want := fmt.Sprintf("hup %d\n", v)
		waitContent(fmt.Sprintf("the HUP after version %d", v), "/tmp/hups", func(s string) bool { return strings.Contains(s, want) })
		waitContent(fmt.Sprintf("version %d seen by the reader", v), "/tmp/seen", func(s string) bool { return strings.HasSuffix(s, fmt.Sprintf("%d\n", v)) })
	}
	// A few more periods of an unchanged source: no more HUPs.
	src.mu.Lock()
	gets := src.gets
	src.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		src.mu.Lock()
		n := src.gets
		src.mu.Unlock()
		if n >= gets+4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("content-sync looked at the source %d times in 60s, want 4 (period 500ms)", n-gets)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if got := read("/tmp/seen"); got != "1\n2\n3\n" {
		t.Errorf("the reader saw the versions %q, want 1, 2, 3 in order", got)
	}
	hups := strings.ReplaceAll(read("/tmp/hups"), "hup 1\n", "") // version 1's, if the web container was running
	if hups != "hup 2\nhup 3\n" {
		t.Errorf("HUPs recorded %q, want one after each change, each seeing the new version: hup 2, hup 3", hups)
	}
	if res := p.Podctl(t, "exec", name, "-c", "web", "--", "cat", "/tmp/bad"); res.ExitCode == 0 || strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("the reader saw a mix of versions or a partial file:\n%s", res.Stdout)
	}
	if got := read("/content/current/index.html"); got != "<h1>version 3</h1>\n" {
		t.Errorf("/content/current/index.html = %q", got)
	}
	if got := strings.Fields(mustPodctl(t, p, "exec", name, "-c", "web", "--", "ls", "-A", "/content/.versions").Stdout); len(got) != 1 {
		t.Errorf("/content/.versions holds %v, want only the current version", got)
	}
	logs := podLogs(t, p, name, "content-sync")
	if n := strings.Count(logs, `"msg":"published"`); n != 3 {
		t.Errorf("content-sync logged %d publications, want 3:\n%s", n, logs)
	}

	// Measured, not asserted: the sidecar's memory, idle between looks (the web container sees
	// its process through the shared PID namespace).
	rss := mustPodctl(t, p, "exec", name, "-c", "web", "--", "sh", "-c", `grep -E "VmRSS|RssAnon|RssFile" /proc/$(pidof podd-patterns)/status`).Stdout
	t.Logf("content-sync's memory, idle in the pod: %s", strings.Join(strings.Fields(rss), " "))

	mustPodctl(t, p, "stop", name, "--grace", "10")
	got := getPod(t, p, name)
	for _, cs := range got.Status.InitContainerStatuses {
		if cs.Name != "content-sync" {
			continue
		}
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			t.Errorf("content-sync after the stop: %+v, want terminated with exit code 0 (SIGTERM)", cs.State)
		}
		return
	}
	t.Errorf("no status of the content-sync sidecar: %+v", got.Status.InitContainerStatuses)
}

// contentSyncEdit is the ConfigMap edit specs/patterns/content-sync.md shows.
const contentSyncEdit = `apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data:
  index.html: |
    <h1>version 2</h1>
`

// TestContentSyncExample runs specs/patterns/content-sync.yaml as specs/patterns/content-sync.md
// shows it, on a podd of its own (the example's names are fixed): the page of the ConfigMap is
// served through /content/current; after `podctl apply` of an edit, podd swaps the ConfigMap
// volume's ..data, content-sync copies and publishes the new version and signals httpd, and the
// page shows the edit. The delay from the apply to the new page is logged, not asserted (with the
// default period of 10s, under a second means the inotify watch saw the ..data swap).
func TestContentSyncExample(t *testing.T) {
	t.Parallel()
	p := startPodd(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "specs", "patterns", "content-sync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "podd.io/inject: content-sync") {
		t.Fatal("the example does not ask for content-sync by podd.io/inject")
	}
	applyManifest(t, p, strings.ReplaceAll(string(data), "localhost/podd/busybox:1.35", busyboxImage))
	mustPodctl(t, p, "wait", "--for=condition=Ready", "--timeout", "120s", "pod/content-sync-demo")
	if q := getPod(t, p, "content-sync-demo"); len(q.Spec.InitContainers) != 1 || q.Spec.InitContainers[0].Name != "podd-content-sync" ||
		q.Spec.InitContainers[0].Image != patternsImage {
		t.Fatalf("init containers %+v, want the injected podd-content-sync of %s", q.Spec.InitContainers, patternsImage)
	}
	page := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			res := p.Podctl(t, "exec", "content-sync-demo", "-c", "web", "--", "wget", "-qO-", "http://127.0.0.1:8080/current/index.html")
			if res.ExitCode == 0 && res.Stdout == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page reads %s after 60s, want %q\ncontent-sync's log:\n%s", res, want, podLogs(t, p, "content-sync-demo", "podd-content-sync"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	page("<h1>version 1</h1>\n")
	start := time.Now()
	mustPodctlInput(t, p, strings.NewReader(contentSyncEdit), "apply", "-f", "-")
	page("<h1>version 2</h1>\n")
	t.Logf("ConfigMap edit (podctl apply) to the new page served through content-sync: %v", time.Since(start))
	logs := podLogs(t, p, "content-sync-demo", "podd-content-sync")
	if !strings.Contains(logs, `"msg":"signalled","helper":"content-sync","process":"httpd"`) {
		t.Errorf("content-sync did not log a signal to httpd after the edit:\n%s", logs)
	}
	if cs := containerStatus(t, getPod(t, p, "content-sync-demo"), "web"); cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("web after the HUP: %+v, want running, never restarted (busybox httpd re-reads its configuration on SIGHUP)", cs)
	}
}

func mustPodctlInput(t testing.TB, p *Podd, stdin io.Reader, args ...string) Result {
	t.Helper()
	res := p.PodctlInput(t, stdin, args...)
	if res.ExitCode != 0 {
		t.Fatalf("podctl %s: %s", strings.Join(args, " "), res)
	}
	return res
}
