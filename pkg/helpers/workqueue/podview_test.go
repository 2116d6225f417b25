package workqueue

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// fakePodSocket serves GET /pod on a unix socket with the JSON body() returns.
func fakePodSocket(t *testing.T, body func() string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pod" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body()))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestPodView(t *testing.T) {
	var ended atomic.Bool
	sock := fakePodSocket(t, func() string {
		worker := `{"name": "worker", "state": {"running": {}}, "oomKills": 2}`
		if ended.Load() {
			worker = `{"name": "worker", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, "oomKills": 2}`
		}
		return `{"status": {"containerStatuses": [` + worker + `, {"name": "other", "state": {"running": {}}, "oomKills": 1}]}}`
	})
	v := NewPodView(sock)
	ctx := context.Background()
	st, err := v.workers(ctx)
	if err != nil || st.OOMKills != 3 || st.Exit != "" {
		t.Fatalf("workers: %+v %v", st, err)
	}
	f := v.explainKill(ctx, 2, spool.Failure{Error: "killed by signal killed"}, time.Second)
	if !strings.Contains(f.Error, "OOM killer") {
		t.Errorf("an OOM kill since the claim is not named: %q", f.Error)
	}
	if f := v.explainKill(ctx, 3, spool.Failure{Error: "killed"}, 200*time.Millisecond); f.Error != "killed" {
		t.Errorf("no OOM kill since the claim, yet: %q", f.Error)
	}
	if end := v.containerEnd(ctx, 200*time.Millisecond); end != "" {
		t.Errorf("a running worker has ended: %q", end)
	}
	ended.Store(true)
	if end := v.containerEnd(ctx, time.Second); end != "container worker: exit code 137 (OOMKilled)" {
		t.Errorf("end %q", end)
	}
	// No socket (another orchestrator): nothing read, nothing added.
	var none *PodView
	if none.Available() || none.containerEnd(ctx, time.Second) != "" || none.explainKill(ctx, 0, spool.Failure{Error: "x"}, time.Second).Error != "x" {
		t.Error("a nil view said something")
	}
	if NewPodView(filepath.Join(t.TempDir(), "absent.sock")).Available() {
		t.Error("an absent socket is available")
	}
}
