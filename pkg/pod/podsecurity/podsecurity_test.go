package podsecurity

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/pod"
)

func ref[T any](v T) *T { return &v }

// restrictedOK is a pod that passes restricted: every field the level asks for, set.
func restrictedOK() *pod.PodSpec {
	return &pod.PodSpec{
		SecurityContext: &pod.PodSecurityContext{RunAsNonRoot: ref(true), SeccompProfile: &pod.SeccompProfile{Type: pod.SeccompProfileRuntimeDefault}},
		Containers: []pod.Container{{Name: "app", SecurityContext: &pod.SecurityContext{
			AllowPrivilegeEscalation: ref(false),
			Capabilities:             &pod.Capabilities{Drop: []pod.Capability{"ALL"}, Add: []pod.Capability{"NET_BIND_SERVICE"}},
		}}},
		Volumes: []pod.Volume{{Name: "scratch", EmptyDir: &pod.EmptyDirVolumeSource{}}, {Name: "info", DownwardAPI: &pod.DownwardAPIVolumeSource{}}},
	}
}

// TestCheck holds each control of the Pod Security Standards
// (https://kubernetes.io/docs/concepts/security/pod-security-standards/) to the level that
// forbids it: the refusal names the field, and the levels below accept the pod.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*pod.PodSpec)
		level  Level    // the lowest level that refuses it
		want   []string // the violations at that level, as String() words them
		// restricted: the violations at restricted of a pod that baseline refuses already, when
		// they are worth asserting (restricted words capabilities and seccomp its own way).
		restricted []string
	}{
		{name: "a restricted pod", change: func(*pod.PodSpec) {}, level: ""},
		// Baseline.
		{name: "hostNetwork", change: func(s *pod.PodSpec) { s.HostNetwork = true }, level: Baseline,
			want: []string{"host namespaces (hostNetwork=true)"}},
		{name: "privileged", change: func(s *pod.PodSpec) { s.Containers[0].SecurityContext.Privileged = ref(true) }, level: Baseline,
			want: []string{`privileged (container "app" must not set securityContext.privileged=true)`}},
		{name: "privileged false", change: func(s *pod.PodSpec) { s.Containers[0].SecurityContext.Privileged = ref(false) }, level: ""},
		{name: "hostPath", change: func(s *pod.PodSpec) {
			s.Volumes = append(s.Volumes, pod.Volume{Name: "root", HostPath: &pod.HostPathVolumeSource{Path: "/"}})
		}, level: Baseline, want: []string{`hostPath volumes (volume "root")`}},
		{name: "hostPort", change: func(s *pod.PodSpec) { s.Containers[0].Ports = []pod.ContainerPort{{ContainerPort: 80, HostPort: 8080}} }, level: Baseline,
			want: []string{`hostPort (container "app" uses hostPort 8080)`}},
		{name: "containerPort without hostPort", change: func(s *pod.PodSpec) { s.Containers[0].Ports = []pod.ContainerPort{{ContainerPort: 80}} }, level: ""},
		{name: "pod Unconfined", change: func(s *pod.PodSpec) { s.SecurityContext.SeccompProfile.Type = pod.SeccompProfileUnconfined }, level: Baseline,
			want: []string{`seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`}},
		{name: "container Unconfined", change: func(s *pod.PodSpec) {
			s.Containers[0].SecurityContext.SeccompProfile = &pod.SeccompProfile{Type: pod.SeccompProfileUnconfined}
		}, level: Baseline, want: []string{`seccompProfile (container "app" must not set securityContext.seccompProfile.type to "Unconfined")`}},
		{name: "add SYS_TIME and NET_ADMIN", change: func(s *pod.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []pod.Capability{"NET_ADMIN", "SYS_TIME"}
		}, level: Baseline, want: []string{`non-default capabilities (container "app" must not include "NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add)`}},
		{name: "add CAP_NET_RAW (not in baseline's list)", change: func(s *pod.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []pod.Capability{"CAP_NET_RAW"}
		}, level: Baseline, want: []string{`non-default capabilities (container "app" must not include "NET_RAW" in securityContext.capabilities.add)`}},
		{name: "init container privileged", change: func(s *pod.PodSpec) {
			s.InitContainers = []pod.Container{{Name: "init", SecurityContext: &pod.SecurityContext{Privileged: ref(true), AllowPrivilegeEscalation: ref(false), Capabilities: &pod.Capabilities{Drop: []pod.Capability{"ALL"}}}}}
		}, level: Baseline, want: []string{`privileged (container "init" must not set securityContext.privileged=true)`}},
		// Restricted.
		{name: "add CHOWN", change: func(s *pod.PodSpec) { s.Containers[0].SecurityContext.Capabilities.Add = []pod.Capability{"CHOWN"} }, level: Restricted,
			want: []string{`unrestricted capabilities (container "app" must not include "CHOWN" in securityContext.capabilities.add)`}},
		{name: "no drop ALL", change: func(s *pod.PodSpec) { s.Containers[0].SecurityContext.Capabilities.Drop = nil }, level: Restricted,
			want: []string{`unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"])`}},
		{name: "allowPrivilegeEscalation unset", change: func(s *pod.PodSpec) { s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }, level: Restricted,
			want: []string{`allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)`}},
		{name: "runAsNonRoot unset", change: func(s *pod.PodSpec) { s.SecurityContext.RunAsNonRoot = nil }, level: Restricted,
			want: []string{`runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)`}},
		{name: "runAsNonRoot in the container instead", change: func(s *pod.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			s.Containers[0].SecurityContext.RunAsNonRoot = ref(true)
		}, level: ""},
		{name: "container runAsNonRoot false", change: func(s *pod.PodSpec) { s.Containers[0].SecurityContext.RunAsNonRoot = ref(false) }, level: Restricted,
			want: []string{`runAsNonRoot != true (container "app" must not set securityContext.runAsNonRoot=false)`}},
		{name: "runAsUser 0", change: func(s *pod.PodSpec) { s.SecurityContext.RunAsUser = ref(int64(0)) }, level: Restricted,
			want: []string{"runAsUser=0 (pod must not set runAsUser=0)"}},
		{name: "seccomp unset", change: func(s *pod.PodSpec) { s.SecurityContext.SeccompProfile = nil }, level: Restricted,
			want: []string{`seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`}},
		{name: "hostPath is a restricted volume type too", change: func(s *pod.PodSpec) {
			s.Volumes = append(s.Volumes, pod.Volume{Name: "a", HostPath: &pod.HostPathVolumeSource{Path: "/a"}}, pod.Volume{Name: "b", HostPath: &pod.HostPathVolumeSource{Path: "/b"}})
		}, level: Baseline, want: []string{`hostPath volumes (volumes "a", "b")`},
			restricted: []string{`hostPath volumes (volumes "a", "b")`, `restricted volume types (volumes "a", "b" use restricted volume type "hostPath")`}},
		{name: "add SYS_TIME at restricted", change: func(s *pod.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []pod.Capability{"SYS_TIME"}
		}, level: Baseline, want: []string{`non-default capabilities (container "app" must not include "SYS_TIME" in securityContext.capabilities.add)`},
			restricted: []string{`unrestricted capabilities (container "app" must not include "SYS_TIME" in securityContext.capabilities.add)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := restrictedOK()
			tc.change(spec)
			for _, level := range Levels {
				got := Check(level, spec)
				refuses := tc.level != "" && rank(level) >= rank(tc.level)
				if !refuses {
					if len(got) > 0 {
						t.Errorf("%s refuses it: %v", level, got)
					}
					continue
				}
				var got2 []string
				for _, v := range got {
					got2 = append(got2, v.String())
				}
				want := tc.want
				if level != tc.level {
					want = tc.restricted
				}
				if want != nil && strings.Join(got2, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: got\n%s\nwant\n%s", level, strings.Join(got2, "\n"), strings.Join(want, "\n"))
				}
				if len(got) == 0 {
					t.Errorf("%s accepts it", level)
				}
			}
		})
	}
}

func rank(l Level) int {
	for i, x := range Levels {
		if x == l {
			return i
		}
	}
	return -1
}

// TestDefaultPod: a pod that sets nothing passes baseline and fails every restricted control
// that asks for a field, in upstream's order.
func TestDefaultPod(t *testing.T) {
	spec := &pod.PodSpec{Containers: []pod.Container{{Name: "a"}, {Name: "b"}}}
	if got := Check(Baseline, spec); len(got) != 0 {
		t.Errorf("baseline refuses a default pod: %v", got)
	}
	err := Policy{Default: Restricted}.Admit(&pod.Pod{Metadata: pod.ObjectMeta{Name: "web", Namespace: "default"}, Spec: *spec})
	want := `pods "web" is forbidden: violates PodSecurity "restricted:latest": ` +
		`allowPrivilegeEscalation != false (containers "a", "b" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (containers "a", "b" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or containers "a", "b" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or containers "a", "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if !errdefs.IsPermissionDenied(err) {
		t.Errorf("a refusal is not a permission denied: %v", err)
	}
	var f *Forbidden
	if !errors.As(err, &f) || f.Level != Restricted {
		t.Errorf("not a *Forbidden naming restricted: %#v", err)
	}
}

func TestPolicy(t *testing.T) {
	p := Policy{Default: Baseline, Namespaces: map[string]Level{"system": Privileged, "apps": Restricted}}
	for ns, want := range map[string]Level{"system": Privileged, "apps": Restricted, "default": Baseline, "other": Baseline} {
		if got := p.Level(ns); got != want {
			t.Errorf("Level(%q) = %s, want %s", ns, got, want)
		}
	}
	if got := (Policy{}).Level("x"); got != Baseline {
		t.Errorf("zero Policy: %s, want baseline", got)
	}
	host := &pod.Pod{Metadata: pod.ObjectMeta{Name: "h", Namespace: "system"}, Spec: pod.PodSpec{HostNetwork: true, Containers: []pod.Container{{Name: "a"}}}}
	if err := p.Admit(host); err != nil {
		t.Errorf("privileged namespace refuses hostNetwork: %v", err)
	}
	host.Metadata.Namespace = "default"
	if err := p.Admit(host); err == nil || err.Error() != `pods "h" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)` {
		t.Errorf("baseline namespace: %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Level{"privileged": Privileged, "baseline": Baseline, "restricted:latest": Restricted} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %s, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "Baseline", "strict", "baseline:v1.30"} {
		if _, err := ParseLevel(in); err == nil {
			t.Errorf("ParseLevel(%q) accepted", in)
		}
	}
	if ns, l, err := ParseNamespaceLevel("kube-system=privileged"); err != nil || ns != "kube-system" || l != Privileged {
		t.Errorf("ParseNamespaceLevel: %s %s %v", ns, l, err)
	}
	for _, in := range []string{"kube-system", "=privileged", "a=b"} {
		if _, _, err := ParseNamespaceLevel(in); err == nil {
			t.Errorf("ParseNamespaceLevel(%q) accepted", in)
		}
	}
}
