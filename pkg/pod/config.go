package pod

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// The references of a pod to ConfigMaps and Secrets, as Kubernetes names them: env valueFrom
// configMapKeyRef / secretKeyRef, envFrom, and the configMap, secret and projected volumes.

// ConfigMapKeySelector selects a key of a ConfigMap in the pod's namespace.
type ConfigMapKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// SecretKeySelector selects a key of a Secret in the pod's namespace.
type SecretKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// EnvFromSource makes every key of a ConfigMap or a Secret an environment variable, its name
// preceded by Prefix.
type EnvFromSource struct {
	Prefix       string              `json:"prefix,omitempty"`
	ConfigMapRef *ConfigMapEnvSource `json:"configMapRef,omitempty"`
	SecretRef    *SecretEnvSource    `json:"secretRef,omitempty"`
}

// ConfigMapEnvSource names the ConfigMap of an envFrom.
type ConfigMapEnvSource struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional,omitempty"`
}

// SecretEnvSource names the Secret of an envFrom.
type SecretEnvSource struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional,omitempty"`
}

// KeyToPath puts one key in a file of the volume.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Mode *int32 `json:"mode,omitempty"`
}

// ConfigMapVolumeSource is a volume of a ConfigMap's keys, one file each (or those of Items).
type ConfigMapVolumeSource struct {
	Name        string      `json:"name"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// SecretVolumeSource is a volume of a Secret's keys; podd keeps it on a tmpfs.
type SecretVolumeSource struct {
	SecretName  string      `json:"secretName"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// ProjectedVolumeSource is one volume of the files of several sources.
type ProjectedVolumeSource struct {
	Sources     []VolumeProjection `json:"sources"`
	DefaultMode *int32             `json:"defaultMode,omitempty"`
}

// VolumeProjection is one source of a projected volume: exactly one of its members.
type VolumeProjection struct {
	ConfigMap   *ConfigMapProjection   `json:"configMap,omitempty"`
	Secret      *SecretProjection      `json:"secret,omitempty"`
	DownwardAPI *DownwardAPIProjection `json:"downwardAPI,omitempty"`
}

// ConfigMapProjection is a ConfigMap's part of a projected volume.
type ConfigMapProjection struct {
	Name     string      `json:"name"`
	Items    []KeyToPath `json:"items,omitempty"`
	Optional *bool       `json:"optional,omitempty"`
}

// SecretProjection is a Secret's part of a projected volume.
type SecretProjection struct {
	Name     string      `json:"name"`
	Items    []KeyToPath `json:"items,omitempty"`
	Optional *bool       `json:"optional,omitempty"`
}

// DownwardAPIProjection is the pod's fields' part of a projected volume.
type DownwardAPIProjection struct {
	Items []DownwardAPIVolumeFile `json:"items,omitempty"`
}

// DefaultConfigVolumeMode is Kubernetes' mode of the files of configMap, secret and projected
// volumes.
const DefaultConfigVolumeMode int32 = 0o644

// ConfigData is what a pod may read of a ConfigMap or a Secret: Data (a ConfigMap's data, a
// Secret's data decoded) and, for a ConfigMap, BinaryData, which only volumes show (as in
// Kubernetes, env reads data alone).
type ConfigData struct {
	Data       map[string][]byte
	BinaryData map[string][]byte
}

// ConfigSource finds the ConfigMaps and Secrets pods refer to. A missing one is an error of
// class NotFound.
type ConfigSource interface {
	ConfigMap(namespace, name string) (*ConfigData, error)
	Secret(namespace, name string) (*ConfigData, error)
}

func isTrue(b *bool) bool { return b != nil && *b }

// ErrConfigMissing marks a reference to a ConfigMap, a Secret or a key that does not exist (and
// is not optional): the container or the volume waits for it.
var ErrConfigMissing = errors.New("missing configuration")

type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }
func (e *missingError) Is(target error) bool {
	return target == ErrConfigMissing || target == errdefs.ErrNotFound
}

func missing(format string, args ...any) error { return &missingError{fmt.Sprintf(format, args...)} }

