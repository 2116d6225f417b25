package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/events"
	"github.com/podd-dev/podd/pkg/manifest"
	"github.com/podd-dev/podd/pkg/pod"
)

// Event reasons of static pods.
const (
	ReasonStaticInvalid  = "FailedStaticManifest"
	ReasonStaticReplaced = "StaticPodChanged"
)

// Pods is what a controller may do with pods: create them as their owner, remove the ones it
// owns, and see who owns which. The supervisor (pkg/supervisor's Manager) implements it; nothing
// else of the supervisor is reachable from a controller.
type Pods interface {
	// CreateOwned creates pods owned by owner, all or none, once they are stored.
	CreateOwned(ctx context.Context, owner pod.Owner, pods []*pod.Pod) ([]*pod.Pod, error)
	// RemoveOwned stops (within the grace period) and removes a pod owner owns; it returns once
	// the pod is gone.
	RemoveOwned(ctx context.Context, owner pod.Owner, namespace, name string) error
	// Owners lists every pod (namespace/name) with its owner (the zero Owner: the API's).
	Owners() map[string]pod.Owner
	// Accepting is false while podd holds every pod down for a shutdown.
	Accepting() bool
	// List returns the pods of namespace ("" for all) with their status.
	List(ctx context.Context, namespace string) ([]*pod.Pod, error)
	// Changed returns a channel closed at the next change of any pod (created, removed, status or
	// metadata changed): a controller takes it, reads the pods, then waits on it.
	Changed() <-chan struct{}
}

// Static is the static pods' controller: the files of podd's manifests folder own the pods they
// describe, as the kubelet's static pod folder does.
type Static struct {
	pods       Pods
	events     *events.Recorder
	log        *slog.Logger
	retryDelay time.Duration
	// Expand expands the patterns' annotations of a file's pods (the daemon's admission, as
	// for the API's pods); nil expands nothing.
	Expand func([]*pod.Pod) ([]*pod.Pod, error)

	mu      sync.Mutex        // one sync at a time
	files   map[string][]byte // the folder as last read: path → content
	busy    map[string]bool   // namespace/name → a removal is under way
	reports map[string]string // path → the error last reported for it
}

// NewStatic returns the static pods' controller; Sync drives it. retryDelay is the pause before a
// failed removal is looked at again.
func NewStatic(pods Pods, ev *events.Recorder, log *slog.Logger, retryDelay time.Duration) *Static {
	if retryDelay <= 0 {
		retryDelay = 5 * time.Second
	}
	return &Static{pods: pods, events: ev, log: log, retryDelay: retryDelay, busy: map[string]bool{}, reports: map[string]string{}}
}

type desiredStatic struct {
	file string
	pod  *pod.Pod
	hash string
}

