package pod

import (
	"slices"
	"testing"

	"github.com/containerd/containerd/pkg/cap"
)

// The model's copy of the capability names is containerd's (test-only: pkg/pod imports only the
// standard library and errdefs).
func TestKnownCapabilitiesAreContainerds(t *testing.T) {
	if !slices.Equal(KnownCapabilities, cap.Known()) {
		t.Fatalf("pod.KnownCapabilities = %v\ncontainerd's cap.Known() = %v", KnownCapabilities, cap.Known())
	}
}
