package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/podd-dev/podd/pkg/sandbox"
)

// The warm part: the start part's pod on the bridge network, which a warm sandbox serves (a pod
// with podd.io/network: none, the start part's, takes none). One podd keeps a pool of two warm
// sandboxes and starts the pod once its pool is full again; another, with no pool, starts the
// same pod cold; interleaved, as the start part interleaves its contenders. Each has its own
// bridge and subnet, and both are stopped (SIGTERM: the pool is removed) and their bridges
// deleted at the end.

const warmPoolSize = 2

// bridgeManifest is manifest() on the bridge network.
func bridgeManifest(name, command string) string {
	return strings.Replace(manifest(name, command), "  annotations:\n    podd.io/network: none\n", "", 1)
}

// poddHas says whether the podd binary has a flag (an older binary, in an A/B, may not).
func (b *bench) poddHas(flag string) bool {
	help, _ := exec.Command(b.opts.podd, "--help").CombinedOutput()
	return strings.Contains(string(help), flag)
}

// warmReady lists the UIDs of the podd's warm sandboxes that no pod took and that have their
// address.
func (p *poddInstance) warmReady() map[string]bool {
	return sandbox.ReadyWarmSandboxes(filepath.Join(p.dir, "state"))
}

// waitWarm waits until the podd's pool is full and returns its UIDs.
func (p *poddInstance) waitWarm(ctx context.Context, n int) (map[string]bool, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		if w := p.warmReady(); len(w) >= n {
			return w, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("podd's pool did not fill to %d warm sandboxes within a minute (log: %s)", n, filepath.Join(p.dir, "podd.log"))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// measureWarm times the bridge pod's start by a podd with warm sandboxes (each start taking one)
// and by a podd without, b.opts.runs times each after one unmeasured warm-up.
func (b *bench) measureWarm(ctx context.Context) (err error) {
	if !b.poddHas("--warm-sandboxes") {
		fmt.Fprintln(os.Stderr, "podbench: this podd has no --warm-sandboxes: warm start not measured")
		return nil
	}
	type side struct {
		name, bridge string
		p            *poddInstance
		times        []time.Duration
	}
	sides := []*side{
		{name: "podd-warm", bridge: "pbwarm0"},
		{name: "podd-cold", bridge: "pbcold0"},
	}
	defer func() {
		for _, s := range sides {
			if s.p != nil && s.p.proc != nil {
				s.p.proc.stop(30 * time.Second)
			}
			if out, derr := exec.Command("ip", "link", "del", s.bridge).CombinedOutput(); derr != nil && !strings.Contains(string(out), "Cannot find device") {
				fmt.Fprintf(os.Stderr, "podbench: ip link del %s: %v: %s\n", s.bridge, derr, out)
			}
		}
	}()
	for i, s := range sides {
		size := "0"
		if s.name == "podd-warm" {
			size = fmt.Sprint(warmPoolSize)
		}
		s.p, err = b.newPodd(ctx, s.name, "podbench-"+s.name, "podbench-"+s.name,
			"--warm-sandboxes", size, "--bridge", s.bridge, "--pod-cidr", fmt.Sprintf("10.202.%d.0/24", i), "--pod-egress-nat=false")
		if err != nil {
			return err
		}
	}
	took := 0
	for i := -1; i < b.opts.runs; i++ {
		name := fmt.Sprintf("warm-%d", i+1)
		path, err := b.writeManifest(name, bridgeManifest(name, sleepForever))
		if err != nil {
			return err
		}
		for _, s := range sides {
			var pool map[string]bool
			if s.name == "podd-warm" {
				if pool, err = s.p.waitWarm(ctx, warmPoolSize); err != nil {
					return err
				}
			}
			d, err := s.p.runTimed(ctx, path, name)
			if err != nil {
				return err
			}
			if pool != nil {
				got, err := s.p.client.GetPod(ctx, "default", name)
				if err != nil {
					return err
				}
				if pool[got.Metadata.UID] {
					took++
				}
			}
			if err := s.p.remove(ctx, name); err != nil {
				return err
			}
			if i >= 0 {
				s.times = append(s.times, d)
			}
		}
		if i >= 0 {
			fmt.Fprintf(os.Stderr, "podbench: warm %2d/%d  podd warm %6.1f ms  podd cold (bridge) %6.1f ms\n",
				i+1, b.opts.runs, ms(sides[0].times, -1), ms(sides[1].times, -1))
		}
	}
	if took != b.opts.runs+1 {
		return fmt.Errorf("%d of %d starts took a warm sandbox, want all", took, b.opts.runs+1)
	}
	warm, cold := percentile(sides[0].times, 50), percentile(sides[1].times, 50)
	b.res.WarmPodStart, b.res.BridgePodStart, b.res.WarmRuns = &warm, &cold, b.opts.runs
	return nil
}
