package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// RunOptions are podctl run's.
type RunOptions struct {
	// File is the manifest's path, or "-" for stdin.
	File string
	// Detach returns once podd has accepted the pods, without waiting for their containers.
	Detach bool
	Output Format
}

// Run creates the pods of a manifest and, unless detached, waits until every container of each
// has started. It fails with the reason of each pod that did not start.
func Run(ctx context.Context, c *api.Client, o RunOptions, s Streams) error {
	manifest, err := readInput(o.File, s.In)
	if err != nil {
		return err
	}
	pods, err := c.CreatePods(ctx, manifest)
	if err != nil {
		return err
	}
	if o.Detach {
		if o.Output.structured() {
			return Print(s.Out, o.Output, api.PodList{Items: pods}, nil)
		}
		for _, p := range pods {
			fmt.Fprintf(s.Out, "pod/%s created\n", p.Metadata.Name)
		}
		return nil
	}

	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		started = make([]*pod.Pod, len(pods))
		errs    = make([]error, len(pods))
	)
	for i, p := range pods {
		wg.Go(func() {
			ns := p.Metadata.Namespace
			if ns == "" {
				ns = DefaultNamespace
			}
			sp, err := c.WaitStarted(ctx, ns, p.Metadata.Name)
			if err != nil {
				errs[i] = fmt.Errorf("pod/%s: %w", p.Metadata.Name, err)
				return
			}
			started[i] = sp
			if !o.Output.structured() {
				mu.Lock()
				fmt.Fprintf(s.Out, "pod/%s started\n", p.Metadata.Name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if o.Output.structured() {
		return Print(s.Out, o.Output, api.PodList{Items: started}, nil)
	}
	return nil
}

// readInput reads a file, or stdin for "-".
func readInput(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}
