package ctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
)

// DeleteOptions are podctl delete's: either Files, or a Kind and Names.
type DeleteOptions struct {
	Files     []string
	Recursive bool
	Kind      string
	Names     []string
	Namespace string
	Grace     *int64
	// IgnoreNotFound treats a missing object as deleted.
	IgnoreNotFound bool
}

// Delete deletes the objects a manifest names, or the named objects of a kind; Pods are stopped
// within their grace period and removed. An object that is not there is an error unless
// IgnoreNotFound, after the others are deleted, as with kubectl.
func Delete(ctx context.Context, c *api.Client, o DeleteOptions, s Streams) error {
	var errs []error
	if len(o.Files) > 0 {
		if o.Kind != "" || len(o.Names) > 0 {
			return Usagef("delete: give either -f FILE or KIND NAME..., not both")
		}
		files, err := readManifests(o.Files, o.Recursive, s.In)
		if err != nil {
			return err
		}
		for _, f := range files {
			rs, err := c.DeleteManifest(ctx, f.data, o.Grace)
			for _, r := range rs {
				if r.Action == "not found" {
					if !o.IgnoreNotFound {
						errs = append(errs, fmt.Errorf("%s %q not found in namespace %q", qualifiedKind(r.Kind), r.Name, r.Namespace))
					}
					continue
				}
				fmt.Fprintf(s.Out, "%s \"%s\" deleted\n", qualifiedKind(r.Kind), r.Name)
			}
			if err != nil {
				errs = append(errs, fileError(f.name, len(files), err))
			}
		}
		return errors.Join(errs...)
	}
	if o.Kind == "" || len(o.Names) == 0 {
		return Usagef("delete: want -f FILE, or KIND NAME...")
	}
	kind, err := ResolveKind(o.Kind)
	if err != nil {
		return err
	}
	for _, name := range o.Names {
		var err error
		if kind == "Pod" {
			err = c.RemovePod(ctx, o.Namespace, name, o.Grace)
		} else {
			k, _ := object.KindOf(kind)
			err = c.DeleteObject(ctx, k, o.Namespace, name, o.Grace)
		}
		switch {
		case err == nil:
			fmt.Fprintf(s.Out, "%s \"%s\" deleted\n", qualifiedKind(kind), name)
		case errdefs.IsNotFound(err) && o.IgnoreNotFound:
		default:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ResolveKind turns what a user typed for a kind (kubectl's names: deploy, deployments,
// Deployment, po, pods...) into the kind, or a usage error listing them.
func ResolveKind(name string) (string, error) {
	switch name {
	case "po", "pod", "pods", "Pod":
		return "Pod", nil
	}
	if k, ok := object.Resolve(name); ok {
		return k.Kind, nil
	}
	return "", Usagef("the server doesn't have a resource type %q (podd knows pods (po), deployments (deploy), replicasets (rs), statefulsets (sts), jobs, configmaps (cm), secrets, services (svc), persistentvolumeclaims (pvc))", name)
}
