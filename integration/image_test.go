package integration

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImage proves the harness and the test images with the containerd client alone, no podd:
// both archive formats import under their full names into the private containerd, unpack, and
// run with runc with the config they were built with.
func TestImage(t *testing.T) {
	client := containerdClient(t)
	ctx := nsContext(uniqueName(t))
	t.Cleanup(func() {
		if err := removeAllContainers(ctx, client); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})

	// importOne imports an archive and checks that it holds exactly the image named ref.
	importOne := func(t *testing.T, ref string) containerd.Image {
		t.Helper()
		imgs := importArchive(t, ctx, imageArchive(t, ref))
		if len(imgs) != 1 || imgs[0].Name != ref {
			var names []string
			for _, img := range imgs {
				names = append(names, img.Name)
			}
			t.Fatalf("import of %s named %q, want exactly [%s]", imageArchive(t, ref), names, ref)
		}
		img, err := client.GetImage(ctx, ref)
		if err != nil {
			t.Fatalf("get image %s: %v", ref, err)
		}
		unpacked, err := img.IsUnpacked(ctx, snapshotter)
		if err != nil || !unpacked {
			t.Fatalf("image %s unpacked for %s: %v, %v", ref, snapshotter, unpacked, err)
		}
		return img
	}

	t.Run("oci archive runs echo", func(t *testing.T) {
		img := importOne(t, busyboxImage)
		out := runContainer(t, ctx, img, oci.WithProcessArgs("busybox", "echo", "hello"))
		out.expect(t, 0, "hello\n")
	})

	t.Run("docker archive runs echo", func(t *testing.T) {
		img := importOne(t, dockerImage)
		if mt := img.Target().MediaType; mt != images.MediaTypeDockerSchema2Manifest {
			t.Errorf("docker archive imported as %s, want a Docker schema 2 manifest", mt)
		}
		// The same content as the OCI busybox: the same config, hence the same image ID.
		ociImg := importOne(t, busyboxImage)
		dockerCfg, err1 := img.Config(ctx)
		ociCfg, err2 := ociImg.Config(ctx)
		if err1 != nil || err2 != nil || dockerCfg.Digest != ociCfg.Digest {
			t.Errorf("config digests: docker %v (%v), oci %v (%v); want equal", dockerCfg.Digest, err1, ociCfg.Digest, err2)
		}
		out := runContainer(t, ctx, img, oci.WithProcessArgs("sh", "-c", "echo hello; exit 3"))
		out.expect(t, 3, "hello\n")
	})

	t.Run("entrypoint and cmd", func(t *testing.T) {
		img := importOne(t, entrypointImage)
		spec := imageConfig(t, ctx, img)
		if !slices.Equal(spec.Entrypoint, []string{"/bin/echo", "ep"}) || !slices.Equal(spec.Cmd, []string{"cmd"}) {
			t.Errorf("ENTRYPOINT %q CMD %q, want [/bin/echo ep] [cmd]", spec.Entrypoint, spec.Cmd)
		}
		out := runContainer(t, ctx, img) // the image's own ENTRYPOINT + CMD
		out.expect(t, 0, "ep cmd\n")
	})

	t.Run("stop signal, workdir and env", func(t *testing.T) {
		img := importOne(t, stopSignalImage)
		spec := imageConfig(t, ctx, img)
		if spec.StopSignal != "SIGUSR1" || spec.WorkingDir != "/tmp" || !slices.Contains(spec.Env, "FOO=bar") {
			t.Errorf("STOPSIGNAL %q WORKDIR %q ENV %q, want SIGUSR1, /tmp and FOO=bar", spec.StopSignal, spec.WorkingDir, spec.Env)
		}
		out := runContainer(t, ctx, img, oci.WithProcessArgs("sh", "-c", `echo "$FOO"; pwd; echo "$PATH"`))
		out.expect(t, 0, "bar\n/tmp\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	})

	t.Run("users from passwd and group", func(t *testing.T) {
		img := importOne(t, busyboxImage)
		out := runContainer(t, ctx, img, oci.WithUser("podd"), oci.WithProcessArgs("sh", "-c", "id; ls -ld /tmp"))
		if out.code != 0 || !strings.HasPrefix(out.stdout, "uid=1000(podd) gid=1000(podd)") || !strings.Contains(out.stdout, "drwxrwxrwt") {
			t.Errorf("id as podd, ls -ld /tmp:\n%s", out)
		}
		out = runContainer(t, ctx, img, oci.WithUserID(65534), oci.WithProcessArgs("id", "-un"))
		out.expect(t, 0, "nobody\n")
	})
}

// imageConfig reads an image's config (for the platform of this host).
func imageConfig(t *testing.T, ctx context.Context, img containerd.Image) ocispec.ImageConfig {
	t.Helper()
	spec, err := img.Spec(ctx)
	if err != nil {
		t.Fatalf("read the config of %s: %v", img.Name(), err)
	}
	return spec.Config
}

// containerRun is what one container run printed and how it ended.
type containerRun struct {
	stdout, stderr string
	code           uint32
}

func (r containerRun) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func (r containerRun) expect(t *testing.T, code uint32, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout {
		t.Errorf("container run: got %s\nwant exit code %d and stdout %q", r, code, stdout)
	}
}

// runContainer creates a container of img (its config, then opts), runs it to its end with runc,
// and deletes it. It waits for the exit before it starts the task, as podd must.
func runContainer(t *testing.T, ctx context.Context, img containerd.Image, opts ...oci.SpecOpts) containerRun {
	t.Helper()
	client := containerdClient(t)
	id := uniqueName(t)
	ctr, err := client.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img)}, opts...)...),
		containerd.WithRuntime("io.containerd.runc.v2", nil),
	)
	if err != nil {
		t.Fatalf("create container %s: %v", id, err)
	}
	defer func() {
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("delete container %s: %v", id, err)
		}
	}()

	var stdout, stderr bytes.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr), cio.WithFIFODir(t.TempDir())))
	if err != nil {
		t.Fatalf("create task %s: %v", id, err)
	}
	deleted := false
	defer func() { // on the way out of a failure
		if !deleted {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				t.Errorf("delete task %s: %v", id, err)
			}
		}
	}()
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait for task %s: %v", id, err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task %s: %v", id, err)
	}
	var status containerd.ExitStatus
	select {
	case status = <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("task %s did not exit within a minute", id)
	}
	if err := status.Error(); err != nil {
		t.Fatalf("task %s: %v", id, err)
	}
	// Delete waits for the output to be copied; read the buffers only after it.
	deleted = true
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task %s: %v", id, err)
	}
	return containerRun{stdout: stdout.String(), stderr: stderr.String(), code: status.ExitCode()}
}