// lookup finds a ConfigMap or a Secret; (nil, nil) when it is missing and optional. The messages
// are the kubelet's.
func lookup(src ConfigSource, secret bool, ns, name string, optional *bool) (*ConfigData, error) {
	what := "configmap"
	if secret {
		what = "secret"
	}
	if src == nil {
		if isTrue(optional) {
			return nil, nil
		}
		return nil, missing("%s %q not found", what, name)
	}
	var (
		d   *ConfigData
		err error
	)
	if secret {
		d, err = src.Secret(ns, name)
	} else {
		d, err = src.ConfigMap(ns, name)
	}
	switch {
	case errdefs.IsNotFound(err) || err == nil && d == nil:
		if isTrue(optional) {
			return nil, nil
		}
		return nil, missing("%s %q not found", what, name)
	case err != nil:
		return nil, fmt.Errorf("%s %q: %w", what, name, err)
	}
	return d, nil
}

// envFromConfigs resolves a container's envFrom, in order: each key of the ConfigMap's data or
// the Secret's, with the prefix. A missing optional source gives nothing.
func envFromConfigs(p *Pod, c *Container, src ConfigSource) ([][2]string, error) {
	var out [][2]string
	for _, ef := range c.EnvFrom {
		var (
			d   *ConfigData
			err error
		)
		switch {
		case ef.ConfigMapRef != nil:
			d, err = lookup(src, false, p.Metadata.Namespace, ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional)
		case ef.SecretRef != nil:
			d, err = lookup(src, true, p.Metadata.Namespace, ef.SecretRef.Name, ef.SecretRef.Optional)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(d.Data)) {
			out = append(out, [2]string{ef.Prefix + k, string(d.Data[k])})
		}
	}
	return out, nil
}

// keyRefValue is the value of an env's configMapKeyRef or secretKeyRef; ok is false when the
// reference is optional and missing, which leaves the variable unset, as the kubelet does.
func keyRefValue(p *Pod, vf *EnvVarSource, src ConfigSource) (value string, ok bool, err error) {
	secret, name, key, optional := false, "", "", (*bool)(nil)
	switch {
	case vf.ConfigMapKeyRef != nil:
		name, key, optional = vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Optional
	case vf.SecretKeyRef != nil:
		secret, name, key, optional = true, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vf.SecretKeyRef.Optional
	}
	d, err := lookup(src, secret, p.Metadata.Namespace, name, optional)
	if err != nil || d == nil {
		return "", false, err
	}
	v, found := d.Data[key]
	if !found {
		if isTrue(optional) {
			return "", false, nil
		}
		if secret {
			return "", false, missing("couldn't find key %s in Secret %s/%s", key, p.Metadata.Namespace, name)
		}
		return "", false, missing("couldn't find key %s in ConfigMap %s/%s", key, p.Metadata.Namespace, name)
	}
	return string(v), true, nil
}

// IsConfigVolume reports whether a volume's files come from ConfigMaps or Secrets.
func IsConfigVolume(v Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.Projected != nil
}

// IsFileVolume reports whether podd writes a volume's files (downwardAPI, configMap, secret,
// projected): containers only read them, as in Kubernetes.
func IsFileVolume(v Volume) bool { return v.DownwardAPI != nil || IsConfigVolume(v) }

// HoldsSecret reports whether a volume shows a Secret's data: podd keeps those on a tmpfs.
func HoldsSecret(v Volume) bool {
	if v.Secret != nil {
		return true
	}
	if v.Projected != nil {
		return slices.ContainsFunc(v.Projected.Sources, func(s VolumeProjection) bool { return s.Secret != nil })
	}
	return false
}

// ConfigSources counts the ConfigMaps and Secrets a volume shows (each at most MaxDataSize).
func ConfigSources(v Volume) int {
	switch {
	case v.ConfigMap != nil, v.Secret != nil:
		return 1
	case v.Projected != nil:
		n := 0
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil || s.Secret != nil || s.DownwardAPI != nil {
				n++
			}
		}
		return n
	}
	return 0
}

