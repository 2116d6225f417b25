package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/images"

	"github.com/podd-dev/podd/pkg/pod"
)

// TestImageCommands drives podd's images through podctl: a `docker save` archive is imported,
// listed, run and removed; failures name what failed. No registry is reachable: the pulls go to
// localhost port 1, which refuses, so no traffic leaves the machine.
func TestImageCommands(t *testing.T) {
	t.Parallel()
	p := sharedPodd(t)
	archive := imageArchive(t, dockerImage)
	t.Cleanup(func() { p.Podctl(t, "image", "rm", dockerImage) }) // when a step failed halfway

	// listed tells whether `image ls` (table and JSON) shows the image.
	listed := func(t *testing.T, ref string) bool {
		t.Helper()
		table := mustPodctl(t, p, "image", "ls").Stdout
		if f := strings.Fields(strings.SplitN(table, "\n", 2)[0]); len(f) < 4 || f[0] != "NAME" || f[1] != "DIGEST" {
			t.Errorf("image ls header %q, want NAME DIGEST SIZE CREATED", f)
		}
		inTable := false
		for _, line := range strings.Split(table, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 && f[0] == ref {
				inTable = true
				if !strings.HasPrefix(f[1], "sha256:") {
					t.Errorf("image ls row %q: want a sha256 digest", line)
				}
			}
		}
		var list struct{ Items []pod.Image }
		res := mustPodctl(t, p, "image", "ls", "-o", "json")
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			t.Fatalf("image ls -o json: %v\n%s", err, res.Stdout)
		}
		inJSON := false
		for _, img := range list.Items {
			if img.Name == ref {
				inJSON = true
				if !strings.HasPrefix(img.Digest, "sha256:") || img.Size <= 0 {
					t.Errorf("image ls -o json: %+v, want a sha256 digest and a size", img)
				}
			}
		}
		if inTable != inJSON {
			t.Errorf("image %s: in the table %v, in the JSON %v:\n%s\n%s", ref, inTable, inJSON, table, res.Stdout)
		}
		return inTable && inJSON
	}

	t.Run("import, run, remove", func(t *testing.T) {
		if listed(t, dockerImage) {
			t.Fatalf("%s is listed before the import", dockerImage)
		}
		res := mustPodctl(t, p, "image", "import", archive)
		if !strings.Contains(res.Stdout, dockerImage) {
			t.Errorf("image import printed %q, want the image's name %s", res.Stdout, dockerImage)
		}
		if !listed(t, dockerImage) {
			t.Fatalf("%s is not listed after the import", dockerImage)
		}

		name := uniqueName(t)
		mustRun(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "echo from the docker archive"]
`, name, dockerImage))
		if got := waitDone(t, p, name); got.Status.Phase != pod.PodSucceeded {
			t.Errorf("the pod of the imported image ended %s: %+v", got.Status.Phase, got.Status.ContainerStatuses)
		}
		if log := podLogs(t, p, name, "app"); log != "from the docker archive\n" {
			t.Errorf("log %q, want \"from the docker archive\\n\"", log)
		}
		mustPodctl(t, p, "rm", name)

		res = mustPodctl(t, p, "image", "rm", dockerImage)
		if !strings.Contains(res.Stdout, dockerImage) {
			t.Errorf("image rm printed %q, want the image's name", res.Stdout)
		}
		if listed(t, dockerImage) {
			t.Errorf("%s is still listed after image rm", dockerImage)
		}
	})

	// podd keeps what it read of an image's content (pkg/runtime's imageCache), but not whether
	// the image is there: one removed behind its back (with the containerd client, not podctl)
	// is noticed by the next pod.
	t.Run("image removed behind podd's back", func(t *testing.T) {
		mustPodctl(t, p, "image", "import", archive)
		manifest := func(name string) string {
			return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: %s
    imagePullPolicy: Never
    command: ["true"]
`, name, dockerImage)
		}
		first := uniqueName(t, "first")
		mustRun(t, p, manifest(first))
		if got := waitDone(t, p, first); got.Status.Phase != pod.PodSucceeded {
			t.Fatalf("the pod of the imported image ended %s: %+v", got.Status.Phase, got.Status.ContainerStatuses)
		}
		mustPodctl(t, p, "rm", first)
		ctx := nsContext(p.Namespace)
		if err := containerdClient(t).ImageService().Delete(ctx, dockerImage, images.SynchronousDelete()); err != nil {
			t.Fatalf("remove %s with the containerd client: %v", dockerImage, err)
		}
		second := uniqueName(t, "second")
		res := runPods(t, p, manifest(second))
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "ErrImageNeverPull") {
			t.Errorf("podctl run of a pod of the removed image %s: %s\nwant a failure that says ErrImageNeverPull", dockerImage, res)
		}
		mustPodctl(t, p, "rm", "--force", second)
	})

	t.Run("import from stdin", func(t *testing.T) {
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res := p.PodctlInput(t, f, "image", "import", "-")
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, dockerImage) {
			t.Fatalf("image import - < %s: %s\nwant the image's name", archive, res)
		}
		if !listed(t, dockerImage) {
			t.Errorf("%s is not listed after the import from stdin", dockerImage)
		}
		mustPodctl(t, p, "image", "rm", dockerImage)
	})

	t.Run("rm of a missing image", func(t *testing.T) {
		const ref = "localhost/podd-test/none:1"
		res := p.Podctl(t, "image", "rm", ref)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "not found") {
			t.Errorf("image rm %s: %s\nwant a not-found failure", ref, res)
		}
	})

	t.Run("pull from nowhere", func(t *testing.T) {
		const ref = "localhost:1/none:1"
		res := p.Podctl(t, "image", "pull", ref)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, ref) {
			t.Errorf("image pull %s: %s\nwant a failure that names the reference", ref, res)
		}
		if listed(t, ref) {
			t.Errorf("%s is listed after a failed pull", ref)
		}
	})

	t.Run("pod of an absent image", func(t *testing.T) {
		for _, tc := range []struct {
			name, image, policy, want string
		}{
			{uniqueName(t, "never"), "localhost/podd-test/absent:1", "Never", "ErrImageNeverPull"},
			{uniqueName(t, "pull"), "localhost:1/none:1", "IfNotPresent", "ErrImagePull"},
		} {
			res := runPods(t, p, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: %s
    imagePullPolicy: %s
`, tc.name, tc.image, tc.policy))
			if res.ExitCode == 0 || !strings.Contains(res.Stderr, tc.want) || !strings.Contains(res.Stderr, tc.image) {
				t.Errorf("podctl run of a pod of the absent image %s, imagePullPolicy %s: %s\nwant a failure that says %s and names the image", tc.image, tc.policy, res, tc.want)
			}
			cs := containerStatus(t, getPod(t, p, tc.name), "app")
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != tc.want {
				t.Errorf("container state %+v, want waiting with reason %s", cs.State, tc.want)
			}
		}
	})
}
