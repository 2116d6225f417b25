// Package apitest has in-memory fakes of api.Pods and api.Images and serves them on a unix socket,
// for the tests of the API, its client and podctl.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gopkg.in/yaml.v3"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Pods is an in-memory api.Pods. Its hooks, when set, replace the default behaviour of a method.
type Pods struct {
	mu   sync.Mutex
	pods map[string]*pod.Pod // namespace/name

	CreateHook func(ctx context.Context, manifest []byte) ([]*pod.Pod, error)
	WaitHook   func(ctx context.Context, namespace, name string) (*pod.Pod, error)
	LogsHook   func(ctx context.Context, namespace, name string, opts supervisor.LogOptions, w io.Writer) error
	ExecHook   func(ctx context.Context, namespace, name, container string, opts supervisor.ExecOptions) (int, error)

	// Calls records each call as "Method namespace/name ...".
	Calls []string

	events fakeEvents // events.go

	stats map[string]*pod.PodStats            // stats.go
	top   map[string][]pod.ContainerProcesses // stats.go
}

var _ api.Pods = (*Pods)(nil)

// NewPods returns a fake holding pods.
func NewPods(pods ...*pod.Pod) *Pods {
	f := &Pods{pods: map[string]*pod.Pod{}}
	for _, p := range pods {
		f.Put(p)
	}
	return f
}

// Put stores p as is (its namespace defaults to "default").
func (f *Pods) Put(p *pod.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Metadata.Namespace == "" {
		p.Metadata.Namespace = "default"
	}
	f.pods[p.Metadata.Namespace+"/"+p.Metadata.Name] = p
}

func (f *Pods) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, fmt.Sprintf(format, args...))
}

// CallLog returns the calls so far.
func (f *Pods) CallLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

// DecodeManifest decodes the pods of a YAML or JSON manifest, without podd's strict checks.
func DecodeManifest(manifest []byte) ([]*pod.Pod, error) {
	var pods []*pod.Pod
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	for {
		var doc any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%w: manifest: %v", errdefs.ErrInvalidArgument, err)
		}
		if doc == nil {
			continue
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("%w: manifest: %v", errdefs.ErrInvalidArgument, err)
		}
		var p pod.Pod
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("%w: manifest: %v", errdefs.ErrInvalidArgument, err)
		}
		pods = append(pods, &p)
	}
	if len(pods) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("manifest: no pod in it")
	}
	return pods, nil
}

func (f *Pods) Create(ctx context.Context, manifest []byte) ([]*pod.Pod, error) {
	f.record("Create")
	if f.CreateHook != nil {
		return f.CreateHook(ctx, manifest)
	}
	pods, err := DecodeManifest(manifest)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range pods {
		if p.Metadata.Namespace == "" {
			p.Metadata.Namespace = "default"
		}
		if _, ok := f.pods[p.Metadata.Namespace+"/"+p.Metadata.Name]; ok {
			return nil, errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("pod %s/%s already exists", p.Metadata.Namespace, p.Metadata.Name))
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, p := range pods {
		p.Metadata.UID = fmt.Sprintf("uid-%s-%s", p.Metadata.Namespace, p.Metadata.Name)
		p.Metadata.CreationTimestamp = &now
		p.Status.Phase = pod.PodPending
		f.pods[p.Metadata.Namespace+"/"+p.Metadata.Name] = p
	}
	return pods, nil
}

func (f *Pods) Get(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[namespace+"/"+name]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("pod %s/%s not found", namespace, name))
	}
	return p, nil
}

