package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/podd-dev/podd/pkg/pod"
)

// maxConfigSize is Kubernetes' bound on a ConfigMap's or a Secret's data (pkg/object's
// MaxDataSize), and so on what one source of a volume holds.
const maxConfigSize = 1 << 20

// SecretVolumeSize bounds the tmpfs of a volume that shows a Secret for each of its sources:
// two versions of the files live at once while the ..data link is swapped. The pages are only
// charged as they are used, to podd's memory cgroup (which writes them).
func SecretVolumeSize(v pod.Volume) int64 {
	return int64(max(pod.ConfigSources(v), 1))*2*maxConfigSize + maxConfigSize
}

// configVolume writes a configMap, secret or projected volume's files, as the ConfigMaps and
// Secrets are now, with the kubelet's AtomicWriter scheme. A volume that shows a Secret is a tmpfs
// of its own, so that a Secret's value never reaches --root's disk.
func (r *Host) configVolume(path string, p *pod.Pod, v pod.Volume) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	if pod.HoldsSecret(v) {
		mounted, err := isMountPoint(path)
		if err != nil {
			return err
		}
		if !mounted {
			opts := "mode=0755,size=" + strconv.FormatInt(SecretVolumeSize(v), 10)
			if err := unix.Mount("tmpfs", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
				return fmt.Errorf("mount a tmpfs for volume %q on %s: %w", v.Name, path, err)
			}
		}
	}
	files, err := pod.ConfigVolumeFiles(p, v, r.cfg.Configs, r.node())
	if err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err)
	}
	if err := writeAtomic(path, files); err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return nil
}

// RefreshConfigVolumes rewrites the pod's configMap, secret and projected volumes from the
// ConfigMaps and Secrets as they are now; the pod's worker calls it, so it never races with
// SetupSandbox for the same pod. A volume whose content is unchanged is left as it is.
func (r *Host) RefreshConfigVolumes(ctx context.Context, p *pod.Pod) error {
	dir := r.PodDir(p.Metadata.UID)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // no sandbox yet: SetupSandbox writes the volumes when it makes one
	}
	var errs []error
	for i, v := range p.Spec.Volumes {
		if !pod.IsConfigVolume(v) {
			continue
		}
		if err := r.configVolume(filepath.Join(dir, "volumes", v.Name), p, v); err != nil {
			errs = append(errs, fmt.Errorf("spec.volumes[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
