package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

func testPod(ns, name string) *pod.Pod {
	return &pod.Pod{
		APIVersion: "v1", Kind: "Pod",
		Metadata: pod.ObjectMeta{Name: name, Namespace: ns},
		Spec:     pod.PodSpec{Containers: []pod.Container{{Name: "app", Image: "busybox"}}},
		Status:   pod.PodStatus{Phase: pod.PodRunning},
	}
}

// rawClient makes plain HTTP requests on the socket, for what the Go client never sends.
func rawClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func rawDo(t *testing.T, sock, method, path string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://podd"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rawClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func names(pods []*pod.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Metadata.Namespace+"/"+p.Metadata.Name)
	}
	return out
}

func TestPodRoutes(t *testing.T) {
	ctx := t.Context()
	pods := apitest.NewPods(testPod("default", "web"), testPod("other", "db"))
	c := apitest.NewClient(t, pods, apitest.NewImages())

	created, err := c.CreatePods(ctx, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: other}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(created), []string{"default/a", "other/b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CreatePods = %v, want %v", got, want)
	}

	all, err := c.ListPods(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(all), []string{"default/a", "default/web", "other/b", "other/db"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListPods(all) = %v, want %v", got, want)
	}
	other, err := c.ListPods(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(other), []string{"other/b", "other/db"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListPods(other) = %v, want %v", got, want)
	}

	p, err := c.GetPod(ctx, "default", "web")
	if err != nil || p.Metadata.Name != "web" || p.Spec.Containers[0].Image != "busybox" {
		t.Errorf("GetPod = %+v, %v", p, err)
	}
	if p, err := c.WaitStarted(ctx, "other", "db"); err != nil || p.Metadata.Name != "db" {
		t.Errorf("WaitStarted = %+v, %v", p, err)
	}
	grace := int64(7)
	if p, err := c.StopPod(ctx, "default", "web", &grace); err != nil || p.Status.Phase != pod.PodSucceeded {
		t.Errorf("StopPod = %+v, %v", p, err)
	}
	if _, err := c.StopPod(ctx, "default", "web", nil); err != nil {
		t.Errorf("StopPod without grace: %v", err)
	}
	zero := int64(0)
	if err := c.RemovePod(ctx, "default", "web", &zero); err != nil {
		t.Errorf("RemovePod: %v", err)
	}
	if _, err := c.GetPod(ctx, "default", "web"); !errdefs.IsNotFound(err) {
		t.Errorf("GetPod after RemovePod: %v, want not found", err)
	}
	var sb strings.Builder
	if err := c.Logs(ctx, "other", "db", api.LogsOptions{Container: "side"}, &sb); err != nil || sb.String() != "log of other/db side\n" {
		t.Errorf("Logs = %q, %v", sb.String(), err)
	}

	want := []string{"Create", "List ", "List other", "WaitStarted other/db", "Stop default/web grace=7",
		"Stop default/web grace=nil", "Remove default/web grace=0", "Logs other/db container=side"}
	if got := pods.CallLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
}

func TestImageRoutes(t *testing.T) {
	ctx := t.Context()
	images := apitest.NewImages(pod.Image{Name: "docker.io/library/busybox:latest", Digest: "sha256:aa", Size: 10})
	c := apitest.NewClient(t, apitest.NewPods(), images)

	imported, err := c.ImportImage(ctx, strings.NewReader("example.com/a/b:1\nexample.com/c:2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(imported) != 2 || imported[0].Name != "example.com/a/b:1" {
		t.Errorf("ImportImage = %+v", imported)
	}
	list, err := c.ListImages(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListImages = %+v, %v", list, err)
	}
	// A reference with slashes and a colon travels as a query parameter.
	if err := c.RemoveImage(ctx, "example.com/a/b:1"); err != nil {
		t.Errorf("RemoveImage: %v", err)
	}
	if err := c.RemoveImage(ctx, "example.com/a/b:1"); !errdefs.IsNotFound(err) || err.Error() != `image "example.com/a/b:1" not found` {
		t.Errorf("RemoveImage again: %v, want not found", err)
	}
	if _, err := c.PullImage(ctx, "docker.io/library/alpine:3"); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "alpine:3") {
		t.Errorf("PullImage: %v, want unavailable", err)
	}
	v, err := c.Version(ctx)
	if err != nil || v.Version != "v9.9.9-test" {
		t.Errorf("Version = %+v, %v", v, err)
	}
}

// errPods fails every call with err.
type errPods struct {
	apitest.Pods
	err error
}

func (p *errPods) Get(context.Context, string, string) (*pod.Pod, error) { return nil, p.err }

func TestErrorClasses(t *testing.T) {
	joined := errors.Join(
		fmt.Errorf("%w: spec.containers[0].image: required", errdefs.ErrInvalidArgument),
		fmt.Errorf("%w: spec.containers[1].name: duplicate", errdefs.ErrInvalidArgument))
	// The message on the wire is a sentence without the class's name that wrapping an errdefs
	// error with %w writes (": failed precondition"): the class travels in its own field.
	tests := []struct {
		err     error
		class   api.Class
		status  int
		is      func(error) bool
		message string
	}{
		{joined, api.ClassInvalid, 400, errdefs.IsInvalidArgument,
			"spec.containers[0].image: required\nspec.containers[1].name: duplicate"},
		{fmt.Errorf("pod default/x: %w", errdefs.ErrNotFound), api.ClassNotFound, 404, errdefs.IsNotFound, "pod default/x: not found"},
		{fmt.Errorf(`pod "x" not found in namespace "default": %w`, errdefs.ErrNotFound), api.ClassNotFound, 404, errdefs.IsNotFound,
			`pod "x" not found in namespace "default"`},
		{errdefs.ErrAlreadyExists.WithMessage("pod default/x already exists"), api.ClassAlreadyExists, 409, errdefs.IsAlreadyExists,
			"pod default/x already exists"},
		{fmt.Errorf("pod=init-demo: %w", fmt.Errorf("container init-myservice exited with code 1 (Error): %w", errdefs.ErrFailedPrecondition)),
			api.ClassFailedPrecondition, 412, errdefs.IsFailedPrecondition, "pod=init-demo: container init-myservice exited with code 1 (Error)"},
		{fmt.Errorf("containerd: %w", errdefs.ErrUnavailable), api.ClassUnavailable, 503, errdefs.IsUnavailable, "containerd"},
		{fmt.Errorf("pods \"x\" is forbidden: %w", errdefs.ErrPermissionDenied), api.ClassForbidden, 403, errdefs.IsPermissionDenied,
			`pods "x" is forbidden`},
		{fmt.Errorf("store pod x: %w: no space left on device", errdefs.ErrResourceExhausted), api.ClassResourceExhausted, 507, errdefs.IsResourceExhausted,
			"store pod x: no space left on device"},
		{fmt.Errorf("%w: still in use: %w", errdefs.ErrFailedPrecondition, errors.New("device busy")), api.ClassFailedPrecondition, 412, errdefs.IsFailedPrecondition,
			"still in use: device busy"},
		// A message that merely contains a class's words keeps them.
		{fmt.Errorf("volume data: %w", errors.New("hostPath /srv: not found")), api.ClassInternal, 500, errdefs.IsInternal,
			"volume data: hostPath /srv: not found"},
		{errors.New("disk on fire"), api.ClassInternal, 500, errdefs.IsInternal, "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(string(tt.class), func(t *testing.T) {
			pods := &errPods{Pods: *apitest.NewPods(), err: tt.err}
			sock := apitest.Serve(t, api.NewServer(pods, apitest.NewImages(), "v", nil))

			resp, body := rawDo(t, sock, http.MethodGet, "/v1/namespaces/default/pods/x", nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var er api.ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil || er.Error == nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if er.Error.Class != tt.class || er.Error.Message != tt.message {
				t.Errorf("error = %+v, want class %s message %q", er.Error, tt.class, tt.message)
			}

			_, err := api.NewClient(sock).GetPod(t.Context(), "default", "x")
			if !tt.is(err) {
				t.Errorf("client error %v is not of class %s", err, tt.class)
			}
			if err == nil || err.Error() != tt.message {
				t.Errorf("client message = %q, want %q", err, tt.message)
			}
			if api.ClassOf(err) != tt.class {
				t.Errorf("ClassOf(client error) = %s", api.ClassOf(err))
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	sock := apitest.Serve(t, api.NewServer(apitest.NewPods(testPod("default", "web")), apitest.NewImages(), "v", nil))
	tests := []struct {
		method, path string
		body         string
		status       int
		class        api.Class
		message      string
	}{
		{"POST", "/v1/namespaces/default/pods/web/stop?grace=-1", "", 400, api.ClassInvalid, `grace "-1"`},
		{"DELETE", "/v1/namespaces/default/pods/web?grace=soon", "", 400, api.ClassInvalid, `grace "soon"`},
		{"POST", "/v1/pods", "", 400, api.ClassInvalid, "body is empty"},
		{"POST", "/v1/pods", "kind: [", 400, api.ClassInvalid, "manifest"},
		{"POST", "/v1/images/pull", "", 400, api.ClassInvalid, "ref is required"},
		{"DELETE", "/v1/images", "", 400, api.ClassInvalid, "ref is required"},
		{"GET", "/v1/nothing", "", 404, api.ClassNotFound, "no endpoint GET /v1/nothing"},
		{"GET", "/v2/pods", "", 404, api.ClassNotFound, "no endpoint"},
		{"PUT", "/v1/pods", "", 405, api.ClassInvalid, "method PUT is not allowed"},
		{"DELETE", "/v1/version", "", 405, api.ClassInvalid, "not allowed"},
		// exec without the upgrade headers
		{"POST", "/v1/namespaces/default/pods/web/exec", `{"command":["sh"]}`, 400, api.ClassInvalid, "Upgrade"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			resp, body := rawDo(t, sock, tt.method, tt.path, strings.NewReader(tt.body))
			var er api.ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil || er.Error == nil {
				t.Fatalf("status %d body %s: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != tt.status || er.Error.Class != tt.class || !strings.Contains(er.Error.Message, tt.message) {
				t.Errorf("got %d %+v, want %d %s containing %q", resp.StatusCode, er.Error, tt.status, tt.class, tt.message)
			}
		})
	}
	resp, _ := rawDo(t, sock, "PUT", "/v1/pods", nil)
	if got := resp.Header.Values("Allow"); !reflect.DeepEqual(got, []string{"GET", "POST"}) {
		t.Errorf("Allow = %q", got)
	}
}

func TestResponseShapes(t *testing.T) {
	sock := apitest.Serve(t, api.NewServer(apitest.NewPods(), apitest.NewImages(), "v1.2.3", nil))
	for path, want := range map[string]string{
		"/v1/pods":    `{"items":[]}`,
		"/v1/images":  `{"items":[]}`,
		"/v1/version": `{"version":"v1.2.3"}`,
	} {
		resp, body := rawDo(t, sock, "GET", path, nil)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != want {
			t.Errorf("GET %s = %d %s, want %s", path, resp.StatusCode, body, want)
		}
	}
	resp, body := rawDo(t, sock, "POST", "/v1/pods", strings.NewReader(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"}}`))
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(string(body), `{"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j","namespace":"default"`) {
		t.Errorf("POST /v1/pods = %d %s", resp.StatusCode, body)
	}
	resp, _ = rawDo(t, sock, "DELETE", "/v1/namespaces/default/pods/j", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE pod = %d", resp.StatusCode)
	}
}

func TestLogsStream(t *testing.T) {
	ctx := t.Context()
	release := make(chan struct{})
	pods := apitest.NewPods(testPod("default", "web"))
	pods.LogsHook = func(ctx context.Context, ns, name string, opts supervisor.LogOptions, w io.Writer) error {
		switch opts.Container {
		case "missing":
			return errdefs.ErrNotFound.WithMessage("container missing not found in pod default/web")
		case "broken":
			fmt.Fprintln(w, "line 1")
			return fmt.Errorf("read log: %w", errdefs.ErrUnavailable)
		}
		fmt.Fprintln(w, "line 1")
		<-release // the first line must reach the client before the log ends
		fmt.Fprintln(w, "line 2")
		return nil
	}
	c := apitest.NewClient(t, pods, apitest.NewImages())

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Logs(ctx, "default", "web", api.LogsOptions{}, pw); pw.Close() }()
	buf := make([]byte, 7)
	if _, err := io.ReadFull(pr, buf); err != nil || string(buf) != "line 1\n" {
		t.Fatalf("first line = %q, %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(pr)
	if string(rest) != "line 2\n" {
		t.Errorf("rest = %q", rest)
	}
	if err := <-done; err != nil {
		t.Errorf("Logs: %v", err)
	}

	if err := c.Logs(ctx, "default", "web", api.LogsOptions{Container: "missing"}, io.Discard); !errdefs.IsNotFound(err) {
		t.Errorf("Logs(missing) = %v, want not found", err)
	}
	var sb strings.Builder
	err := c.Logs(ctx, "default", "web", api.LogsOptions{Container: "broken"}, &sb)
	if !errdefs.IsUnavailable(err) || err.Error() != "read log" || sb.String() != "line 1\n" {
		t.Errorf("Logs(broken) = %q, %v; want the line, then the error from the trailer", sb.String(), err)
	}
}

func TestUnreachable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()

	absent := filepath.Join(dir, "absent.sock")
	_, err := api.NewClient(absent).Version(ctx)
	if want := "cannot reach podd at " + absent + ": is podd running?"; err == nil || err.Error() != want {
		t.Errorf("absent socket: %v, want %q", err, want)
	}
	if !errdefs.IsUnavailable(err) {
		t.Errorf("absent socket: %v is not unavailable", err)
	}

	// A socket file that nobody listens on any more: connection refused.
	refused := filepath.Join(dir, "refused.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: refused, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(refused); err != nil {
		t.Fatal(err)
	}
	_, err = api.NewClient(refused).ListPods(ctx, "")
	if want := "cannot reach podd at " + refused + ": is podd running?"; err == nil || err.Error() != want || !errdefs.IsUnavailable(err) {
		t.Errorf("refused socket: %v, want %q", err, want)
	}
}

// recordHandler keeps the records it handles.
type recordHandler struct {
	slog.Handler
	records chan slog.Record
}

func (h recordHandler) Handle(ctx context.Context, r slog.Record) error {
	h.records <- r
	return nil
}

func TestRequestLog(t *testing.T) {
	h := recordHandler{Handler: slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}), records: make(chan slog.Record, 10)}
	sock := apitest.Serve(t, api.NewServer(apitest.NewPods(), apitest.NewImages(), "v", slog.New(h)))
	rawDo(t, sock, "GET", "/v1/namespaces/default/pods/nope", nil)
	select {
	case r := <-h.records:
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		if r.Level != slog.LevelDebug || attrs["method"] != "GET" || attrs["path"] != "/v1/namespaces/default/pods/nope" || attrs["status"] != "404" || attrs["duration"] == "" {
			t.Errorf("log record %s %v", r.Level, attrs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no log record")
	}
}

func TestCreateBodyPassedRaw(t *testing.T) {
	var got []byte
	pods := apitest.NewPods()
	pods.CreateHook = func(ctx context.Context, manifest []byte) ([]*pod.Pod, error) {
		got = manifest
		return nil, nil
	}
	c := apitest.NewClient(t, pods, apitest.NewImages())
	manifest := []byte("# comment kept\napiVersion: v1\nkind: Pod\n---\n{\"json\": true}\n")
	created, err := c.CreatePods(t.Context(), manifest)
	if err != nil || len(created) != 0 {
		t.Fatalf("CreatePods = %v, %v", created, err)
	}
	if !bytes.Equal(got, manifest) {
		t.Errorf("Pods.Create got %q, want the body unchanged", got)
	}
}
