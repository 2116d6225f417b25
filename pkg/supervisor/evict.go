package supervisor

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	"github.com/podd-dev/podd/pkg/pod"
)

// VolumeCheckInterval is how often a pod's disk emptyDirs with a sizeLimit are measured (the
// kubelet's eviction manager looks every 10 s too): a container can write past the limit for at
// most that long, plus the time the measurement takes, before its pod is evicted.
const VolumeCheckInterval = 10 * time.Second

// ReasonEvicted is the pod's status.reason once evicted, as in Kubernetes.
const ReasonEvicted = "Evicted"

// evVolumeCheck asks the worker to measure its pod's limited emptyDirs.
type evVolumeCheck struct{}

// limitedVolumes are the pod's disk emptyDirs with a sizeLimit (a memory emptyDir's limit is its
// tmpfs's size, which cannot be exceeded).
func limitedVolumes(p *pod.Pod) []pod.Volume {
	var out []pod.Volume
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.Medium != pod.StorageMediumMemory && v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Value() > 0 {
			out = append(out, v)
		}
	}
	return out
}

// diskUsage is the space the files under dir take (blocks, as du counts them, each inode once),
// measured until it passes limit. Symlinks are not followed.
func diskUsage(dir string, limit int64) (int64, error) {
	var used int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed meanwhile
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || seen[st.Ino] {
			return nil
		}
		if st.Nlink > 1 {
			seen[st.Ino] = true
		}
		used += st.Blocks * 512
		if used > limit {
			return fs.SkipAll
		}
		return nil
	})
	return used, err
}

// checkVolumes evicts the pod when one of its limited emptyDirs holds more than its sizeLimit,
// and otherwise looks again after VolumeCheckInterval.
func (w *worker) checkVolumes(ctx context.Context) {
	if w.state != podSyncing {
		return
	}
	if w.sb == nil { // the sandbox is retried meanwhile
		w.after(ctx, VolumeCheckInterval, evVolumeCheck{})
		return
	}
	for _, v := range limitedVolumes(w.rec.Pod) {
		path := w.sb.VolumePaths[v.Name]
		if path == "" {
			continue
		}
		limit := v.EmptyDir.SizeLimit
		used, err := diskUsage(path, limit.Value())
		if err != nil {
			w.m.log.Warn("measure emptyDir", append(w.log(), "volume", v.Name, "err", err)...)
			continue
		}
		if used > limit.Value() {
			w.evict(ctx, fmt.Sprintf("Usage of EmptyDir volume %q exceeds the limit %q.", v.Name, limit.String()))
			return
		}
	}
	w.after(ctx, VolumeCheckInterval, evVolumeCheck{})
}

// evict stops the pod for good, as the kubelet evicts one: phase Failed, reason Evicted, the
// message saying why. The eviction is recorded, so that a restarted podd does not start it again.
func (w *worker) evict(ctx context.Context, message string) {
	w.m.log.Warn("evicting pod", append(w.log(), "reason", message)...)
	w.event(nil, pod.EventWarning, ReasonEvicted, "%s", message)
	next := *w.rec
	next.Stopped, next.Evicted = true, message
	if err := w.m.opts.Store.Put(ctx, &next); err != nil {
		// The stop goes ahead in memory: the pod must stop writing whether or not it is recorded.
		w.m.log.Warn("record eviction", append(w.log(), "err", err)...)
	}
	w.mu.Lock()
	w.rec.Stopped, w.rec.Evicted = true, message
	w.mu.Unlock()
	w.stopFor(ctx, peStop, podStopped, nil)
}
