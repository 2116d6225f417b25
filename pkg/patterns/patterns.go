// Package patterns expands the container design patterns' annotations into plain Kubernetes
// objects: a Pod, or the pod template of a Deployment, ReplicaSet, StatefulSet or Job, that says
// podd.io/inject: "ambassador,adapter" gets one native sidecar per helper (an init container
// podd-<helper> with restartPolicy Always running the podd-patterns image), configured from the
// <helper>.podd.io/<flag> annotations. Expand is a pure function: `podctl expand` prints its
// result, and podd stores and runs the same result for every object a user gives it, so that
// what expand prints is what runs — on podd or on any Kubernetes cluster.
package patterns

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Annotations of the patterns.
const (
	// AnnotationInject lists the helpers a pod asks for, comma-separated, in start order.
	AnnotationInject = "podd.io/inject"
	// AnnotationInjected marks an expanded pod: the helpers whose containers the expansion added.
	AnnotationInjected = "podd.io/injected"
	// AnnotationInjectedHash is a hash of what the expansion was made from (the helpers, their
	// settings and the image), for a reader to tell two expansions apart.
	AnnotationInjectedHash = "podd.io/injected-hash"
	// settingDomain ends the prefix of a helper's settings: <helper>.podd.io/<flag>.
	settingDomain = ".podd.io"
)

// Reserved setting keys: not flags of the helper.
const (
	keyVolumes = "volumes"
	keyCPU     = "cpu"
	keyMemory  = "memory"
	keyImage   = "image"
	keyConfig  = "config"
	// keyWorkers names the work queue's worker containers (Helper.Workers).
	keyWorkers = "workers"
)

// ConfigDir is where a helper's ConfigMap (<helper>.podd.io/config) is mounted: ConfigDir/<helper>.
const ConfigDir = "/etc/podd-patterns"

// ContainerPrefix names the injected containers: podd-<helper>.
const ContainerPrefix = "podd-"

// Options are the expansion's inputs beside the object.
type Options struct {
	// Image is the helpers' image: podd and podctl pass localhost/podd/patterns:<their version>.
	Image string
}

// Expand returns a copy of a Pod or workload with the helpers its annotations ask for injected
// (none asked: the copy as it was); another kind is returned as it is, since it runs no pods.
// obj is a decoded, defaulted object (pkg/manifest.DecodeObjects); the
// result is defaulted and validated again. Expanding an expanded object recomputes it from its
// annotations: the same input gives the same output, byte for byte once encoded. A problem is an
// error of class InvalidArgument naming the object and the annotation's key; obj is never changed.
func Expand(obj object.Object, opts Options) (object.Object, error) {
	switch o := obj.(type) {
	case *pod.Pod:
		p, err := copyPod(o)
		if err != nil {
			return nil, err
		}
		e := expansion{obj: o, opts: opts, meta: &p.Metadata, spec: &p.Spec, field: "metadata.annotations"}
		if err := e.run(); err != nil {
			return nil, err
		}
		pod.SetDefaults(p)
		if errs := pod.ValidateFields(p); len(errs) > 0 {
			return nil, objectError(o, "", errors.Join(toErrors(errs)...))
		}
		return p, nil
	case *object.Deployment, *object.ReplicaSet, *object.StatefulSet, *object.Job:
		if err := refuseOnWorkload(obj); err != nil {
			return nil, err
		}
		c := object.Copy(obj)
		t := template(c)
		e := expansion{obj: obj, opts: opts, meta: &t.Metadata, spec: &t.Spec, field: "spec.template.metadata.annotations"}
		if err := e.run(); err != nil {
			return nil, err
		}
		k, _ := object.KindOf(c.GetKind())
		k.Default(c)
		if errs := k.Validate(c); len(errs) > 0 {
			return nil, objectError(obj, "", errors.Join(toErrors(errs)...))
		}
		return c, nil
	}
	return obj, nil
}

