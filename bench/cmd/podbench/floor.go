package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/internal/privcontainerd"
)

// The containerd floor: what it costs at least to start the bench's pod with containerd alone. It
// runs as its own process (podbench floor ...), like podctl and podman, so that its figure also
// holds a process start and a connection to containerd. It does what podd does for the pod and no
// more: the pod's network, IPC and UTS namespaces made once and bind-mounted to files (loopback
// up), a shared folder as the emptyDir, then both containers created and started in parallel, in
// one shim (the runc v2 group annotation), with no log output and no seccomp filter. With -seccomp
// it also loads the RuntimeDefault seccomp profile that podd gives every container by default: a
// reference that shows what that filter costs, not the floor the targets are judged by.

const floorNamespace = "podbench-floor"

func floorMain(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	address := fs.String("address", "", "containerd socket")
	image := fs.String("image", "", "image reference")
	dir := fs.String("dir", "", "folder for the pod's namespace files and shared folder")
	name := fs.String("name", "", "pod name")
	withSeccomp := fs.Bool("seccomp", false, "load the RuntimeDefault seccomp profile, as podd does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := namespaces.WithNamespace(context.Background(), floorNamespace)
	client, err := containerd.New(*address)
	if err != nil {
		return err
	}
	defer client.Close()
	podDir := filepath.Join(*dir, *name)
	shared := filepath.Join(podDir, "shared")
	if err := os.MkdirAll(shared, 0o777); err != nil {
		return err
	}
	nsPaths, err := makeNamespaces(podDir)
	if err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	img, err := client.GetImage(ctx, *image)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []string{"a", "b"} {
		wg.Go(func() {
			id := *name + "-" + c
			opts := []oci.SpecOpts{oci.WithDefaultSpec(), oci.WithImageConfig(img),
				oci.WithProcessArgs("sleep", "1000000"),
				oci.WithAnnotations(map[string]string{"io.containerd.runc.v2.group": *name}),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPaths["net"]}),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: nsPaths["ipc"]}),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: nsPaths["uts"]}),
				oci.WithHostname(*name),
				oci.WithMounts([]specs.Mount{{Type: "bind", Source: shared, Destination: "/shared", Options: []string{"rbind", "rprivate", "rw"}}}),
			}
			if *withSeccomp {
				opts = append(opts, seccomp.WithDefaultProfile())
			}
			ctr, err := client.NewContainer(ctx, id,
				containerd.WithImage(img),
				containerd.WithSnapshotter("overlayfs"),
				containerd.WithNewSnapshot(id, img),
				containerd.WithNewSpec(opts...))
			if err != nil {
				errs[i] = err
				return
			}
			task, err := ctr.NewTask(ctx, cio.NullIO)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = task.Start(ctx)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// makeNamespaces creates new network, IPC and UTS namespaces on a thread of their own, keeps them
// with bind mounts on files in dir, and brings the loopback up.
func makeNamespaces(dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, k := range []string{"net", "ipc", "uts"} {
		paths[k] = filepath.Join(dir, k)
		if err := os.WriteFile(paths[k], nil, 0o644); err != nil {
			return nil, err
		}
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread has left the process's namespaces and must die with this
		// goroutine.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		tid := unix.Gettid()
		for k, p := range paths {
			if err := unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, k), p, "", unix.MS_BIND, ""); err != nil {
				errc <- fmt.Errorf("bind %s namespace: %w", k, err)
				return
			}
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		errc <- err
	}()
	return paths, <-errc
}

// floorRun times one floor start: the process from its start to its exit. extra are more flags
// of the floor process (-seccomp).
func (b *bench) floorRun(ctx context.Context, name string, extra ...string) (time.Duration, error) {
	start := time.Now()
	args := append([]string{"floor", "-address", b.address, "-image", benchImage,
		"-dir", filepath.Join(b.dir, "floor"), "-name", name}, extra...)
	out, err := b.command(ctx, b.self, args...).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("floor: %w: %s", err, out)
	}
	return d, nil
}

// floorRemove removes a floor pod: its tasks, containers, snapshots and namespace files.
func (b *bench) floorRemove(ctx context.Context, name string) error {
	ctx = namespaces.WithNamespace(ctx, floorNamespace)
	var errs []error
	for _, c := range []string{"a", "b"} {
		ctr, err := b.client.LoadContainer(ctx, name+"-"+c)
		if err != nil {
			continue
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, err)
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			errs = append(errs, err)
		}
	}
	podDir := filepath.Join(b.dir, "floor", name)
	if err := privcontainerd.UnmountAll(podDir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(podDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
