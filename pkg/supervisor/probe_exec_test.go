package supervisor

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/containerd/containerd/cio"

	"github.com/podd-dev/podd/pkg/pod"
)

// An exec probe's output reaches its failure message whole, however the command's stdout and
// stderr interleave. The runtime hands both writers to containerd's cio, which copies each stream
// in its own goroutine with io.CopyBuffer (so with bytes.Buffer.ReadFrom, when the writer is a
// bytes.Buffer): one buffer shared by two streams lost the message, or kept only NUL bytes of its
// length, when the stream that ended empty (stdout) finished its ReadFrom after the other's.
// The fake exec here is that path for real: cio's FIFOs, written as the shim writes them.
func TestExecProbeOutputKeptWhole(t *testing.T) {
	const msg = "cat: can't open '/tmp/healthy': No such file or directory"
	fifoDir := t.TempDir()
	rt := newFakeRuntime()
	rt.containers["c1"] = &fakeContainer{rec: ContainerRecord{ID: "c1", Name: "app"}}
	w := &worker{m: &Manager{rt: rt, sb: rt}}
	tgt := target{id: "c1", spec: &pod.Container{Name: "app"}, sb: &pod.Sandbox{}}
	run := 0
	rt.execHookOpts = func(ctx context.Context, opts ExecOptions) (int, error) {
		run++
		io, err := cio.NewCreator(cio.WithStreams(nil, opts.Stdout, opts.Stderr), cio.WithFIFODir(fifoDir))(fmt.Sprintf("exec-%d", run))
		if err != nil {
			return 0, err
		}
		defer io.Close()
		cfg := io.Config()
		// The shim's side: open both FIFOs, write the error to stderr, exit (close both).
		stdout, err := os.OpenFile(cfg.Stdout, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		stderr, err := os.OpenFile(cfg.Stderr, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		if _, err := stderr.WriteString(msg + "\n"); err != nil {
			return 0, err
		}
		stderr.Close()
		stdout.Close()
		io.Wait()
		return 1, nil
	}
	want := fmt.Sprintf("command %q exited with 1: %s", "cat /tmp/healthy", msg)
	bad := 0
	var first string
	for i := 0; i < 300; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := w.runAction(ctx, action{exec: &pod.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}, tgt)
		cancel()
		if err == nil || err.Error() != want {
			if bad == 0 {
				first = fmt.Sprintf("%q", err)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of 300 exec probe failures lost their output; the first: %s\nwant %q", bad, first, want)
	}
}
