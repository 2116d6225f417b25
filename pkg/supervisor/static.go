package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/pod"

	"github.com/containerd/errdefs"
)

// Annotations podd puts on static pods, as the kubelet marks its mirror pods, so that get,
// describe and -o yaml show where a pod comes from.
const (
	AnnotationConfigSource = "podd.io/config.source" // "file"
	AnnotationConfigFile   = "podd.io/config.file"   // the manifest's path
	AnnotationConfigHash   = "podd.io/config.hash"   // SourceHash
)

// Event reasons of static pods.
const (
	ReasonStaticInvalid  = "FailedStaticManifest"
	ReasonStaticReplaced = "StaticPodChanged"
)

// staticPods is the manager's state of the manifests folder.
type staticPods struct {
	mu      sync.Mutex        // one sync at a time
	files   map[string][]byte // the folder as last read: path → content
	busy    map[string]bool   // namespace/name → a removal is under way
	reports map[string]string // path → the error last reported for it
}

type desiredStatic struct {
	file string
	pod  *pod.Pod
	hash string
}

// SyncStatic makes the static pods match the manifest files: files maps each file's path to its
// content, and is the whole folder (a file missing from it is gone). A new file's pods are
// created, a pod whose description changed is replaced (stopped with its grace period, removed,
// created again), and the pods of a removed file are stopped and removed. A file that cannot be
// decoded, fails validation or names a pod that exists already is reported — a Warning event
// and a log line — and changes nothing: pods it started before keep running as they were.
// Removals run in the background; each one's end triggers a new sync, so SyncStatic never waits
// for a grace period.
func (m *Manager) SyncStatic(ctx context.Context, files map[string][]byte) {
	m.static.mu.Lock()
	defer m.static.mu.Unlock()
	m.static.files = files
	m.syncStaticLocked(ctx)
}

func (m *Manager) syncStaticLocked(ctx context.Context) {
	m.mu.Lock()
	down := m.shuttingDown
	m.mu.Unlock()
	if down {
		return // ResumeAll, or the next podd, syncs again
	}
	s := &m.static
	if s.busy == nil {
		s.busy = map[string]bool{}
		s.reports = map[string]string{}
	}
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	desired := map[string]desiredStatic{}
	keep := map[string]bool{} // files in error: their pods stay as they are
	for _, path := range paths {
		pods, err := decodeStatic(s.files[path])
		if err == nil {
			err = m.claimStatic(desired, path, pods)
		}
		if err != nil {
			keep[path] = true
			m.reportStatic(path, err)
			continue
		}
		delete(s.reports, path)
	}
	for path := range s.reports {
		if _, ok := s.files[path]; !ok {
			delete(s.reports, path)
		}
	}

	// What runs now from files.
	type current struct {
		w    *worker
		file string
		hash string
	}
	have := map[string]current{}
	m.mu.Lock()
	for k, w := range m.pods {
		if w.rec.Source != "" {
			have[k] = current{w: w, file: w.rec.Source, hash: w.rec.SourceHash}
		}
	}
	m.mu.Unlock()

	for k, c := range have {
		d, wanted := desired[k]
		switch {
		case s.busy[k]:
		case !wanted && keep[c.file]:
		case !wanted:
			m.log.Info("static pod's manifest is gone: removing the pod", "pod", k, "file", c.file)
			m.removeStatic(ctx, k, c.w)
		case d.hash != c.hash || d.file != c.file:
			m.log.Info("static pod's manifest changed: replacing the pod", "pod", k, "file", d.file)
			m.events.recordFile(d.file, pod.EventNormal, ReasonStaticReplaced, "pod %s changed: replacing it", k)
			m.removeStatic(ctx, k, c.w)
		}
	}

	var create []desiredStatic
	for k, d := range desired {
		if _, ok := have[k]; !ok && !s.busy[k] {
			create = append(create, d)
		}
	}
	sort.Slice(create, func(i, j int) bool { return create[i].file < create[j].file })
	for _, d := range create {
		_, err := m.createPods(ctx, []*pod.Pod{d.pod}, func(_ int, r *Record) {
			r.Source, r.SourceHash = d.file, d.hash
			a := map[string]string{}
			for k, v := range r.Pod.Metadata.Annotations {
				a[k] = v
			}
			a[AnnotationConfigSource], a[AnnotationConfigFile], a[AnnotationConfigHash] = "file", d.file, d.hash
			r.Pod.Metadata.Annotations = a
		})
		if err != nil {
			m.reportStatic(d.file, err)
			continue
		}
		m.log.Info("started static pod", "pod", key(d.pod.Metadata.Namespace, d.pod.Metadata.Name), "file", d.file)
	}
}

