package pod

import (
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseLeaderFence(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want LeaderFence
		err  string
	}{
		{in: "", want: LeaderFence{}},
		{in: "none", want: LeaderFence{}},
		{in: "freeze", want: LeaderFence{Mode: FenceFreeze}},
		{in: " stop ", want: LeaderFence{Mode: FenceStop}},
		{in: "signal:SIGUSR1", want: LeaderFence{Mode: FenceSignal, Signal: syscall.SIGUSR1}},
		{in: "signal:usr2", want: LeaderFence{Mode: FenceSignal, Signal: syscall.SIGUSR2}},
		{in: "signal:15", want: LeaderFence{Mode: FenceSignal, Signal: syscall.SIGTERM}},
		{in: "signal:SIGNOPE", err: `"SIGNOPE" is not a signal`},
		{in: "signal:99", err: "signal 99 is out of range [1, 64]"},
		{in: "pause", err: `must be "freeze", "stop" or "signal:NAME"`},
	} {
		got, err := ParseLeaderFence(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseLeaderFence(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLeaderFence(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestValidateLeaderFence(t *testing.T) {
	p := &Pod{APIVersion: "v1", Kind: "Pod", Metadata: ObjectMeta{Name: "p", Namespace: "default",
		Annotations: map[string]string{AnnotationLeaderFence: "freez"}},
		Spec: PodSpec{Containers: []Container{{Name: "app", Image: "busybox"}}}}
	SetDefaults(p)
	err := Validate(p)
	if err == nil || !strings.Contains(err.Error(), "metadata.annotations[podd.io/leader-fence]") || !strings.Contains(err.Error(), `"freez"`) {
		t.Fatalf("Validate with leader-fence freez: %v; want an error naming the key and the value", err)
	}
	p.Metadata.Annotations[AnnotationLeaderFence] = "freeze"
	if err := Validate(p); err != nil {
		t.Fatalf("Validate with leader-fence freeze: %v", err)
	}
	bad := "signal:NOPE"
	_, _, err = ApplyMetadataPatch(p.Metadata, MetadataPatch{Annotations: map[string]*string{AnnotationLeaderFence: &bad}, Overwrite: true})
	if err == nil || !strings.Contains(err.Error(), "metadata.annotations[podd.io/leader-fence]") {
		t.Fatalf("patch with leader-fence %s: %v; want an error naming the key", bad, err)
	}
}

// The model's own table of signal names says what x/sys says of every standard signal.
func TestSignalNamesMatchXSys(t *testing.T) {
	for i := 1; i < 32; i++ {
		name := unix.SignalName(syscall.Signal(i))
		if name == "" {
			continue
		}
		f, err := ParseLeaderFence("signal:" + name)
		if err != nil || f.Signal != syscall.Signal(i) {
			t.Errorf("signal:%s = %+v, %v; want signal %d", name, f, err, i)
		}
	}
	if len(signalNames) != 31 {
		t.Errorf("%d names, want Linux's 31 standard signals", len(signalNames))
	}
}
