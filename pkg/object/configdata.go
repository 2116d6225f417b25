package object

import (
	"encoding/base64"
	"fmt"

	"github.com/podd-dev/podd/pkg/pod"
)

// ConfigMapData is what a pod may read of a ConfigMap: data, and binaryData decoded.
func ConfigMapData(c *ConfigMap) (*pod.ConfigData, error) {
	d := &pod.ConfigData{Data: make(map[string][]byte, len(c.Data)), BinaryData: make(map[string][]byte, len(c.BinaryData))}
	for k, v := range c.Data {
		d.Data[k] = []byte(v)
	}
	for k, v := range c.BinaryData {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("configmap %q: binaryData[%s]: must be base64 encoded", c.Metadata.Name, k)
		}
		d.BinaryData[k] = b
	}
	return d, nil
}

// SecretData is what a pod may read of a Secret: its data decoded (stringData is folded into data
// when the Secret is stored). An error never holds a value.
func SecretData(s *Secret) (*pod.ConfigData, error) {
	d := &pod.ConfigData{Data: make(map[string][]byte, len(s.Data)+len(s.StringData))}
	for k, v := range s.Data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("secret %q: data[%s]: must be base64 encoded", s.Metadata.Name, k)
		}
		d.Data[k] = b
	}
	for k, v := range s.StringData {
		d.Data[k] = []byte(v)
	}
	return d, nil
}