// UsesConfig reports whether a pod refers to any ConfigMap or Secret.
func UsesConfig(p *Pod) bool {
	if slices.ContainsFunc(p.Spec.Volumes, IsConfigVolume) {
		return true
	}
	for c := range p.Spec.AllContainers() {
		if len(c.EnvFrom) > 0 {
			return true
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && (e.ValueFrom.ConfigMapKeyRef != nil || e.ValueFrom.SecretKeyRef != nil) {
				return true
			}
		}
	}
	return false
}

// ConfigVolumeFiles is the content of a configMap, secret or projected volume as the ConfigMaps
// and Secrets are now: path → file. A missing source or key that is not optional is an error
// wrapping ErrConfigMissing, worded as the kubelet's. node is for a projected downwardAPI's
// resourceFieldRef.
func ConfigVolumeFiles(p *Pod, v Volume, src ConfigSource, node NodeCapacity) (map[string]VolumeFile, error) {
	ns := p.Metadata.Namespace
	files := map[string]VolumeFile{}
	switch {
	case v.ConfigMap != nil:
		s := v.ConfigMap
		d, err := lookup(src, false, ns, s.Name, s.Optional)
		if err != nil {
			return nil, err
		}
		return files, addKeys(files, d, s.Items, modeOr(s.DefaultMode), isTrue(s.Optional), "configmap references non-existent config key: %s")
	case v.Secret != nil:
		s := v.Secret
		d, err := lookup(src, true, ns, s.SecretName, s.Optional)
		if err != nil {
			return nil, err
		}
		return files, addKeys(files, d, s.Items, modeOr(s.DefaultMode), isTrue(s.Optional), "references non-existent secret key: %s")
	case v.Projected != nil:
		mode := modeOr(v.Projected.DefaultMode)
		for i, s := range v.Projected.Sources {
			switch {
			case s.ConfigMap != nil:
				d, err := lookup(src, false, ns, s.ConfigMap.Name, s.ConfigMap.Optional)
				if err != nil {
					return nil, err
				}
				if err := addKeys(files, d, s.ConfigMap.Items, mode, isTrue(s.ConfigMap.Optional), "configmap references non-existent config key: %s"); err != nil {
					return nil, err
				}
			case s.Secret != nil:
				d, err := lookup(src, true, ns, s.Secret.Name, s.Secret.Optional)
				if err != nil {
					return nil, err
				}
				if err := addKeys(files, d, s.Secret.Items, mode, isTrue(s.Secret.Optional), "references non-existent secret key: %s"); err != nil {
					return nil, err
				}
			case s.DownwardAPI != nil:
				m := mode
				dw, err := DownwardAPIFiles(p, &DownwardAPIVolumeSource{Items: s.DownwardAPI.Items, DefaultMode: &m}, node)
				if err != nil {
					return nil, fmt.Errorf("sources[%d].downwardAPI: %w", i, err)
				}
				maps.Copy(files, dw)
			}
		}
		return files, nil
	}
	return nil, fmt.Errorf("volume %q: not a configMap, secret or projected volume: %w", v.Name, errdefs.ErrInvalidArgument)
}

func modeOr(m *int32) int32 {
	if m != nil {
		return *m
	}
	return DefaultConfigVolumeMode
}

