package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/images/archive"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/podd-dev/podd/pkg/pod"
)

// NormalizeRef turns a short reference into containerd's full one (busybox → docker.io/library/busybox:latest).
func NormalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w: %w", ref, errdefs.ErrInvalidArgument, err)
	}
	return named.String(), nil
}

// EnsureImage makes the image present as the pull policy says and returns its config. The image
// is looked up in containerd every time (an image removed is noticed; Always pulls), and its
// snapshot is checked; what its content says is read once per name and target (imageCache).
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy pod.PullPolicy) (*pod.ImageConfig, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	var img containerd.Image
	if policy != pod.PullAlways {
		img, err = r.getImage(ctx, name)
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("look up image %s: %w", name, err)
		}
		if err != nil && policy == pod.PullNever {
			return nil, fmt.Errorf("image %s is not present with pull policy of Never: %w", ref, errdefs.ErrNotFound)
		}
	}
	if img == nil {
		if archive, ok := r.cfg.LocalImages[name]; ok {
			img, err = r.importLocal(ctx, name, archive)
		} else {
			img, err = r.pull(ctx, name)
		}
		if err != nil {
			return nil, err
		}
	}
	ri, err := r.resolve(ctx, img)
	if err != nil {
		return nil, err
	}
	if err := r.ensureUnpacked(ctx, img, ri.chainID); err != nil {
		return nil, err
	}
	return ri.imageConfig(), nil
}

// getImage looks the image up in containerd; an image found missing is forgotten by the cache.
func (r *Runtime) getImage(ctx context.Context, name string) (containerd.Image, error) {
	img, err := r.client.GetImage(ctx, name)
	if errdefs.IsNotFound(err) {
		r.images.forget(name)
	}
	return img, err
}

// imageCache holds what podd read of an image's content, by name, for the target digest it read
// it for: content is addressed by digest, so as long as the name points at that target the
// config and the layers' chain ID are the same. It saves each container's launch the reads of
// the index, the manifest and the config (two calls to containerd each) in EnsureImage and
// again in CreateContainer. The image record itself is looked up every time: the cache is only
// used for the target containerd names, and an image found missing or removed is forgotten.
// One entry per name: a name that moves to another target replaces its entry.
type imageCache struct {
	mu     sync.Mutex
	byName map[string]*resolvedImage
}

// resolvedImage is what an image's content says, for one target.
type resolvedImage struct {
	target  digest.Digest
	config  pod.ImageConfig
	chainID string // the chain ID of its layers: the name of its unpacked snapshot
}

func (c *imageCache) get(name string, target digest.Digest) *resolvedImage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ri := c.byName[name]; ri != nil && ri.target == target {
		return ri
	}
	return nil
}

func (c *imageCache) put(name string, ri *resolvedImage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]*resolvedImage{}
	}
	c.byName[name] = ri
}

func (c *imageCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byName, name)
}

// imageConfig is a copy of the config, for a caller that may change it.
func (ri *resolvedImage) imageConfig() *pod.ImageConfig {
	c := ri.config
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Cmd = slices.Clone(c.Cmd)
	c.Env = slices.Clone(c.Env)
	return &c
}

// resolve reads the image's config and layers for its current target, or finds them cached.
func (r *Runtime) resolve(ctx context.Context, img containerd.Image) (*resolvedImage, error) {
	name, target := img.Name(), img.Target().Digest
	if ri := r.images.get(name, target); ri != nil {
		return ri, nil
	}
	ri, err := readImage(ctx, img)
	if err != nil {
		return nil, err
	}
	r.images.put(name, ri)
	return ri, nil
}

// ensureUnpacked unpacks the image unless its snapshot, chainID, is there: one call to containerd
// when it is (img.IsUnpacked reads the image's content first).
func (r *Runtime) ensureUnpacked(ctx context.Context, img containerd.Image, chainID string) error {
	_, err := r.client.SnapshotService(r.cfg.Snapshotter).Stat(ctx, chainID)
	if err == nil {
		return nil
	}
	if !errdefs.IsNotFound(err) {
		return fmt.Errorf("check image %s: %w", img.Name(), err)
	}
	if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
		return fmt.Errorf("unpack image %s: %w", img.Name(), err)
	}
	return nil
}

