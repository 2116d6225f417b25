package ctl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestParseMetadataChanges(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		args []string
		want map[string]*string
		err  string
	}{
		{[]string{"app=web", "tier-"}, map[string]*string{"app": s("web"), "tier": nil}, ""},
		{[]string{"note=a=b"}, map[string]*string{"note": s("a=b")}, ""},
		{[]string{"empty="}, map[string]*string{"empty": s("")}, ""},
		{[]string{"example.com/x-"}, map[string]*string{"example.com/x": nil}, ""},
		{[]string{"app"}, nil, `"app": want KEY=VALUE to set or KEY- to remove`},
		{[]string{"=v"}, nil, "the key is empty"},
		{[]string{"-"}, nil, "the key is empty"},
		{[]string{"a=1", "a-"}, nil, `"a" is both changed and removed`},
		{[]string{"a=1", "a=2"}, nil, `"a" is both changed and removed or given two values`},
	}
	for _, tt := range tests {
		got, err := ParseMetadataChanges("label", tt.args)
		if tt.err != "" {
			var u *UsageError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errorsAs(err, &u) {
				t.Errorf("%v: err = %v, want a usage error containing %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("%v: got %v, %v", tt.args, got, err)
			continue
		}
		for k, v := range tt.want {
			if g, ok := got[k]; !ok || (g == nil) != (v == nil) || g != nil && *g != *v {
				t.Errorf("%v: %s = %v, want %v", tt.args, k, g, v)
			}
		}
	}
}

func TestLabelAndAnnotate(t *testing.T) {
	web := &pod.Pod{Metadata: pod.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}}}
	pods := apitest.NewPods(web)
	c := apitest.NewClient(t, pods, apitest.NewImages())
	ctx := context.Background()
	run := func(o LabelOptions) (string, error) {
		var out bytes.Buffer
		o.Namespace = "default"
		err := Label(ctx, c, o, Streams{Out: &out, Err: &out})
		return out.String(), err
	}
	if out, err := run(LabelOptions{Kind: KindLabels, Name: "web", Changes: []string{"tier=front"}}); err != nil || out != "pod/web labeled\n" {
		t.Errorf("label: %q, %v", out, err)
	}
	if _, err := run(LabelOptions{Kind: KindLabels, Name: "web", Changes: []string{"app=api"}}); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("label without --overwrite: %v", err)
	}
	if out, err := run(LabelOptions{Kind: KindAnnotations, Name: "web", Changes: []string{"note=hi", "gone-"}, Overwrite: true}); err != nil || out != "pod/web annotated\n" {
		t.Errorf("annotate: %q, %v", out, err)
	}
	if _, err := run(LabelOptions{Kind: KindLabels, Name: "web"}); err == nil || !strings.Contains(err.Error(), "at least one change") {
		t.Errorf("no change: %v", err)
	}
	calls := strings.Join(pods.CallLog(), "\n")
	for _, want := range []string{
		"UpdateMetadata default/web labels=tier=front annotations= overwrite=false",
		"UpdateMetadata default/web labels= annotations=gone-,note=hi overwrite=true",
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("calls:\n%s\nwant %q", calls, want)
		}
	}
	p, _ := pods.Get(ctx, "default", "web")
	if p.Metadata.Labels["tier"] != "front" || p.Metadata.Annotations["note"] != "hi" {
		t.Errorf("pod metadata %+v", p.Metadata)
	}
}
