package ctl

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestDescribeSecretShowsSizesOnly(t *testing.T) {
	s := &object.Secret{Metadata: pod.ObjectMeta{Name: "db", Namespace: "default"}, Type: "Opaque",
		Data: map[string]string{"password": base64.StdEncoding.EncodeToString([]byte("hunter2-x")), "user": base64.StdEncoding.EncodeToString([]byte("admin"))}}
	var b bytes.Buffer
	if err := describeSecret(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Name:         db\n", "Namespace:    default\n", "Labels:       <none>\n", "Type:  Opaque\n", "Data\n====\n", "password:  9 bytes\n", "user:      5 bytes\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe secret lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2-x", "admin", s.Data["password"]} {
		if strings.Contains(out, secret) {
			t.Errorf("describe secret shows %q:\n%s", secret, out)
		}
	}
}

func TestDescribeConfigMap(t *testing.T) {
	c := &object.ConfigMap{Metadata: pod.ObjectMeta{Name: "cfg", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Data: map[string]string{"color": "blue", "app.properties": "a=1\nb=2"}, BinaryData: map[string]string{"logo": base64.StdEncoding.EncodeToString([]byte{1, 2, 3})}}
	var b bytes.Buffer
	if err := describeConfigMap(&b, c); err != nil {
		t.Fatal(err)
	}
	want := "Name:         cfg\nNamespace:    default\nLabels:       app=web\nAnnotations:  <none>\n\nData\n====\n" +
		"app.properties:\n----\na=1\nb=2\ncolor:\n----\nblue\n\nBinaryData\n====\nlogo: 3 bytes\n\nEvents:  <none>\n"
	if b.String() != want {
		t.Errorf("describe cm:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDescribePodConfigReferences(t *testing.T) {
	no := false
	p := &pod.Pod{Metadata: pod.ObjectMeta{Name: "web", Namespace: "default"}, Spec: pod.PodSpec{
		Containers: []pod.Container{{Name: "app", Image: "busybox",
			EnvFrom: []pod.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &pod.ConfigMapEnvSource{Name: "cfg"}}, {SecretRef: &pod.SecretEnvSource{Name: "sec", Optional: &no}}},
			Env: []pod.EnvVar{
				{Name: "COLOR", ValueFrom: &pod.EnvVarSource{ConfigMapKeyRef: &pod.ConfigMapKeySelector{Name: "cfg", Key: "color"}}},
				{Name: "PW", ValueFrom: &pod.EnvVarSource{SecretKeyRef: &pod.SecretKeySelector{Name: "sec", Key: "password"}}},
			}}},
		Volumes: []pod.Volume{
			{Name: "config", ConfigMap: &pod.ConfigMapVolumeSource{Name: "cfg"}},
			{Name: "creds", Secret: &pod.SecretVolumeSource{SecretName: "sec"}},
			{Name: "all", Projected: &pod.ProjectedVolumeSource{Sources: []pod.VolumeProjection{{Secret: &pod.SecretProjection{Name: "sec"}}}}},
		}}}
	var b bytes.Buffer
	if err := describePod(&b, p, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Environment Variables from:", "cfg  ConfigMap with prefix 'CFG_'  Optional: false", "sec  Secret                        Optional: false",
		"COLOR:  <set to the key 'color' of config map 'cfg'>  Optional: false",
		"PW:     <set to the key 'password' in secret 'sec'>   Optional: false",
		"Type:      ConfigMap (a volume populated by a ConfigMap)", "SecretName:  sec",
		"Type:        Projected (a volume that contains injected data from multiple sources)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe pod lacks %q:\n%s", want, out)
		}
	}
}
