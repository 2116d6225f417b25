package patterns_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamples: every example manifest of the patterns' documentation expands (its annotations
// are all valid), and what podctl expand prints of it decodes strictly into Kubernetes' own
// types, so that it runs on a cluster as it is. Their running on podd is in the integration tests.
func TestExamples(t *testing.T) {
	var files []string
	for _, glob := range []string{"../../specs/patterns/*.yaml", "../../specs/examples/patterns/*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no example manifests found under specs/patterns or specs/examples/patterns")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			strictKubernetes(t, expand(t, data))
		})
	}
}