// ExpandAll expands every object, all or none.
func ExpandAll(objs []object.Object, opts Options) ([]object.Object, error) {
	out := make([]object.Object, len(objs))
	var errs []error
	for i, o := range objs {
		e, err := Expand(o, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[i] = e
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// ExpandPods expands pods, all or none.
func ExpandPods(pods []*pod.Pod, opts Options) ([]*pod.Pod, error) {
	out := make([]*pod.Pod, len(pods))
	var errs []error
	for i, p := range pods {
		e, err := Expand(p, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[i] = e.(*pod.Pod)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func template(obj object.Object) *pod.PodTemplateSpec {
	switch o := obj.(type) {
	case *object.Deployment:
		return &o.Spec.Template
	case *object.ReplicaSet:
		return &o.Spec.Template
	case *object.StatefulSet:
		return &o.Spec.Template
	case *object.Job:
		return &o.Spec.Template
	}
	return nil
}

// refuseOnWorkload refuses the patterns' annotations on a workload's own metadata: the helpers
// run in its pods, so they are asked for on the pod template, as Istio's and Dapr's are. Dapr
// ignores them there without a word; podd says where they belong.
func refuseOnWorkload(obj object.Object) error {
	var errs []error
	for _, k := range sortedKeys(obj.GetMetadata().Annotations) {
		if isPatternKey(k) {
			errs = append(errs, objectError(obj, "metadata.annotations["+k+"]",
				errors.New("the helpers run in the pods: put it in spec.template.metadata.annotations")))
		}
	}
	return errors.Join(errs...)
}

// isPatternKey: an annotation the expansion reads or writes.
func isPatternKey(k string) bool {
	if k == AnnotationInject || k == AnnotationInjected || k == AnnotationInjectedHash {
		return true
	}
	_, _, ok := settingKey(k)
	return ok
}

// settingKey splits <helper>.podd.io/<setting>.
func settingKey(k string) (helper, setting string, ok bool) {
	prefix, setting, found := strings.Cut(k, "/")
	if !found {
		return "", "", false
	}
	helper, found = strings.CutSuffix(prefix, settingDomain)
	if !found || helper == "" {
		return "", "", false
	}
	return helper, setting, true
}

// objectError names the object and, when given, the field. Its class is InvalidArgument.
func objectError(obj object.Object, field string, err error) error {
	m := obj.GetMetadata()
	ns := m.Namespace
	if ns == "" {
		ns = pod.DefaultNamespace
	}
	if field != "" {
		err = &pod.FieldError{Field: field, Detail: err.Error()}
	} else if !errdefs.IsInvalidArgument(err) {
		err = &pod.FieldError{Detail: err.Error()}
	}
	return fmt.Errorf("%s %s/%s: %w", obj.GetKind(), ns, m.Name, err)
}

func toErrors(l pod.ErrorList) []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

func copyPod(p *pod.Pod) (*pod.Pod, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("copy pod: %w", err)
	}
	var c pod.Pod
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("copy pod: %w", err)
	}
	return &c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expansion is one pod (or pod template) being expanded.
type expansion struct {
	obj   object.Object // the object as given, for messages
	opts  Options
	meta  *pod.ObjectMeta
	spec  *pod.PodSpec
	field string // the annotations' path: metadata.annotations or spec.template.metadata.annotations
	// injected are the helpers' containers made so far, in order.
	injected []pod.Container
}

func (e *expansion) fail(key string, format string, args ...any) error {
	return objectError(e.obj, e.field+"["+key+"]", fmt.Errorf(format, args...))
}

// run strips what an earlier expansion injected, then injects what the annotations ask for now.
func (e *expansion) run() error {
	e.strip()
	helpers, err := e.helpers()
	if err != nil {
		return err
	}
	settings, err := e.settings(helpers)
	if err != nil {
		return err
	}
	if len(helpers) == 0 {
		return nil
	}
	if e.opts.Image == "" {
		return e.fail(AnnotationInject, "no helper image: podd or podctl --patterns-image names it")
	}
	var (
		containers []pod.Container
		volumes    []pod.Volume
		errs       []error
	)
	for _, h := range helpers {
		c, v, err := e.container(h, settings[h.Name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		containers = append(containers, c)
		e.injected = containers
		volumes = append(volumes, v...)
	}
	for _, h := range helpers {
		if h.Workers == nil {
			continue
		}
		specPath := strings.TrimSuffix(e.field, "metadata.annotations") + "spec"
		if err := h.Workers(settings[h.Name], e.spec, specPath); err != nil {
			var fe *pod.FieldError
			if errors.As(err, &fe) {
				err = objectError(e.obj, fe.Field, errors.New(fe.Detail))
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.spec.InitContainers = append(containers, e.spec.InitContainers...)
	e.spec.Volumes = append(e.spec.Volumes, volumes...)
	if e.meta.Annotations == nil {
		e.meta.Annotations = map[string]string{}
	}
	list := make([]string, len(helpers))
	for i, h := range helpers {
		list[i] = h.Name
	}
	for _, h := range helpers {
		if h.APISocket {
			e.meta.Annotations[pod.AnnotationAPISocket] = withSocket(e.meta.Annotations[pod.AnnotationAPISocket], ContainerPrefix+h.Name)
		}
		if h.AppSocket != nil && h.AppSocket(settings[h.Name]) {
			for _, c := range e.spec.Containers {
				e.meta.Annotations[pod.AnnotationAPISocket] = withSocket(e.meta.Annotations[pod.AnnotationAPISocket], c.Name)
			}
		}
	}
	e.meta.Annotations[AnnotationInjected] = strings.Join(list, ",")
	e.meta.Annotations[AnnotationInjectedHash] = hashOf(list, settings, e.opts.Image)
	return nil
}

// strip removes what an earlier expansion added, as its podd.io/injected annotation says: the
// containers podd-<helper> and volumes podd-<helper>-config of the helpers it names.
func (e *expansion) strip() {
	injected, ok := e.meta.Annotations[AnnotationInjected]
	delete(e.meta.Annotations, AnnotationInjected)
	delete(e.meta.Annotations, AnnotationInjectedHash)
	if len(e.meta.Annotations) == 0 {
		e.meta.Annotations = nil
	}
	if !ok {
		return
	}
	containers, volumes := map[string]bool{}, map[string]bool{}
	for _, name := range strings.Split(injected, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		containers[ContainerPrefix+name] = true
		volumes[configVolume(name)] = true
	}
	if v, ok := e.meta.Annotations[pod.AnnotationAPISocket]; ok {
		if v = withoutSockets(v, containers); v == "" {
			delete(e.meta.Annotations, pod.AnnotationAPISocket)
		} else {
			e.meta.Annotations[pod.AnnotationAPISocket] = v
		}
		if len(e.meta.Annotations) == 0 {
			e.meta.Annotations = nil
		}
	}
	e.spec.InitContainers = slices.DeleteFunc(e.spec.InitContainers, func(c pod.Container) bool { return containers[c.Name] })
	if len(e.spec.InitContainers) == 0 {
		e.spec.InitContainers = nil
	}
	e.spec.Volumes = slices.DeleteFunc(e.spec.Volumes, func(v pod.Volume) bool { return volumes[v.Name] })
	if len(e.spec.Volumes) == 0 {
		e.spec.Volumes = nil
	}
}

// withSocket adds a container to a podd.io/api-socket value: "true" already names every
// container; "false" or none becomes the container alone; a list gains it once.
func withSocket(v, container string) string {
	switch v = strings.TrimSpace(v); v {
	case "true":
		return v
	case "", "false":
		return container
	}
	names := strings.Split(v, ",")
	for _, n := range names {
		if strings.TrimSpace(n) == container {
			return v
		}
	}
	return v + "," + container
}

// withoutSockets takes injected containers out of a podd.io/api-socket list ("" when none is
// left); "true" and "false" stay as they are.
func withoutSockets(v string, injected map[string]bool) string {
	switch t := strings.TrimSpace(v); t {
	case "true", "false":
		return t
	}
	var keep []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" && !injected[n] {
			keep = append(keep, n)
		}
	}
	return strings.Join(keep, ",")
}

func configVolume(helper string) string { return ContainerPrefix + helper + "-config" }

// helpers reads podd.io/inject: known helpers, each once, in the order given.
func (e *expansion) helpers() ([]*Helper, error) {
	value, ok := e.meta.Annotations[AnnotationInject]
	if !ok || strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var (
		out  []*Helper
		seen = map[string]bool{}
	)
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		switch h, known := Lookup(name); {
		case name == "":
			return nil, e.fail(AnnotationInject, "%q: an empty helper name in the list", value)
		case !known:
			return nil, e.fail(AnnotationInject, "unknown helper %q: podd has %s", name, strings.Join(names(), ", "))
		case seen[name]:
			return nil, e.fail(AnnotationInject, "helper %q is listed twice", name)
		default:
			seen[name] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// settings reads every <helper>.podd.io/<setting> annotation, by helper, refusing those of
// helpers that are unknown or not injected.
func (e *expansion) settings(helpers []*Helper) (map[string]map[string]string, error) {
	injected := map[string]bool{}
	for _, h := range helpers {
		injected[h.Name] = true
	}
	out := map[string]map[string]string{}
	var errs []error
	for _, k := range sortedKeys(e.meta.Annotations) {
		helper, setting, ok := settingKey(k)
		if !ok {
			continue
		}
		if _, known := Lookup(helper); !known {
			errs = append(errs, e.fail(k, "unknown helper %q: podd has %s", helper, strings.Join(names(), ", ")))
			continue
		}
		if !injected[helper] {
			errs = append(errs, e.fail(k, "a setting of %s, which %s does not name", helper, AnnotationInject))
			continue
		}
		if out[helper] == nil {
			out[helper] = map[string]string{}
		}
		out[helper][setting] = e.meta.Annotations[k]
	}
	return out, errors.Join(errs...)
}

// hashOf is a short hash of the expansion's inputs.
func hashOf(helpers []string, settings map[string]map[string]string, image string) string {
	data, _ := json.Marshal(struct {
		Helpers  []string                     `json:"helpers"`
		Settings map[string]map[string]string `json:"settings"` // encoding/json sorts map keys
		Image    string                       `json:"image"`
	}{helpers, settings, image})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
