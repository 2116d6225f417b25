package ctl

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/manifest"
)

const expandPod = `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    podd.io/inject: log-saver
    log-saver.podd.io/paths: /var/log/*.log
    log-saver.podd.io/to: syslog+tcp://127.0.0.1:514
spec:
  containers: [{name: app, image: busybox}]
`

const expandConfigMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {a: b}
`

// TestExpand: podctl expand reads stdin and several documents and files, prints every object in
// order as YAML documents (or JSON ones) that podd's decoder reads back, and prints nothing for a
// set of files one of which is refused.
func TestExpand(t *testing.T) {
	dir := t.TempDir()
	second := filepath.Join(dir, "second.yaml")
	if err := os.WriteFile(second, []byte(expandConfigMap), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []Format{FormatTable, FormatYAML, FormatJSON} {
		var out bytes.Buffer
		err := Expand(ExpandOptions{Files: []string{"-", second}, Output: format, Image: "img:1"},
			Streams{In: strings.NewReader(expandPod + "---\n" + expandConfigMap), Out: &out})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if n := strings.Count(out.String(), "\n---\n"); n != 2 {
			t.Errorf("%s: %d separators, want 2 (three objects):\n%s", format, n, out.String())
		}
		objs, err := manifest.DecodeObjects(out.Bytes())
		if err != nil {
			t.Fatalf("%s: podd's decoder refuses the output: %v\n%s", format, err, out.String())
		}
		if len(objs) != 3 || objs[0].GetKind() != "Pod" || objs[1].GetKind() != "ConfigMap" || objs[2].GetKind() != "ConfigMap" {
			t.Errorf("%s: objects %v", format, objs)
		}
		if !strings.Contains(out.String(), "podd-log-saver") || !strings.Contains(out.String(), "img:1") {
			t.Errorf("%s: no injected container of image img:1:\n%s", format, out.String())
		}
		if format == FormatJSON {
			first, _, _ := strings.Cut(out.String(), "---\n")
			if !json.Valid([]byte(first)) {
				t.Errorf("json: the first document is not JSON:\n%s", first)
			}
		}
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(expandPod, "log-saver.podd.io/paths", "log-saver.podd.io/pahts", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := Expand(ExpandOptions{Files: []string{second, bad}, Image: "img:1"}, Streams{Out: &out})
	if err == nil || !strings.Contains(err.Error(), bad+": Pod default/p: metadata.annotations[log-saver.podd.io/pahts]: unknown setting of log-saver") {
		t.Errorf("refused file: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("a refused file printed:\n%s", out.String())
	}
	if err := Expand(ExpandOptions{Files: []string{second}, Output: FormatWide}, Streams{Out: &out}); err == nil || !strings.Contains(err.Error(), "want yaml or json") {
		t.Errorf("-o wide: %v", err)
	}
}
