package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/api/wire"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/supervisor"
)

func execClient(t *testing.T, hook func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error)) (*api.Client, *apitest.Pods) {
	pods := apitest.NewPods(testPod("default", "web"))
	pods.ExecHook = hook
	return apitest.NewClient(t, pods, apitest.NewImages()), pods
}

func TestExecEcho(t *testing.T) {
	c, pods := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		if opts.Stdin == nil {
			return -1, fmt.Errorf("no stdin")
		}
		in, err := io.ReadAll(opts.Stdin)
		if err != nil {
			return -1, err
		}
		fmt.Fprintf(opts.Stdout, "out:%s", in)
		fmt.Fprintf(opts.Stderr, "err:%d bytes", len(in))
		return 3, nil
	})
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(t.Context(), "default", "web",
		api.ExecRequest{Container: "app", Command: []string{"cat", "-"}, Stdin: true},
		strings.NewReader("hello\n"), &stdout, &stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || stdout.String() != "out:hello\n" || stderr.String() != "err:6 bytes" {
		t.Errorf("code %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	if got := pods.CallLog(); len(got) != 1 || got[0] != `Exec default/web container=app cmd=["cat" "-"] tty=false` {
		t.Errorf("calls %q", got)
	}
}

func TestExecNoStdin(t *testing.T) {
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		if opts.Stdin != nil {
			return -1, fmt.Errorf("stdin given without asking")
		}
		return 0, nil
	})
	code, err := c.Exec(t.Context(), "default", "web", api.ExecRequest{Command: []string{"true"}},
		strings.NewReader("ignored"), nil, nil, nil)
	if err != nil || code != 0 {
		t.Errorf("Exec = %d, %v", code, err)
	}
}

func TestExecNegativeAndLargeOutput(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB: more than one frame
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		opts.Stdout.Write(big)
		return -2, nil
	})
	var stdout bytes.Buffer
	code, err := c.Exec(t.Context(), "default", "web", api.ExecRequest{Command: []string{"cat", "big"}}, nil, &stdout, nil, nil)
	if err != nil || code != -2 || !bytes.Equal(stdout.Bytes(), big) {
		t.Errorf("Exec = %d, %v, %d bytes of %d", code, err, stdout.Len(), len(big))
	}
}

// A command that never reads stdin must not hang the session, however much stdin comes.
func TestExecUnreadStdin(t *testing.T) {
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		return 0, nil
	})
	stdin := io.LimitReader(zeros{}, 8<<20)
	code, err := c.Exec(t.Context(), "default", "web", api.ExecRequest{Command: []string{"true"}, Stdin: true}, stdin, nil, nil, nil)
	if err != nil || code != 0 {
		t.Errorf("Exec = %d, %v", code, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestExecTTYResize(t *testing.T) {
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		if !opts.Tty || opts.Resize == nil {
			return -1, fmt.Errorf("tty %v resize %v", opts.Tty, opts.Resize)
		}
		for i := 0; i < 2; i++ {
			select {
			case size := <-opts.Resize:
				fmt.Fprintf(opts.Stdout, "%dx%d\n", size.Width, size.Height)
			case <-time.After(10 * time.Second):
				return -1, fmt.Errorf("no resize %d", i)
			}
		}
		return 0, nil
	})
	resize := make(chan api.TermSize, 1)
	resize <- api.TermSize{Width: 120, Height: 40}
	var stdout bytes.Buffer
	code, err := c.Exec(t.Context(), "default", "web",
		api.ExecRequest{Command: []string{"sh"}, TTY: true, Size: &api.TermSize{Width: 80, Height: 24}},
		nil, &stdout, nil, resize)
	if err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	if stdout.String() != "80x24\n120x40\n" {
		t.Errorf("sizes seen by the runtime: %q, want the initial size, then the resize", stdout.String())
	}
}

func TestExecErrors(t *testing.T) {
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		return -1, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %q not found in pod %s/%s", container, ns, name))
	})
	ctx := t.Context()

	_, err := c.Exec(ctx, "default", "web", api.ExecRequest{Container: "nope", Command: []string{"sh"}}, nil, nil, nil, nil)
	if !errdefs.IsNotFound(err) || err.Error() != `container "nope" not found in pod default/web` {
		t.Errorf("error frame: %v", err)
	}
	_, err = c.Exec(ctx, "default", "web", api.ExecRequest{}, nil, nil, nil, nil)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "command is required") {
		t.Errorf("no command: %v", err)
	}
	_, err = c.Exec(ctx, "default", "gone", api.ExecRequest{Command: []string{"sh"}}, nil, nil, nil, nil)
	if !errdefs.IsNotFound(err) {
		t.Errorf("no such pod: %v", err)
	}
}

func TestExecBadJSON(t *testing.T) {
	sock := apitest.Serve(t, api.NewServer(apitest.NewPods(testPod("default", "web")), apitest.NewImages(), "v", nil))
	for _, body := range []string{`{"command": "sh"}`, `{"command": ["sh"], "bogus": 1}`, `not json`} {
		req := strings.NewReader(body)
		r, err := rawClient(sock).Do(mustUpgradeRequest(t, req))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 400 || !strings.Contains(string(b), `"class":"invalid"`) {
			t.Errorf("body %s: %d %s", body, r.StatusCode, b)
		}
	}
}

func TestExecCancel(t *testing.T) {
	canceled := make(chan struct{})
	started := make(chan struct{})
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		close(started)
		<-ctx.Done()
		close(canceled)
		return -1, ctx.Err()
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	_, err := c.Exec(ctx, "default", "web", api.ExecRequest{Command: []string{"sleep", "1000"}}, nil, nil, nil, nil)
	if err != context.Canceled {
		t.Errorf("Exec after cancel: %v", err)
	}
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not cancel the command when the client went away")
	}
}

func mustUpgradeRequest(t *testing.T, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", "http://podd/v1/namespaces/default/pods/web/exec", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", wire.ExecUpgrade)
	return req
}

// Asking for stdin without a reader gives the command an empty stdin rather than one that never ends.
func TestExecStdinWithoutReader(t *testing.T) {
	c, _ := execClient(t, func(ctx context.Context, ns, name, container string, opts supervisor.ExecOptions) (int, error) {
		b, err := io.ReadAll(opts.Stdin)
		return len(b), err
	})
	code, err := c.Exec(t.Context(), "default", "web", api.ExecRequest{Command: []string{"cat"}, Stdin: true}, nil, nil, nil, nil)
	if err != nil || code != 0 {
		t.Errorf("Exec = %d, %v", code, err)
	}
}
