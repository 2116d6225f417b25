package daemon

import (
	"github.com/podd-dev/podd/pkg/controller"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// objectConfigs serves the ConfigMaps and Secrets of controller.Objects to the supervisor (env,
// and the wake-up of pods that refer to them) and the sandbox (volumes). objs is set once, before
// the supervisor starts.
type objectConfigs struct {
	objs *controller.Objects
}

func (c *objectConfigs) ConfigMap(namespace, name string) (*pod.ConfigData, error) {
	o, err := c.objs.Get("ConfigMap", namespace, name)
	if err != nil {
		return nil, err
	}
	return object.ConfigMapData(o.(*object.ConfigMap))
}

func (c *objectConfigs) Secret(namespace, name string) (*pod.ConfigData, error) {
	o, err := c.objs.Get("Secret", namespace, name)
	if err != nil {
		return nil, err
	}
	return object.SecretData(o.(*object.Secret))
}

func (c *objectConfigs) Changed() <-chan struct{} { return c.objs.Changed() }
