package hosttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce   sync.Once
	patternsBin string
	buildErr    error
)

// PatternsBinary builds cmd/podd-patterns as make does (static, stripped), once per test binary;
// Run removes it when the tests are done.
func PatternsBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "podd-patterns-test-")
		if err != nil {
			buildErr = err
			return
		}
		patternsBin = filepath.Join(dir, "podd-patterns")
		cmd := exec.Command("go", "build", "-ldflags", "-s -w", "-o", patternsBin, "github.com/podd-dev/podd/cmd/podd-patterns")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return patternsBin
}

// Run runs the tests (a TestMain's body), then removes what PatternsBinary built.
func Run(m *testing.M) int {
	code := m.Run()
	if patternsBin != "" {
		os.RemoveAll(filepath.Dir(patternsBin))
	}
	return code
}
