package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
)

// watchedPods adds the change channel the per-pod sockets wait on to the fake.
type watchedPods struct {
	*apitest.Pods
	mu      sync.Mutex
	changed chan struct{}
}

func (w *watchedPods) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

func (w *watchedPods) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
}

func socketPod(name, uid, annotation string) *pod.Pod {
	p := &pod.Pod{Metadata: pod.ObjectMeta{Name: name, Namespace: "default", UID: uid}}
	if annotation != "" {
		p.Metadata.Annotations = map[string]string{pod.AnnotationAPISocket: annotation}
	}
	p.Status.Phase = pod.PodRunning
	return p
}

// selfPeer admits this test process, as CgroupPeers admits the pod's processes.
func selfPeer(_ string, pid int32) error {
	if int(pid) != os.Getpid() {
		return fmt.Errorf("pid %d is not this test's: %w", pid, errdefs.ErrPermissionDenied)
	}
	return nil
}

func waitPath(t *testing.T, path string, exists bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat(path)
		if (err == nil) == exists {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: exists=%t never came (%v)", path, exists, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPodSockets(t *testing.T) {
	// Short: unix socket paths are limited to 108 bytes.
	root, err := os.MkdirTemp("", "ps")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	dir := func(uid string) string { return filepath.Join(root, uid, "api") }
	fake := apitest.NewPods(socketPod("web", "u-web", "true"), socketPod("other", "u-other", ""), socketPod("db", "u-db", "false"))
	pods := &watchedPods{Pods: fake, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); api.NewPodSockets(pods, dir, selfPeer, "v-test", nil).Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	sock := filepath.Join(dir("u-web"), api.PodSocketName)
	waitPath(t, sock, true)
	for _, uid := range []string{"u-other", "u-db"} {
		if _, err := os.Stat(dir(uid)); !os.IsNotExist(err) {
			t.Errorf("a socket folder for %s, which did not ask: %v", uid, err)
		}
	}

	c := api.NewClient(sock)
	p, err := c.GetPod(ctx, "default", "web")
	if err != nil || p.Metadata.UID != "u-web" || p.Status.Phase != pod.PodRunning {
		t.Fatalf("GetPod own = %+v, %v", p, err)
	}
	if list, err := c.ListPods(ctx, ""); err != nil || len(list) != 1 || list[0].Metadata.Name != "web" {
		t.Errorf("ListPods = %v, %v", list, err)
	}
	if _, err := c.GetPod(ctx, "default", "other"); !errdefs.IsNotFound(err) {
		t.Errorf("GetPod of another pod: %v, want not found", err)
	}
	if _, err := c.CreatePods(ctx, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("CreatePods: %v, want refused", err)
	}
	if err := c.RemovePod(ctx, "default", "web", nil); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("RemovePod: %v, want refused", err)
	}
	if _, err := c.PatchMetadata(ctx, "default", "web", pod.MetadataPatch{Labels: map[string]*string{"a": nil}}); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("PatchMetadata: %v, want refused", err)
	}
	if _, err := c.ListImages(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("ListImages: %v, want refused", err)
	}
	fake.AddEvent(pod.Event{Reason: "Started", InvolvedObject: pod.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u-web"}})
	fake.AddEvent(pod.Event{Reason: "Secret", InvolvedObject: pod.ObjectReference{Kind: "Pod", Namespace: "default", Name: "other", UID: "u-other"}})

	// The short paths.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	var got pod.Pod
	getJSON(t, hc, "/pod", &got)
	if got.Metadata.Name != "web" || got.Metadata.UID != "u-web" {
		t.Errorf("GET /pod = %+v", got.Metadata)
	}
	var evs api.EventList
	getJSON(t, hc, "/pod/events", &evs)
	if len(evs.Items) != 1 || evs.Items[0].Reason != "Started" {
		t.Errorf("GET /pod/events = %+v", evs.Items)
	}
	getJSON(t, hc, "/v1/events", &evs)
	if len(evs.Items) != 1 || evs.Items[0].Reason != "Started" {
		t.Errorf("GET /v1/events = %+v, want only the pod's own", evs.Items)
	}

	// The pod goes: the socket and its folder go too.
	if err := fake.Remove(ctx, "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	pods.notify()
	waitPath(t, filepath.Join(root, "u-web"), false)

	// A new pod that asks gets one; at shutdown the socket closes but the folder stays, for the
	// containers that have it mounted.
	fake.Put(socketPod("late", "u-late", "late"))
	pods.notify()
	late := filepath.Join(dir("u-late"), api.PodSocketName)
	waitPath(t, late, true)
	cancel()
	<-done
	waitPath(t, late, false)
	if _, err := os.Stat(dir("u-late")); err != nil {
		t.Errorf("the folder went at shutdown: %v", err)
	}
}

func getJSON(t *testing.T, hc *http.Client, path string, out any) {
	t.Helper()
	resp, err := hc.Get("http://pod" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
