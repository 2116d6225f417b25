package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Claim phases, as Kubernetes reports them.
const (
	ClaimPending = "Pending"
	ClaimBound   = "Bound"
)

// ClaimDir is the folder of the claim of that UID under podd's --root.
func ClaimDir(root, uid string) string { return filepath.Join(root, "volumes", "pvc-"+uid) }

// PVCs binds every PersistentVolumeClaim to a folder of its own, <root>/volumes/pvc-<uid>, and
// removes the folder once the claim is deleted and no pod uses it any more (the claim shows
// Terminating until then, as Kubernetes' kubernetes.io/pvc-protection finalizer holds it).
// Capacity is what the claim requests, and is not enforced (local-path does not either).
type PVCs struct {
	Objects *Objects
	Pods    Pods
	// Root is podd's --root.
	Root string
	Log  *slog.Logger
}

// Name names the controller in logs.
func (c *PVCs) Name() string { return "persistentvolumeclaim" }

// Sync binds the new claims, lets go of the deleted ones no pod uses, and removes the folders
// of claims that are gone (a podd killed between the two steps of a removal).
func (c *PVCs) Sync(ctx context.Context) (time.Duration, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	claims := c.Objects.List("PersistentVolumeClaim", "")
	var users map[string]bool
	var errs []error
	uids := map[string]bool{}
	for _, obj := range claims {
		claim := obj.(*object.PersistentVolumeClaim)
		m := &claim.Metadata
		uids[m.UID] = true
		dir := ClaimDir(c.Root, m.UID)
		if m.DeletionTimestamp != nil {
			if users == nil {
				var err error
				if users, err = c.claimUsers(ctx); err != nil {
					return 0, err
				}
			}
			if users[key(m.Namespace, m.Name)] {
				continue // a pod's end wakes this loop again
			}
			if err := c.release(ctx, claim, dir); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if claim.Status.Phase == ClaimBound {
			continue
		}
		if err := c.bind(ctx, claim, dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.sweep(uids); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return 0, errs[0]
	}
	return 0, nil
}

// bind makes the claim's folder, then records the claim Bound: a podd killed in between makes
// the folder again (MkdirAll) and binds.
func (c *PVCs) bind(ctx context.Context, claim *object.PersistentVolumeClaim, dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("bind claim %s/%s: %w", claim.Metadata.Namespace, claim.Metadata.Name, err)
	}
	// As local-path does: any runAsUser of any pod may write into its claim.
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("bind claim %s/%s: %w", claim.Metadata.Namespace, claim.Metadata.Name, err)
	}
	fault.Point(fault.ClaimAfterFolder)
	claim.Status.Phase = ClaimBound
	claim.Status.AccessModes = claim.Spec.AccessModes
	claim.Status.Capacity = pod.ResourceList{}
	if q, ok := claim.Spec.Resources.Requests["storage"]; ok {
		claim.Status.Capacity["storage"] = q
	}
	if err := c.Objects.UpdateStatus(ctx, claim); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	c.Log.Info("claim bound", "claim", claim.Metadata.Namespace+"/"+claim.Metadata.Name, "path", dir)
	return nil
}

// release removes a deleted claim's folder, then the claim: a podd killed in between finds the
// claim Terminating and removes the (gone) folder again.
func (c *PVCs) release(ctx context.Context, claim *object.PersistentVolumeClaim, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the folder of claim %s/%s: %w", claim.Metadata.Namespace, claim.Metadata.Name, err)
	}
	fault.Point(fault.ClaimAfterFolderRemoved)
	if err := c.Objects.Remove(ctx, claim); err != nil {
		return err
	}
	c.Log.Info("claim deleted with its folder", "claim", claim.Metadata.Namespace+"/"+claim.Metadata.Name, "path", dir)
	return nil
}

// claimUsers are the claims (namespace/name) that a pod which has not ended uses, as Kubernetes'
// pvc-protection controller counts them.
func (c *PVCs) claimUsers(ctx context.Context) (map[string]bool, error) {
	pods, err := c.Pods.List(ctx, "")
	if err != nil {
		return nil, err
	}
	users := map[string]bool{}
	for _, p := range pods {
		if p.Status.Phase == pod.PodSucceeded || p.Status.Phase == pod.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				users[key(p.Metadata.Namespace, v.PersistentVolumeClaim.ClaimName)] = true
			}
		}
	}
	return users, nil
}

// sweep removes the folders of claims that no longer exist.
func (c *PVCs) sweep(uids map[string]bool) error {
	dir := filepath.Join(c.Root, "volumes")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		uid, ok := strings.CutPrefix(e.Name(), "pvc-")
		if !ok || !e.IsDir() || uids[uid] {
			continue
		}
		c.Log.Info("removing the folder of a claim that is gone", "path", filepath.Join(dir, e.Name()))
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove the folder of a claim that is gone: %w", err)
		}
	}
	return nil
}

// ClaimPaths finds a claim's folder for the pods' sandboxes (pkg/sandbox's Claims).
type ClaimPaths struct {
	Objects *Objects
	Root    string
}

// ClaimPath is the folder of the claim namespace/name: NotFound while it does not exist,
// Unavailable until it is bound.
func (c ClaimPaths) ClaimPath(namespace, name string) (string, error) {
	obj, err := c.Objects.Get("PersistentVolumeClaim", namespace, name)
	if err != nil {
		return "", err
	}
	claim := obj.(*object.PersistentVolumeClaim)
	if claim.Status.Phase != ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound yet: %w", name, errdefs.ErrUnavailable)
	}
	return ClaimDir(c.Root, claim.Metadata.UID), nil
}
