// Package podsecurity enforces Kubernetes' Pod Security Standards (privileged, baseline,
// restricted: https://kubernetes.io/docs/concepts/security/pod-security-standards/) on the pods
// podd is asked to create, as the PodSecurity admission controller does on a cluster whose
// namespaces carry pod-security.kubernetes.io/enforce labels. The checks are pure functions of
// the pod spec, kept by hand after k8s.io/pod-security-admission's policy package (its reasons
// and details are worded as upstream's, so that a refusal reads as kubectl's would); only the
// fields podd implements are checked, since the decoder refuses the others (AppArmor, SELinux,
// sysctls, procMount other than Default, hostPID, hostIPC) before a pod gets here.
package podsecurity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

// Level is a Pod Security Standards level.
type Level string

const (
	Privileged Level = "privileged"
	Baseline   Level = "baseline"
	Restricted Level = "restricted"
)

// Levels lists the levels from the most open to the most closed.
var Levels = []Level{Privileged, Baseline, Restricted}

// ParseLevel reads a level's name; "baseline:latest" and the like are accepted, since podd keeps
// only the latest version of each level.
func ParseLevel(s string) (Level, error) {
	name, version, hasVersion := strings.Cut(s, ":")
	l := Level(name)
	if !slices.Contains(Levels, l) {
		return "", fmt.Errorf("%q is not a Pod Security level: want privileged, baseline or restricted", s)
	}
	if hasVersion && version != "latest" {
		return "", fmt.Errorf("%q: podd enforces only the latest version of each level (%s:latest)", s, name)
	}
	return l, nil
}

// Violation is one control a pod fails: Reason names the control as upstream does (host
// namespaces), Detail the fields and values that fail it (hostNetwork=true).
type Violation struct {
	Reason string
	Detail string
}

func (v Violation) String() string {
	if v.Detail == "" {
		return v.Reason
	}
	return v.Reason + " (" + v.Detail + ")"
}

// Check returns the controls of level that the pod spec fails, in upstream's order; none for
// privileged.
func Check(level Level, spec *pod.PodSpec) []Violation {
	var out []Violation
	rank := slices.Index(Levels, level)
	for _, c := range controls {
		if rank < slices.Index(Levels, c.level) || c.upTo != "" && rank > slices.Index(Levels, c.upTo) {
			continue
		}
		out = append(out, c.check(spec)...)
	}
	return out
}

// Forbidden is the refusal of a pod by its namespace's level. It wraps
// errdefs.ErrPermissionDenied: the API answers it with 403 Forbidden, as Kubernetes' does.
type Forbidden struct {
	Pod        string
	Level      Level
	Violations []Violation
}

func (e *Forbidden) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return fmt.Sprintf("pods %q is forbidden: violates PodSecurity %q: %s", e.Pod, string(e.Level)+":latest", strings.Join(parts, ", "))
}

func (e *Forbidden) Unwrap() error { return errdefs.ErrPermissionDenied }

// Policy is each namespace's level: Default for a namespace that Namespaces does not name.
type Policy struct {
	Default    Level
	Namespaces map[string]Level
}

// Level is the level that applies to namespace ns.
func (p Policy) Level(ns string) Level {
	if l, ok := p.Namespaces[ns]; ok {
		return l
	}
	if p.Default == "" {
		return Baseline
	}
	return p.Default
}

// Admit checks a pod (with its namespace set) against its namespace's level; nil when it passes.
func (p Policy) Admit(po *pod.Pod) error {
	level := p.Level(po.Metadata.Namespace)
	if vs := Check(level, &po.Spec); len(vs) > 0 {
		return &Forbidden{Pod: po.Metadata.Name, Level: level, Violations: vs}
	}
	return nil
}

// ParseNamespaceLevel reads a NS=LEVEL flag value.
func ParseNamespaceLevel(s string) (string, Level, error) {
	ns, lv, ok := strings.Cut(s, "=")
	if !ok || ns == "" {
		return "", "", fmt.Errorf("%q: want NAMESPACE=LEVEL, such as kube-system=privileged", s)
	}
	l, err := ParseLevel(lv)
	if err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	return ns, l, nil
}

// containers visits init containers and then containers, as upstream's visitor does.
func containers(spec *pod.PodSpec) []*pod.Container {
	out := make([]*pod.Container, 0, len(spec.InitContainers)+len(spec.Containers))
	for i := range spec.InitContainers {
		out = append(out, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		out = append(out, &spec.Containers[i])
	}
	return out
}

// pluralize words a list of names as upstream does: container "a", containers "a", "b".
func pluralize(singular, plural string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(names) == 1 {
		return singular + " " + q[0]
	}
	return plural + " " + strings.Join(q, ", ")
}

func containerNames(names []string) string { return pluralize("container", "containers", names) }
