package controller

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"web.yaml", true}, {"web.yml", true}, {"web.json", true}, {"WEB.YAML", true},
		{".web.yaml", false}, {".web.yaml.swp", false}, {"web.yaml~", false}, {"#web.yaml#", false},
		{".#web.yaml", false}, {"web.yaml.bak", false}, {"web.txt", false}, {"web", false}, {"4913", false},
		{"web.yaml.dpkg-new", false},
	} {
		if got := Wanted(tc.name); got != tc.want {
			t.Errorf("Wanted(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "a")
	write(".b.yaml", "b")
	write("c.json", "c")
	os.Mkdir(filepath.Join(dir, "d.yaml"), 0o755)                           // a folder: not a manifest
	os.Symlink(filepath.Join(dir, "c.json"), filepath.Join(dir, "e.yml"))   // a link: its target counts
	os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "f.yaml")) // dangling: ignored
	files, skip, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a.yaml": "a", "c.json": "c", "e.yml": "c"}
	if len(files) != len(want) || len(skip) != 0 {
		t.Errorf("files %v skip %v, want %v", files, skip, want)
	}
	for name, content := range want {
		if got := string(files[filepath.Join(dir, name)]); got != content {
			t.Errorf("%s: %q, want %q", name, got, content)
		}
	}
	if files, _, err := Read(filepath.Join(dir, "none")); err != nil || len(files) != 0 {
		t.Errorf("a missing folder: %v, %v; want no files and no error", files, err)
	}
}

// Watch follows changes at once (inotify), a folder created after it started (at the rescan),
// and ends with its context.
func TestWatch(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pods.d")
	var mu sync.Mutex
	var last map[string][]byte
	calls := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		Watch(ctx, dir, 300*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func(_ context.Context, files map[string][]byte) {
			mu.Lock()
			last = files
			mu.Unlock()
			calls <- struct{}{}
		}, nil)
		close(done)
	}()
	waitFiles := func(what string, n int) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			mu.Lock()
			got := len(last)
			mu.Unlock()
			if got == n {
				return
			}
			select {
			case <-calls:
			case <-deadline:
				t.Fatalf("%s: %d files, want %d", what, got, n)
			}
		}
	}
	<-calls // the first read, of a folder that does not exist yet
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a"), 0o644)
	waitFiles("folder created later", 1)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("b"), 0o644)
	waitFiles("file added", 2)
	os.Remove(filepath.Join(dir, "a.yaml"))
	waitFiles("file removed", 1)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not end with its context")
	}
}

// An unreadable folder is never synced (that would remove every static pod), but first is still
// called, so that podd does not wait for it forever.
func TestWatchUnreadableFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pods.d")
	if err := os.WriteFile(file, nil, 0o644); err != nil { // a file where the folder should be
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := make(chan struct{})
	go Watch(ctx, file, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)), func(context.Context, map[string][]byte) {
		t.Error("synced an unreadable folder")
	}, func() { close(first) })
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("first was not called")
	}
}
