package daemon

import (
	"log/slog"

	"github.com/podd-dev/podd/pkg/controller"
)

// statefulControllers are the reconcilers of claims and StatefulSets: claims are folders under
// root (podd's --root).
func statefulControllers(objs *controller.Objects, pods controller.Pods, root string, log *slog.Logger) []controller.Reconciler {
	return []controller.Reconciler{
		&controller.PVCs{Objects: objs, Pods: pods, Root: root, Log: log},
		&controller.StatefulSets{Objects: objs, Pods: pods, Log: log},
	}
}