// importLocal imports the archive of one of the LocalImages and returns the image called name
// from it. Concurrent pods that ask for it import it once: containerd's import of the same
// content is idempotent, but the mutex saves the second read of the archive.
func (r *Runtime) importLocal(ctx context.Context, name, path string) (containerd.Image, error) {
	r.localMu.Lock()
	defer r.localMu.Unlock()
	if img, err := r.client.GetImage(ctx, name); err == nil {
		return img, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image %s is imported from %s: %w: %w", name, path, errdefs.ErrNotFound, err)
	}
	defer f.Close()
	if _, err := r.Import(ctx, f); err != nil {
		return nil, fmt.Errorf("import %s from %s: %w", name, path, err)
	}
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("archive %s has no image %s: %w", path, name, errdefs.ErrNotFound)
	}
	r.log.Info("imported a local image", "image", name, "archive", path)
	return img, nil
}

func (r *Runtime) pull(ctx context.Context, name string) (containerd.Image, error) {
	img, err := r.client.Pull(ctx, name, containerd.WithPullUnpack, containerd.WithPullSnapshotter(r.cfg.Snapshotter))
	if err != nil {
		return nil, fmt.Errorf("pull image %s: %w: %w", name, errdefs.ErrUnavailable, err)
	}
	return img, nil
}

func (r *Runtime) unpack(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return fmt.Errorf("check image %s: %w", img.Name(), err)
	}
	if !ok {
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return fmt.Errorf("unpack image %s: %w", img.Name(), err)
		}
	}
	return nil
}

// readImage reads the image's config for the client's platform: the fields podd uses and its
// layers (as img.Config and img.RootFS would, in one walk of its content).
func readImage(ctx context.Context, img containerd.Image) (*resolvedImage, error) {
	cs := img.ContentStore()
	manifest, err := images.Manifest(ctx, cs, img.Target(), img.Platform())
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	desc := manifest.Config
	blob, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return nil, fmt.Errorf("read image %s config: %w", img.Name(), err)
	}
	var spec ocispec.Image
	if err := json.Unmarshal(blob, &spec); err != nil {
		return nil, fmt.Errorf("decode image %s config: %w", img.Name(), err)
	}
	c := spec.Config
	return &resolvedImage{
		target:  img.Target().Digest,
		chainID: identity.ChainID(spec.RootFS.DiffIDs).String(),
		config: pod.ImageConfig{
			Ref:        img.Name(),
			ID:         desc.Digest.String(),
			Entrypoint: c.Entrypoint,
			Cmd:        c.Cmd,
			Env:        c.Env,
			WorkingDir: c.WorkingDir,
			User:       c.User,
			StopSignal: c.StopSignal,
		},
	}, nil
}

// Import reads an OCI image-layout or `docker save` archive and unpacks every image in it.
func (r *Runtime) Import(ctx context.Context, in io.Reader) ([]pod.Image, error) {
	ctx = r.ns(ctx)
	imgs, err := r.client.Import(ctx, in,
		containerd.WithDigestRef(archive.DigestTranslator("import")),
		containerd.WithSkipDigestRef(func(name string) bool { return name != "" }),
	)
	if err != nil {
		return nil, fmt.Errorf("import image archive: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	out := make([]pod.Image, 0, len(imgs))
	for _, i := range imgs {
		img := containerd.NewImage(r.client, i)
		if err := r.unpack(ctx, img); err != nil {
			return nil, err
		}
		out = append(out, summary(ctx, img))
	}
	return out, nil
}

// List lists the images in podd's namespace.
func (r *Runtime) List(ctx context.Context) ([]pod.Image, error) {
	ctx = r.ns(ctx)
	imgs, err := r.client.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]pod.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, summary(ctx, img))
	}
	return out, nil
}

// Pull fetches an image from its registry.
func (r *Runtime) Pull(ctx context.Context, ref string) (*pod.Image, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.pull(ctx, name)
	if err != nil {
		return nil, err
	}
	s := summary(ctx, img)
	return &s, nil
}

// Remove deletes an image by reference; its content goes with containerd's garbage collection.
func (r *Runtime) Remove(ctx context.Context, ref string) error {
	ctx = r.ns(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return err
	}
	r.images.forget(name)
	if err := r.client.ImageService().Delete(ctx, name, images.SynchronousDelete()); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("image %s not found: %w", ref, errdefs.ErrNotFound)
		}
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

func summary(ctx context.Context, img containerd.Image) pod.Image {
	size, _ := img.Size(ctx)
	md := img.Metadata()
	return pod.Image{Name: img.Name(), Digest: img.Target().Digest.String(), Size: size, CreatedAt: md.CreatedAt}
}
