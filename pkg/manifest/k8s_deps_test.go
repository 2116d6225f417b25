package manifest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestKubernetesAPIOnlyInTests: k8s.io/api and its kin are a test dependency of podd (the
// cross-check of TestTypesMatchKubernetes), never a dependency of a binary podd ships. It asks the
// go command for every package the binaries are built from.
func TestKubernetesAPIOnlyInTests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is needed under CI=true: %v", err)
		}
		t.Skipf("no go command: %v", err)
	}
	cmd := exec.Command(goCmd, "list", "-deps", "./cmd/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/...: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 100 {
		t.Fatalf("go list -deps ./cmd/... listed %d packages: not the binaries' dependencies", len(pkgs))
	}
	for _, p := range pkgs {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") {
			t.Errorf("a binary of podd depends on %s: k8s.io/api and its kin are for tests only", p)
		}
	}
}
