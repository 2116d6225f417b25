package pod

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// memConfigs is a ConfigSource in memory: "ns/name" → data.
type memConfigs struct{ maps, secrets map[string]*ConfigData }

func (m memConfigs) ConfigMap(ns, name string) (*ConfigData, error) {
	if d, ok := m.maps[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("configmap %q: %w", name, errdefs.ErrNotFound)
}

func (m memConfigs) Secret(ns, name string) (*ConfigData, error) {
	if d, ok := m.secrets[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("secret %q: %w", name, errdefs.ErrNotFound)
}

var testConfigs = memConfigs{
	maps: map[string]*ConfigData{
		"default/cfg": {Data: map[string][]byte{"color": []byte("blue"), "size": []byte("large")}, BinaryData: map[string][]byte{"logo": {0, 1, 2}}},
	},
	secrets: map[string]*ConfigData{
		"default/sec": {Data: map[string][]byte{"password": []byte("s3cr3t"), "user": []byte("admin")}},
	},
}

func yes() *bool { b := true; return &b }

func TestResolveEnvFromConfigs(t *testing.T) {
	cmRef := func(name, key string, optional *bool) *EnvVarSource {
		return &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{Name: name, Key: key, Optional: optional}}
	}
	secRef := func(name, key string, optional *bool) *EnvVarSource {
		return &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: name, Key: key, Optional: optional}}
	}
	for _, tt := range []struct {
		name    string
		env     []EnvVar
		envFrom []EnvFromSource
		want    []string
		err     string
	}{
		{name: "keys", env: []EnvVar{{Name: "COLOR", ValueFrom: cmRef("cfg", "color", nil)}, {Name: "PW", ValueFrom: secRef("sec", "password", nil)}},
			want: []string{"COLOR=blue", "PW=s3cr3t"}},
		{name: "envFrom with prefix, sorted, then env over it and $(VAR) of it",
			envFrom: []EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &ConfigMapEnvSource{Name: "cfg"}}, {SecretRef: &SecretEnvSource{Name: "sec"}}},
			env:     []EnvVar{{Name: "user", Value: "root"}, {Name: "BOTH", Value: "$(CFG_size)-$(CFG_color)"}},
			// binaryData is not for env, as in the kubelet.
			want: []string{"CFG_color=blue", "CFG_size=large", "password=s3cr3t", "user=root", "BOTH=large-blue"}},
		{name: "optional missing: unset", env: []EnvVar{{Name: "A", ValueFrom: cmRef("none", "color", yes())}, {Name: "B", ValueFrom: cmRef("cfg", "nokey", yes())}, {Name: "C", Value: "c"}},
			envFrom: []EnvFromSource{{SecretRef: &SecretEnvSource{Name: "none", Optional: yes()}}},
			want:    []string{"C=c"}},
		{name: "missing ConfigMap", env: []EnvVar{{Name: "A", ValueFrom: cmRef("none", "color", nil)}}, err: `configmap "none" not found`},
		{name: "missing key", env: []EnvVar{{Name: "A", ValueFrom: cmRef("cfg", "nokey", nil)}}, err: "couldn't find key nokey in ConfigMap default/cfg"},
		{name: "missing Secret key", env: []EnvVar{{Name: "A", ValueFrom: secRef("sec", "token", nil)}}, err: "couldn't find key token in Secret default/sec"},
		{name: "missing envFrom Secret", envFrom: []EnvFromSource{{SecretRef: &SecretEnvSource{Name: "none"}}}, err: `secret "none" not found`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pod{Metadata: ObjectMeta{Name: "p", Namespace: "default"}, Spec: PodSpec{Containers: []Container{{Name: "c", Env: tt.env, EnvFrom: tt.envFrom}}}}
			got, err := ResolveEnvFrom(p, &p.Spec.Containers[0], nil, NodeCapacity{}, testConfigs)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrConfigMissing) || !errdefs.IsNotFound(err) {
					t.Fatalf("err = %v, want %q (ErrConfigMissing, NotFound)", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("env = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestConfigVolumeFiles(t *testing.T) {
	mode := func(m int32) *int32 { return &m }
	p := &Pod{Metadata: ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}}}
	for _, tt := range []struct {
		name string
		v    Volume
		want map[string]string // path → mode:content
		err  string
	}{
		{name: "whole ConfigMap, binaryData too", v: Volume{ConfigMap: &ConfigMapVolumeSource{Name: "cfg"}},
			want: map[string]string{"color": "644:blue", "size": "644:large", "logo": "644:\x00\x01\x02"}},
		{name: "items and modes", v: Volume{ConfigMap: &ConfigMapVolumeSource{Name: "cfg", DefaultMode: mode(0o600), Items: []KeyToPath{{Key: "color", Path: "a/b/c"}, {Key: "logo", Path: "logo.bin", Mode: mode(0o400)}}}},
			want: map[string]string{"a/b/c": "600:blue", "logo.bin": "400:\x00\x01\x02"}},
		{name: "missing key", v: Volume{ConfigMap: &ConfigMapVolumeSource{Name: "cfg", Items: []KeyToPath{{Key: "nokey", Path: "x"}}}},
			err: "configmap references non-existent config key: nokey"},
		{name: "missing key, optional", v: Volume{ConfigMap: &ConfigMapVolumeSource{Name: "cfg", Optional: yes(), Items: []KeyToPath{{Key: "nokey", Path: "x"}, {Key: "size", Path: "s"}}}},
			want: map[string]string{"s": "644:large"}},
		{name: "missing ConfigMap", v: Volume{ConfigMap: &ConfigMapVolumeSource{Name: "none"}}, err: `configmap "none" not found`},
		{name: "missing optional ConfigMap: empty", v: Volume{ConfigMap: &ConfigMapVolumeSource{Name: "none", Optional: yes()}}, want: map[string]string{}},
		{name: "secret", v: Volume{Secret: &SecretVolumeSource{SecretName: "sec", DefaultMode: mode(0o400)}},
			want: map[string]string{"password": "400:s3cr3t", "user": "400:admin"}},
		{name: "missing Secret key", v: Volume{Secret: &SecretVolumeSource{SecretName: "sec", Items: []KeyToPath{{Key: "token", Path: "t"}}}},
			err: "references non-existent secret key: token"},
		{name: "projected", v: Volume{Projected: &ProjectedVolumeSource{DefaultMode: mode(0o640), Sources: []VolumeProjection{
			{ConfigMap: &ConfigMapProjection{Name: "cfg", Items: []KeyToPath{{Key: "color", Path: "cfg/color"}}}},
			{Secret: &SecretProjection{Name: "sec", Items: []KeyToPath{{Key: "user", Path: "user", Mode: mode(0o400)}}}},
			{Secret: &SecretProjection{Name: "none", Optional: yes()}},
			{DownwardAPI: &DownwardAPIProjection{Items: []DownwardAPIVolumeFile{{Path: "labels", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
		}}}, want: map[string]string{"cfg/color": "640:blue", "user": "400:admin", "labels": `640:app="web"`}},
		{name: "projected, missing Secret", v: Volume{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{Secret: &SecretProjection{Name: "none"}}}}},
			err: `secret "none" not found`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files, err := ConfigVolumeFiles(p, tt.v, testConfigs, NodeCapacity{})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrConfigMissing) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for path, f := range files {
				got[path] = fmt.Sprintf("%o:%s", f.Mode, f.Data)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("files = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateConfigReferences(t *testing.T) {
	mode := func(m int32) *int32 { return &m }
	for _, tt := range []struct {
		name   string
		change func(p *Pod)
		field  string
		detail string
	}{
		{"keyRef without key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{Name: "cfg"}}}}
		}, "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", "Required value"},
		{"keyRef bad key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: "s", Key: "a/b"}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.key", `Invalid value: "a/b": a valid config key must consist of`},
		{"keyRef without name", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Key: "k"}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.name", "Required value"},
		{"two sources", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: "s", Key: "k"}, FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}}}
		}, "spec.containers[0].env[0].valueFrom", "may not have more than one field specified at a time"},
		{"envFrom both", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{Name: "c"}, SecretRef: &SecretEnvSource{Name: "s"}}}
		}, "spec.containers[0].envFrom[0]", "may not have more than one field specified at a time"},
		{"envFrom none", func(p *Pod) { p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "X_"}} },
			"spec.containers[0].envFrom[0]", "must specify one of: `configMapRef` or `secretRef`"},
		{"envFrom bad prefix", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "A=", ConfigMapRef: &ConfigMapEnvSource{Name: "c"}}}
		}, "spec.containers[0].envFrom[0].prefix", "printable ASCII characters other than '='"},
		{"envFrom bad name", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{Name: "Bad_Name"}}}
		}, "spec.containers[0].envFrom[0].configMapRef.name", "a lowercase RFC 1123 subdomain"},
		{"volume without name", func(p *Pod) { p.Spec.Volumes[0] = Volume{Name: "data", ConfigMap: &ConfigMapVolumeSource{}} },
			"spec.volumes[0].configMap.name", "Required value"},
		{"secret without secretName", func(p *Pod) { p.Spec.Volumes[0] = Volume{Name: "data", Secret: &SecretVolumeSource{}} },
			"spec.volumes[0].secret.secretName", "Required value"},
		{"two volume types", func(p *Pod) { p.Spec.Volumes[0].Secret = &SecretVolumeSource{SecretName: "s"} },
			"spec.volumes[0].secret", "may not specify more than 1 volume type"},
		{"absolute path", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", ConfigMap: &ConfigMapVolumeSource{Name: "c", Items: []KeyToPath{{Key: "k", Path: "/etc/x"}}}}
		}, "spec.volumes[0].configMap.items[0].path", "must be a relative path"},
		{"backstep", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", Secret: &SecretVolumeSource{SecretName: "s", Items: []KeyToPath{{Key: "k", Path: "a/../../x"}}}}
		}, "spec.volumes[0].secret.items[0].path", "must not contain '..'"},
		{"dotdot start", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", ConfigMap: &ConfigMapVolumeSource{Name: "c", Items: []KeyToPath{{Key: "k", Path: "..data"}}}}
		}, "spec.volumes[0].configMap.items[0].path", "must not start with '..'"},
		{"item without key", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", ConfigMap: &ConfigMapVolumeSource{Name: "c", Items: []KeyToPath{{Path: "x"}}}}
		}, "spec.volumes[0].configMap.items[0].key", "Required value"},
		{"mode", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", ConfigMap: &ConfigMapVolumeSource{Name: "c", DefaultMode: mode(0o1000)}}
		}, "spec.volumes[0].configMap.defaultMode", "must be a number between 0 and 0777"},
		{"item mode", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{Secret: &SecretProjection{Name: "s", Items: []KeyToPath{{Key: "k", Path: "x", Mode: mode(-1)}}}}}}}
		}, "spec.volumes[0].projected.sources[0].secret.items[0].mode", "must be a number between 0 and 0777"},
		{"projected source empty", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{}}}}
		}, "spec.volumes[0].projected.sources[0]", "must specify exactly 1 volume type"},
		{"projected source twice", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{Secret: &SecretProjection{Name: "s"}, ConfigMap: &ConfigMapProjection{Name: "c"}}}}}
		}, "spec.volumes[0].projected.sources[0].configMap", "may not specify more than 1 volume type per source"},
		{"projected duplicate path", func(p *Pod) {
			p.Spec.Volumes[0] = Volume{Name: "data", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{Secret: &SecretProjection{Name: "s", Items: []KeyToPath{{Key: "k", Path: "x"}}}},
				{DownwardAPI: &DownwardAPIProjection{Items: []DownwardAPIVolumeFile{{Path: "./x", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
			}}}
		}, "spec.volumes[0].projected.sources[1].downwardAPI.items[0].path", "conflicting duplicate paths"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.change(p)
			SetDefaults(p)
			err := Validate(p)
			if err == nil || !slices.ContainsFunc(strings.Split(err.Error(), "\n"), func(line string) bool {
				return strings.HasPrefix(line, tt.field+": ") && strings.Contains(line, tt.detail)
			}) {
				t.Errorf("want an error on %s containing %q, got\n%v", tt.field, tt.detail, err)
			}
		})
	}
}

