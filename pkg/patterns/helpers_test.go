package patterns

import (
	"regexp"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

// ianaSvcName is Kubernetes' rule for a port's name: at most 15 lower-case letters, digits and
// dashes, at least one letter, no dash at either end nor two in a row.
var ianaSvcName = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9])*$`)

// TestHelperTable: every entry is usable as it is — names unique, port names valid and unique
// across helpers, probes and ports on flags of the entry, default resources that parse.
func TestHelperTable(t *testing.T) {
	helpers, portNames := map[string]bool{}, map[string]string{}
	for _, h := range Helpers {
		if helpers[h.Name] || h.Name == "" {
			t.Errorf("helper %q: empty or listed twice", h.Name)
		}
		helpers[h.Name] = true
		flags := map[string]bool{}
		for _, f := range h.Flags {
			if flags[f.Name] {
				t.Errorf("%s: flag %s twice", h.Name, f.Name)
			}
			flags[f.Name] = true
			switch f.Name {
			case keyVolumes, keyCPU, keyMemory, keyImage, keyConfig:
				t.Errorf("%s: flag %s is a reserved setting: annotations cannot reach it", h.Name, f.Name)
			}
			switch f.Kind {
			case String, Bool, Int, Duration, List:
			default:
				t.Errorf("%s --%s: kind %q", h.Name, f.Name, f.Kind)
			}
		}
		for _, p := range h.Ports {
			if len(p.Name) > 15 || !ianaSvcName.MatchString(p.Name) || !regexp.MustCompile(`[a-z]`).MatchString(p.Name) {
				t.Errorf("%s: port name %q is not an IANA service name", h.Name, p.Name)
			}
			if other, ok := portNames[p.Name]; ok {
				t.Errorf("%s: port name %q is also %s's", h.Name, p.Name, other)
			}
			portNames[p.Name] = h.Name
			if f, ok := h.Flag(p.Flag); !ok || f.Kind != String {
				t.Errorf("%s: port %s reads --%s, not a string flag of the entry", h.Name, p.Name, p.Flag)
			}
		}
		for _, group := range h.Required {
			for _, name := range group {
				if _, ok := h.Flag(name); !ok && name != h.ConfigFlag {
					t.Errorf("%s: required --%s is neither a flag of the entry nor its file flag", h.Name, name)
				}
			}
		}
		if h.Probe != nil {
			found := false
			for _, p := range h.Ports {
				found = found || p.Name == h.Probe.Port
			}
			if !found {
				t.Errorf("%s: the probe's port %q is not one of the helper's", h.Name, h.Probe.Port)
			}
		}
		for _, q := range []string{h.CPU, h.Memory} {
			if v, err := pod.ParseQuantity(q); err != nil || v.Sign() <= 0 {
				t.Errorf("%s: default resource %q: %v", h.Name, q, err)
			}
		}
		if len(ContainerPrefix+h.Name) > 63 {
			t.Errorf("%s: container name too long", h.Name)
		}
	}
}
