package pod

import (
	"slices"
	"strings"
	"testing"
)

func ref[T any](v T) *T { return &v }

// TestRunAsNonRoot is the kubelet's check before it creates a container: with runAsNonRoot the
// user must be known not to be root, or the container does not start.
func TestRunAsNonRoot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod       *PodSecurityContext
		ctr       *SecurityContext
		imageUser string
		want      string // "" = starts
	}{
		{name: "not asked", imageUser: ""},
		{name: "image root by default", ctr: &SecurityContext{RunAsNonRoot: ref(true)}, want: "image will run as root"},
		{name: "image USER 0", ctr: &SecurityContext{RunAsNonRoot: ref(true)}, imageUser: "0:0", want: "image will run as root"},
		{name: "image USER name", ctr: &SecurityContext{RunAsNonRoot: ref(true)}, imageUser: "nobody", want: "non-numeric user (nobody)"},
		{name: "image USER 1000", ctr: &SecurityContext{RunAsNonRoot: ref(true)}, imageUser: "1000"},
		{name: "runAsUser 1000 over a root image", pod: &PodSecurityContext{RunAsNonRoot: ref(true), RunAsUser: ref(int64(1000))}},
		{name: "runAsUser 0", pod: &PodSecurityContext{RunAsNonRoot: ref(true)}, ctr: &SecurityContext{RunAsUser: ref(int64(0))}, imageUser: "1000", want: "runAsUser breaks non-root policy"},
		{name: "container false over pod true", pod: &PodSecurityContext{RunAsNonRoot: ref(true)}, ctr: &SecurityContext{RunAsNonRoot: ref(false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pod{Metadata: ObjectMeta{Name: "web", Namespace: "default"}, Spec: PodSpec{SecurityContext: tc.pod}}
			c := &Container{Name: "app", SecurityContext: tc.ctr}
			err := checkRunAsNonRoot(p, c, tc.imageUser)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "runAsNonRoot")):
				t.Errorf("got %v, want an error naming runAsNonRoot and containing %q", err, tc.want)
			}
		})
	}
}

func TestSecurityPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *PodSecurityContext
		ctr  *SecurityContext
		want SecurityPlan
	}{
		{name: "nothing set"},
		{name: "allowPrivilegeEscalation true", ctr: &SecurityContext{AllowPrivilegeEscalation: ref(true)}},
		{name: "allowPrivilegeEscalation false", ctr: &SecurityContext{AllowPrivilegeEscalation: ref(false)}, want: SecurityPlan{NoNewPrivileges: true}},
		{name: "capability names", ctr: &SecurityContext{Capabilities: &Capabilities{Add: []Capability{"net_admin", "CAP_SYS_TIME"}, Drop: []Capability{"all"}}},
			want: SecurityPlan{CapAdd: []string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}, CapDrop: []string{"ALL"}}},
		{name: "pod Unconfined", pod: &PodSecurityContext{SeccompProfile: &SeccompProfile{Type: SeccompProfileUnconfined}}, want: SecurityPlan{Unconfined: true}},
		{name: "container RuntimeDefault over pod Unconfined", pod: &PodSecurityContext{SeccompProfile: &SeccompProfile{Type: SeccompProfileUnconfined}},
			ctr: &SecurityContext{SeccompProfile: &SeccompProfile{Type: SeccompProfileRuntimeDefault}}},
		{name: "privileged", ctr: &SecurityContext{Privileged: ref(true)}, want: SecurityPlan{Privileged: true, Unconfined: true}},
		{name: "fsGroup then supplementalGroups", pod: &PodSecurityContext{FSGroup: ref(int64(2000)), SupplementalGroups: []int64{4000, 5000}},
			want: SecurityPlan{SupplementalGroups: []uint32{2000, 4000, 5000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildSecurityPlan(&PodSpec{SecurityContext: tc.pod}, &Container{Name: "app", SecurityContext: tc.ctr})
			if got.Privileged != tc.want.Privileged || got.NoNewPrivileges != tc.want.NoNewPrivileges || got.Unconfined != tc.want.Unconfined ||
				!slices.Equal(got.CapAdd, tc.want.CapAdd) || !slices.Equal(got.CapDrop, tc.want.CapDrop) || !slices.Equal(got.SupplementalGroups, tc.want.SupplementalGroups) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEffectiveRunAs(t *testing.T) {
	ps := &PodSpec{SecurityContext: &PodSecurityContext{RunAsUser: ref(int64(1000)), RunAsGroup: ref(int64(3000))}}
	own := &Container{SecurityContext: &SecurityContext{RunAsUser: ref(int64(2000))}}
	if u := EffectiveRunAsUser(ps, own); u == nil || *u != 2000 {
		t.Errorf("container runAsUser 2000 over pod 1000: got %v", u)
	}
	if g := EffectiveRunAsGroup(ps, own); g == nil || *g != 3000 {
		t.Errorf("pod runAsGroup 3000 with none in the container: got %v", g)
	}
	if u := EffectiveRunAsUser(&PodSpec{}, &Container{}); u != nil {
		t.Errorf("nothing set: got %v, want the image's user (nil)", *u)
	}
}
