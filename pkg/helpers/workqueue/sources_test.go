package workqueue

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// TestSources: a folder (a symbolic link followed, as a ConfigMap's keys are; dot files
// skipped), a file of lines and an HTTP list each add their items once however often they are read,
// and an item added to a source later is picked up.
func TestSources(t *testing.T) {
	dir, lines := t.TempDir(), filepath.Join(t.TempDir(), "jobs.txt")
	os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("H"), 0o644)
	os.Mkdir(filepath.Join(dir, "..data"), 0o755)
	os.WriteFile(filepath.Join(dir, "..data", "b"), []byte("B"), 0o644)
	os.Symlink("..data/b", filepath.Join(dir, "b"))
	os.WriteFile(lines, []byte("one\ntwo\n"), 0o644)
	var mu sync.Mutex
	list := "x\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, list)
	}))
	defer srv.Close()
	h, err := NewHelper(Config{Spool: t.TempDir(), WorkDir: t.TempDir(), SourceDirs: []string{dir}, SourceLines: []string{lines},
		SourceURLs: []string{srv.URL + "/feed/items.txt"}, Policy: spool.DefaultPolicy, Poll: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if err := h.maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() string {
		items, _ := h.Spool().Items(spool.StateNew)
		var out []string
		for _, m := range items {
			out = append(out, m.ID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(); got != "a,b,items-000001,jobs-000001,jobs-000002" {
		t.Fatalf("items %s", got)
	}
	os.WriteFile(filepath.Join(dir, "c"), []byte("C"), 0o644)
	os.WriteFile(lines, []byte("one\ntwo\nthree\n"), 0o644)
	mu.Lock()
	list = "x\ny\n"
	mu.Unlock()
	if err := h.maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(); got != "a,b,c,items-000001,items-000002,jobs-000001,jobs-000002,jobs-000003" {
		t.Fatalf("items after additions %s", got)
	}
	l, _ := h.Spool().Claim("t")
	if b, _ := os.ReadFile(l.Input()); string(b) != "A" {
		t.Fatalf("input of a: %q", b)
	}
	mu.Lock()
	list = strings.Repeat("z", 10)
	mu.Unlock()
	srv.Close()
	if err := h.maintain(ctx); err == nil || !strings.Contains(err.Error(), "--source-url") {
		t.Fatalf("a source that is down: %v", err)
	}
}