// Sync makes the static pods match the manifest files: files maps each file's path to its
// content, and is the whole folder (a file missing from it is gone). A new file's pods are
// created, a pod whose description changed is replaced (stopped with its grace period, removed,
// created again), and the pods of a removed file are stopped and removed. A file that cannot be
// decoded, fails validation or names a pod that exists already is reported — a Warning event
// and a log line — and changes nothing: pods it started before keep running as they were.
// Removals run in the background; each one's end triggers a new sync, so SyncStatic never waits
// for a grace period.
func (c *Static) Sync(ctx context.Context, files map[string][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files = files
	c.syncLocked(ctx)
}

func (c *Static) syncLocked(ctx context.Context) {
	if !c.pods.Accepting() {
		return // ResumeAll, or the next podd, syncs again
	}
	paths := make([]string, 0, len(c.files))
	for p := range c.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	owners := c.pods.Owners()
	desired := map[string]desiredStatic{}
	keep := map[string]bool{} // files in error: their pods stay as they are
	for _, path := range paths {
		pods, err := decodeStatic(c.files[path], c.Expand)
		if err == nil {
			err = claimStatic(desired, owners, path, pods)
		}
		if err != nil {
			keep[path] = true
			c.report(path, err)
			continue
		}
		delete(c.reports, path)
	}
	for path := range c.reports {
		if _, ok := c.files[path]; !ok {
			delete(c.reports, path)
		}
	}

	// What runs now from files.
	have := map[string]pod.Owner{}
	for k, o := range owners {
		if o.Kind == pod.OwnerFile {
			have[k] = o
		}
	}
	for k, o := range have {
		d, wanted := desired[k]
		switch {
		case c.busy[k]:
		case !wanted && keep[o.Name]:
		case !wanted:
			c.log.Info("static pod's manifest is gone: removing the pod", "pod", k, "file", o.Name)
			c.remove(ctx, k, o)
		case d.hash != o.Hash || d.file != o.Name:
			c.log.Info("static pod's manifest changed: replacing the pod", "pod", k, "file", d.file)
			c.events.File(d.file, pod.EventNormal, ReasonStaticReplaced, "pod %s changed: replacing it", k)
			c.remove(ctx, k, o)
		}
	}

	var create []desiredStatic
	for k, d := range desired {
		if _, ok := have[k]; !ok && !c.busy[k] {
			create = append(create, d)
		}
	}
	sort.Slice(create, func(i, j int) bool { return create[i].file < create[j].file })
	for _, d := range create {
		a := map[string]string{}
		for k, v := range d.pod.Metadata.Annotations {
			a[k] = v
		}
		a[pod.AnnotationConfigSource], a[pod.AnnotationConfigFile], a[pod.AnnotationConfigHash] = "file", d.file, d.hash
		d.pod.Metadata.Annotations = a
		owner := pod.Owner{Kind: pod.OwnerFile, Name: d.file, Hash: d.hash}
		if _, err := c.pods.CreateOwned(ctx, owner, []*pod.Pod{d.pod}); err != nil {
			c.report(d.file, err)
			continue
		}
		c.log.Info("started static pod", "pod", key(d.pod.Metadata.Namespace, d.pod.Metadata.Name), "file", d.file)
	}
}

// decodeStatic decodes a file's pods and checks them as creation would (on copies: the pods
// created later are the decoded ones, defaulted then).
func decodeStatic(data []byte, expand func([]*pod.Pod) ([]*pod.Pod, error)) ([]*pod.Pod, error) {
	pods, err := manifest.Decode(data)
	if err == nil && expand != nil {
		pods, err = expand(pods)
	}
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
func claimStatic(desired map[string]desiredStatic, owners map[string]pod.Owner, path string, pods []*pod.Pod) error {
	claim := map[string]desiredStatic{}
	for _, p := range pods {
		k := key(p.Metadata.Namespace, p.Metadata.Name)
		if d, ok := desired[k]; ok {
			return fmt.Errorf("pod %q in namespace %q is already described by %s: %w", p.Metadata.Name, p.Metadata.Namespace, d.file, errdefs.ErrAlreadyExists)
		}
		if _, ok := claim[k]; ok {
			return fmt.Errorf("pod %q in namespace %q is described twice: %w", p.Metadata.Name, p.Metadata.Namespace, errdefs.ErrAlreadyExists)
		}
		if o, exists := owners[k]; exists && o.Kind != pod.OwnerFile {
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

// report reports a file's error once (again only when it changes): a log line and a Warning
// event about the file.
func (c *Static) report(path string, err error) {
	msg := err.Error()
	if c.reports[path] == msg {
		return
	}
	c.reports[path] = msg
	c.log.Warn("static pod manifest refused; its pods, if any, are left as they were", "file", path, "err", err)
	c.events.File(path, pod.EventWarning, ReasonStaticInvalid, "%s", msg)
}

// remove stops and removes a static pod in the background, then syncs again (which creates the
// pod anew if its file still describes it: a replacement).
func (c *Static) remove(ctx context.Context, k string, owner pod.Owner) {
	c.busy[k] = true
	namespace, name, _ := strings.Cut(k, "/")
	go func() {
		if err := c.pods.RemoveOwned(ctx, owner, namespace, name); err != nil && !errdefs.IsNotFound(err) {
			// The supervisor tries again by itself; look again once it may have succeeded.
			c.log.Warn("remove static pod", "pod", k, "err", err)
			select {
			case <-time.After(c.retryDelay):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.busy, k)
		c.syncLocked(ctx)
	}()
}

func key(namespace, name string) string { return namespace + "/" + name }

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
