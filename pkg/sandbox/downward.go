package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/podd-dev/podd/pkg/pod"
)

// downwardAPIVolume writes a downwardAPI volume's files from the pod as it is now.
func downwardAPIVolume(path string, p *pod.Pod, v pod.Volume, node pod.NodeCapacity) error {
	files, err := pod.DownwardAPIFiles(p, v.DownwardAPI, node)
	if err != nil {
		return fmt.Errorf("downwardAPI: %w", err)
	}
	if err := writeAtomic(path, files); err != nil {
		return fmt.Errorf("downwardAPI: %w", err)
	}
	return nil
}

// RefreshDownwardAPI rewrites the pod's downwardAPI volumes from its current metadata; the pod's
// worker calls it, so it never races with SetupSandbox for the same pod.
func (r *Host) RefreshDownwardAPI(ctx context.Context, p *pod.Pod) error {
	dir := r.PodDir(p.Metadata.UID)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // no sandbox yet: SetupSandbox writes the volumes when it makes one
	}
	var errs []error
	for i, v := range p.Spec.Volumes {
		if v.Projected != nil && pod.HasDownwardAPIVolume(&pod.Pod{Spec: pod.PodSpec{Volumes: []pod.Volume{v}}}) {
			// A projected volume's downwardAPI files follow the metadata too.
			if err := r.configVolume(filepath.Join(dir, "volumes", v.Name), p, v); err != nil {
				errs = append(errs, fmt.Errorf("spec.volumes[%d]: %w", i, err))
			}
			continue
		}
		if v.DownwardAPI == nil {
			continue
		}
		if err := downwardAPIVolume(filepath.Join(dir, "volumes", v.Name), p, v, r.node()); err != nil {
			errs = append(errs, fmt.Errorf("spec.volumes[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
