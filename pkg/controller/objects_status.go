package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/object"
)

// UpdateStatus stores obj's status on the stored object of the same kind, namespace and name,
// keeping the stored spec and metadata: an apply between a controller's read and this write (a
// Job suspended, a parallelism changed) is kept, not overwritten. It is stored (fsynced) before
// it returns; a status that did not change writes nothing. An object that is gone, or was deleted and made again (another UID), is NotFound:
// a controller never brings back what was deleted.
func (o *Objects) UpdateStatus(ctx context.Context, obj object.Object) error {
	o.apply.Lock()
	defer o.apply.Unlock()
	key := object.KeyOf(obj)
	m := obj.GetMetadata()
	o.mu.Lock()
	cur := o.objs[key]
	o.mu.Unlock()
	if cur == nil || cur.GetMetadata().UID != m.UID {
		return fmt.Errorf("%s %q not found in namespace %q: %w", strings.ToLower(obj.GetKind()), m.Name, m.Namespace, errdefs.ErrNotFound)
	}
	next := object.Copy(cur)
	copyStatus(obj, next)
	data, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if old, _ := json.Marshal(cur); string(data) == string(old) {
		return nil
	}
	if err := o.store.PutObjects(ctx, map[string][]byte{key: data}); err != nil {
		return err
	}
	o.mu.Lock()
	o.objs[key] = next
	o.notifyLocked()
	o.mu.Unlock()
	return nil
}
