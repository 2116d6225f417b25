package workqueue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/helpers/workqueue/spool"
)

// BenchmarkItemOverhead: the framework's cost per item in its long-lived mode (one worker: the
// helper and the runner in this process, the user's program `true` run once per item, its output
// committed), reported as ms/item beside the floor — `true` started directly — and their
// difference, overhead-ms/item. The spool is on TMPDIR's filesystem: each item's claim and commit
// fsync their files and folders.
func BenchmarkItemOverhead(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true")
	}
	// The floor: the same program, started directly.
	start := time.Now()
	for range b.N {
		if err := exec.Command(truePath).Run(); err != nil {
			b.Fatal(err)
		}
	}
	floor := time.Since(start)

	spoolDir, work := b.TempDir(), b.TempDir()
	h, err := NewHelper(Config{Spool: spoolDir, WorkDir: work, Policy: spool.DefaultPolicy, Until: "empty", Poll: 10 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if _, err := h.Spool().Add(fmt.Sprintf("i%07d", i), strings.NewReader("x")); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	b.ResetTimer()
	start = time.Now()
	err = RunWorker(ctx, RunnerConfig{WorkDir: work, Command: []string{truePath}, ConnectTimeout: 10 * time.Second,
		TailBytes: 4096, Stdout: io.Discard, Stderr: io.Discard})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if c, _ := h.Spool().Counts(); c.Done != b.N {
		b.Fatalf("%+v, want %d done", c, b.N)
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(per(elapsed), "ms/item")
	b.ReportMetric(per(floor), "floor-ms/item")
	b.ReportMetric(per(elapsed)-per(floor), "overhead-ms/item")
	_ = os.RemoveAll(spoolDir)
}