// decodeStatic decodes a file's pods and checks them as creation would (on copies: the pods
// created later are the decoded ones, defaulted then).
func decodeStatic(data []byte) ([]*pod.Pod, error) {
	pods, err := manifest.Decode(data)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range pods {
		if p.Metadata.Namespace == "" {
			p.Metadata.Namespace = pod.DefaultNamespace
		}
		c, err := clonePod(p)
		if err != nil {
			return nil, err
		}
		pod.SetDefaults(c)
		if err := pod.Validate(c); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Metadata.Name, err))
		}
	}
	return pods, errors.Join(errs...)
}

// claimStatic adds a valid file's pods to desired, or reports why the file cannot have them: a
// pod another file describes, or a pod created through the API.
func (m *Manager) claimStatic(desired map[string]desiredStatic, path string, pods []*pod.Pod) error {
	claim := map[string]desiredStatic{}
	for _, p := range pods {
		k := key(p.Metadata.Namespace, p.Metadata.Name)
		if d, ok := desired[k]; ok {
			return fmt.Errorf("pod %q in namespace %q is already described by %s: %w", p.Metadata.Name, p.Metadata.Namespace, d.file, errdefs.ErrAlreadyExists)
		}
		if _, ok := claim[k]; ok {
			return fmt.Errorf("pod %q in namespace %q is described twice: %w", p.Metadata.Name, p.Metadata.Namespace, errdefs.ErrAlreadyExists)
		}
		m.mu.Lock()
		w := m.pods[k]
		m.mu.Unlock()
		if w != nil && w.rec.Source == "" {
			return fmt.Errorf("pod %q in namespace %q already exists and was not created from a file: %w", p.Metadata.Name, p.Metadata.Namespace, errdefs.ErrAlreadyExists)
		}
		h, err := hashPod(p)
		if err != nil {
			return err
		}
		claim[k] = desiredStatic{file: path, pod: p, hash: h}
	}
	for k, d := range claim {
		desired[k] = d
	}
	return nil
}

// reportStatic reports a file's error once (again only when it changes): a log line and a
// Warning event about the file.
func (m *Manager) reportStatic(path string, err error) {
	msg := err.Error()
	if m.static.reports[path] == msg {
		return
	}
	m.static.reports[path] = msg
	m.log.Warn("static pod manifest refused; its pods, if any, are left as they were", "file", path, "err", err)
	m.events.recordFile(path, pod.EventWarning, ReasonStaticInvalid, "%s", msg)
}

// removeStatic stops and removes a static pod in the background, then syncs again (which
// creates the pod anew if its file still describes it: a replacement).
func (m *Manager) removeStatic(ctx context.Context, k string, w *worker) {
	m.static.busy[k] = true
	go func() {
		if err := w.request(ctx, evStop{remove: true}); err != nil && !errdefs.IsNotFound(err) {
			// The worker tries again by itself; look again once it may have succeeded.
			m.log.Warn("remove static pod", "pod", k, "err", err)
			select {
			case <-time.After(m.opts.RetryDelay):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			return
		}
		m.static.mu.Lock()
		defer m.static.mu.Unlock()
		delete(m.static.busy, k)
		m.syncStaticLocked(ctx)
	}()
}

// hashPod identifies a pod's description: any change to what the file says of the pod changes it.
func hashPod(p *pod.Pod) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("hash pod %s: %w", p.Metadata.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

func clonePod(p *pod.Pod) (*pod.Pod, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var c pod.Pod
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