func TestValidateConfigReferencesAccepted(t *testing.T) {
	p := validPod()
	p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &ConfigMapEnvSource{Name: "cfg"}}, {SecretRef: &SecretEnvSource{Name: "sec", Optional: yes()}}}
	p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, EnvVar{Name: "PW", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: "sec", Key: "pass.word"}}})
	p.Spec.Volumes = append(p.Spec.Volumes,
		Volume{Name: "cfg", ConfigMap: &ConfigMapVolumeSource{Name: "cfg", Items: []KeyToPath{{Key: "a", Path: "x/y"}, {Key: "b", Path: "x/y"}}}},
		Volume{Name: "all", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
			{Secret: &SecretProjection{Name: "s"}}, {ConfigMap: &ConfigMapProjection{Name: "c", Items: []KeyToPath{{Key: "k", Path: "k"}}}},
			{DownwardAPI: &DownwardAPIProjection{Items: []DownwardAPIVolumeFile{{Path: "labels", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
		}}})
	SetDefaults(p)
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
	if m := p.Spec.Volumes[len(p.Spec.Volumes)-1].Projected.DefaultMode; m == nil || *m != 0o644 {
		t.Errorf("projected defaultMode = %v, want 0644", m)
	}
	if !UsesConfig(p) || !HoldsSecret(p.Spec.Volumes[len(p.Spec.Volumes)-1]) || HoldsSecret(p.Spec.Volumes[len(p.Spec.Volumes)-2]) {
		t.Errorf("UsesConfig/HoldsSecret disagree with the pod")
	}
}