func (f *Pods) List(ctx context.Context, namespace string) ([]*pod.Pod, error) {
	f.record("List %s", namespace)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*pod.Pod
	for _, p := range f.pods {
		if namespace == "" || p.Metadata.Namespace == namespace {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Metadata, out[j].Metadata
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
}

func (f *Pods) WaitStarted(ctx context.Context, namespace, name string) (*pod.Pod, error) {
	f.record("WaitStarted %s/%s", namespace, name)
	if f.WaitHook != nil {
		return f.WaitHook(ctx, namespace, name)
	}
	return f.Get(ctx, namespace, name)
}

func (f *Pods) Stop(ctx context.Context, namespace, name string, grace *time.Duration) (*pod.Pod, error) {
	f.record("Stop %s/%s grace=%s", namespace, name, graceString(grace))
	p, err := f.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p.Status.Phase = pod.PodSucceeded
	return p, nil
}

func (f *Pods) Remove(ctx context.Context, namespace, name string, grace *time.Duration) error {
	f.record("Remove %s/%s grace=%s", namespace, name, graceString(grace))
	if _, err := f.Get(ctx, namespace, name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pods, namespace+"/"+name)
	return nil
}

func (f *Pods) Logs(ctx context.Context, namespace, name string, opts supervisor.LogOptions, w io.Writer) error {
	f.record("Logs %s/%s container=%s%s", namespace, name, opts.Container, logOptions(opts))
	if f.LogsHook != nil {
		return f.LogsHook(ctx, namespace, name, opts, w)
	}
	if _, err := f.Get(ctx, namespace, name); err != nil {
		return err
	}
	frame := ""
	if opts.Cursor {
		frame = "0/ F " // a line without a timestamp, framed
	}
	_, err := fmt.Fprintf(w, "%slog of %s/%s %s\n", frame, namespace, name, opts.Container)
	return err
}

// logOptions renders the options of a Logs call that are set, for Calls.
func logOptions(o supervisor.LogOptions) string {
	var s string
	for _, b := range []struct {
		set  bool
		name string
	}{{o.Follow, "follow"}, {o.Previous, "previous"}, {o.Timestamps, "timestamps"}, {o.Cursor, "cursor"}} {
		if b.set {
			s += " " + b.name
		}
	}
	if o.TailLines != nil {
		s += fmt.Sprintf(" tail=%d", *o.TailLines)
	}
	if o.SinceTime != nil {
		s += " since=" + o.SinceTime.UTC().Format(time.RFC3339)
	}
	if o.After != "" {
		s += " after=" + o.After
	}
	return s
}

func (f *Pods) Exec(ctx context.Context, namespace, name, container string, opts supervisor.ExecOptions) (int, error) {
	f.record("Exec %s/%s container=%s cmd=%q tty=%v", namespace, name, container, opts.Cmd, opts.Tty)
	if f.ExecHook != nil {
		return f.ExecHook(ctx, namespace, name, container, opts)
	}
	if _, err := f.Get(ctx, namespace, name); err != nil {
		return -1, err
	}
	return 0, nil
}

func graceString(g *time.Duration) string {
	if g == nil {
		return "nil"
	}
	return fmt.Sprint(int64(*g / time.Second))
}

// Images is an in-memory api.Images.
type Images struct {
	mu     sync.Mutex
	images []pod.Image
	// Imported holds the bytes of every import.
	Imported [][]byte
}

var _ api.Images = (*Images)(nil)

// NewImages returns a fake holding images.
func NewImages(images ...pod.Image) *Images { return &Images{images: images} }

// Import "imports" an archive whose lines are image names.
func (f *Images) Import(ctx context.Context, r io.Reader) ([]pod.Image, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Imported = append(f.Imported, b)
	var out []pod.Image
	for _, line := range bytes.Fields(b) {
		img := pod.Image{Name: string(line), Digest: "sha256:" + fmt.Sprintf("%064x", len(line)), Size: int64(len(b)), CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
		f.images = append(f.images, img)
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("archive holds no image")
	}
	return out, nil
}

func (f *Images) List(ctx context.Context) ([]pod.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pod.Image(nil), f.images...), nil
}

func (f *Images) Pull(ctx context.Context, ref string) (*pod.Image, error) {
	return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("pull %s: no registry is reachable", ref))
}

func (f *Images) Remove(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, img := range f.images {
		if img.Name == ref {
			f.images = append(f.images[:i], f.images[i+1:]...)
			return nil
		}
	}
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("image %q not found", ref))
}

// Serve serves h on a unix socket in a temporary folder until the test ends and returns the
// socket's path.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podd.sock")
	// A socket's path must fit in 108 bytes, and t.TempDir's names grow with the test's name.
	if len(sock) > 100 {
		dir, err := os.MkdirTemp("", "podd-api")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		sock = filepath.Join(dir, "podd.sock")
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// NewClient serves fakes with api.NewServer and returns a client of them.
func NewClient(t testing.TB, pods api.Pods, images api.Images) *api.Client {
	t.Helper()
	return api.NewClient(Serve(t, api.NewServer(pods, images, "v9.9.9-test", nil)))
}