// addKeys adds a ConfigMap's or Secret's keys to files: every key (data and binaryData) without
// items, else the items' keys at their paths. d nil is a missing optional source: nothing.
func addKeys(files map[string]VolumeFile, d *ConfigData, items []KeyToPath, mode int32, optional bool, missingKey string) error {
	if d == nil {
		return nil
	}
	value := func(k string) ([]byte, bool) {
		if v, ok := d.Data[k]; ok {
			return v, true
		}
		v, ok := d.BinaryData[k]
		return v, ok
	}
	if len(items) == 0 {
		for _, m := range []map[string][]byte{d.Data, d.BinaryData} {
			for k, v := range m {
				files[k] = VolumeFile{Data: v, Mode: mode}
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := value(it.Key)
		if !ok {
			if optional {
				continue
			}
			return missing(missingKey, it.Key)
		}
		f := VolumeFile{Data: v, Mode: mode}
		if it.Mode != nil {
			f.Mode = *it.Mode
		}
		files[path.Clean(it.Path)] = f
	}
	return nil
}

// Validation, with Kubernetes' rules and words.

// configKeyRE is Kubernetes' rule for the keys of ConfigMaps and Secrets.
var configKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// ConfigKeyErrors lists what is wrong with a ConfigMap's or Secret's key (apimachinery's
// IsConfigMapKey).
func ConfigKeyErrors(k string) []string {
	var out []string
	if len(k) > 253 {
		out = append(out, "must be no more than 253 characters")
	}
	if !configKeyRE.MatchString(k) {
		out = append(out, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
	}
	switch {
	case k == ".":
		out = append(out, "must not be '.'")
	case k == "..":
		out = append(out, "must not be '..'")
	case strings.HasPrefix(k, ".."):
		out = append(out, "must not start with '..'")
	}
	return out
}

func checkConfigKey(errs *ErrorList, field, key string) {
	if key == "" {
		errs.required(field, "")
		return
	}
	for _, msg := range ConfigKeyErrors(key) {
		errs.invalid(field, key, msg)
	}
}

// checkConfigName: Kubernetes requires the name of the referenced ConfigMap or Secret and checks
// it as a DNS-1123 subdomain in volumes.
func checkConfigName(errs *ErrorList, field, name string, subdomain bool) {
	switch {
	case name == "":
		errs.required(field, "")
	case subdomain:
		checkDNS1123Subdomain(errs, field, name)
	}
}

// checkEnvConfigRef checks an env's configMapKeyRef or secretKeyRef.
func checkEnvConfigRef(errs *ErrorList, field string, vf *EnvVarSource) {
	if vf.ConfigMapKeyRef != nil {
		checkConfigName(errs, field+".configMapKeyRef.name", vf.ConfigMapKeyRef.Name, false)
		checkConfigKey(errs, field+".configMapKeyRef.key", vf.ConfigMapKeyRef.Key)
	}
	if vf.SecretKeyRef != nil {
		checkConfigName(errs, field+".secretKeyRef.name", vf.SecretKeyRef.Name, false)
		checkConfigKey(errs, field+".secretKeyRef.key", vf.SecretKeyRef.Key)
	}
}

// envSources counts the sources an env's valueFrom sets.
func envSources(vf *EnvVarSource) int {
	n := 0
	for _, set := range []bool{vf.FieldRef != nil, vf.ResourceFieldRef != nil, vf.ConfigMapKeyRef != nil, vf.SecretKeyRef != nil} {
		if set {
			n++
		}
	}
	return n
}

func checkEnvFrom(errs *ErrorList, container string, list []EnvFromSource) {
	for i, ef := range list {
		field := fmt.Sprintf("%s.envFrom[%d]", container, i)
		if ef.Prefix != "" {
			checkEnvName(errs, field+".prefix", ef.Prefix)
		}
		switch {
		case ef.ConfigMapRef != nil && ef.SecretRef != nil:
			errs.forbidden(field, "may not have more than one field specified at a time")
		case ef.ConfigMapRef != nil:
			checkConfigName(errs, field+".configMapRef.name", ef.ConfigMapRef.Name, true)
		case ef.SecretRef != nil:
			checkConfigName(errs, field+".secretRef.name", ef.SecretRef.Name, true)
		default:
			errs.required(field, "must specify one of: `configMapRef` or `secretRef`")
		}
	}
}

func checkEnvName(errs *ErrorList, field, name string) {
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r > '~' || r == '=' }) {
		errs.invalid(field, name, "a valid environment variable name must consist only of printable ASCII characters other than '='")
	}
}

// checkConfigVolume checks a configMap, secret or projected volume source.
func checkConfigVolume(errs *ErrorList, field string, v Volume, containers []string) {
	switch {
	case v.ConfigMap != nil:
		f := field + ".configMap"
		checkConfigName(errs, f+".name", v.ConfigMap.Name, false)
		checkMode(errs, f+".defaultMode", v.ConfigMap.DefaultMode)
		checkKeyToPaths(errs, f+".items", v.ConfigMap.Items, nil)
	case v.Secret != nil:
		f := field + ".secret"
		checkConfigName(errs, f+".secretName", v.Secret.SecretName, false)
		checkMode(errs, f+".defaultMode", v.Secret.DefaultMode)
		checkKeyToPaths(errs, f+".items", v.Secret.Items, nil)
	case v.Projected != nil:
		f := field + ".projected"
		checkMode(errs, f+".defaultMode", v.Projected.DefaultMode)
		paths := map[string]bool{}
		for i, s := range v.Projected.Sources {
			sf := fmt.Sprintf("%s.sources[%d]", f, i)
			n := 0
			if s.Secret != nil {
				n++
				checkConfigName(errs, sf+".secret.name", s.Secret.Name, false)
				checkKeyToPaths(errs, sf+".secret.items", s.Secret.Items, paths)
			}
			if s.ConfigMap != nil {
				if n++; n > 1 {
					errs.forbidden(sf+".configMap", "may not specify more than 1 volume type per source")
				}
				checkConfigName(errs, sf+".configMap.name", s.ConfigMap.Name, false)
				checkKeyToPaths(errs, sf+".configMap.items", s.ConfigMap.Items, paths)
			}
			if s.DownwardAPI != nil {
				if n++; n > 1 {
					errs.forbidden(sf+".downwardAPI", "may not specify more than 1 volume type per source")
				}
				before := len(*errs)
				checkDownwardAPI(errs, sf+".downwardAPI", &DownwardAPIVolumeSource{Items: s.DownwardAPI.Items}, containers)
				if len(*errs) == before {
					for j, it := range s.DownwardAPI.Items {
						checkProjectedPath(errs, fmt.Sprintf("%s.downwardAPI.items[%d].path", sf, j), it.Path, paths)
					}
				}
			}
			if n == 0 {
				errs.required(sf, "must specify exactly 1 volume type")
			}
		}
	}
}

func checkKeyToPaths(errs *ErrorList, field string, items []KeyToPath, paths map[string]bool) {
	for i, it := range items {
		f := fmt.Sprintf("%s[%d]", field, i)
		if it.Key == "" {
			errs.required(f+".key", "")
		}
		switch p := it.Path; {
		case p == "":
			errs.required(f+".path", "")
		case path.IsAbs(p):
			errs.invalid(f+".path", p, "must be a relative path")
		case hasBackstep(p):
			errs.invalid(f+".path", p, "must not contain '..'")
		case strings.HasPrefix(p, ".."):
			errs.invalid(f+".path", p, "must not start with '..'")
		default:
			checkProjectedPath(errs, f+".path", p, paths)
		}
		checkMode(errs, f+".mode", it.Mode)
	}
}

// checkProjectedPath: two files of one projected volume may not have the same path (a
// configMap or secret volume's later item wins, as in Kubernetes: paths is nil).
func checkProjectedPath(errs *ErrorList, field, p string, paths map[string]bool) {
	if paths == nil {
		return
	}
	clean := path.Clean(p)
	if paths[clean] {
		errs.invalid(field, p, "conflicting duplicate paths")
	}
	paths[clean] = true
}

func setConfigVolumeDefaults(v *Volume) {
	def := func(m **int32) {
		if *m == nil {
			d := DefaultConfigVolumeMode
			*m = &d
		}
	}
	switch {
	case v.ConfigMap != nil:
		def(&v.ConfigMap.DefaultMode)
	case v.Secret != nil:
		def(&v.Secret.DefaultMode)
	case v.Projected != nil:
		def(&v.Projected.DefaultMode)
		for _, s := range v.Projected.Sources {
			if s.DownwardAPI == nil {
				continue
			}
			for i := range s.DownwardAPI.Items {
				if ref := s.DownwardAPI.Items[i].FieldRef; ref != nil && ref.APIVersion == "" {
					ref.APIVersion = "v1"
				}
			}
		}
	}
}
