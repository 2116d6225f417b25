package pod

import (
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func testPod(containers ...Container) *Pod {
	return &Pod{
		Metadata: ObjectMeta{
			Name:        "web",
			Namespace:   "shop",
			UID:         "0b6f-11aa",
			Labels:      map[string]string{"app": "shop", "tier": "front"},
			Annotations: map[string]string{"example.com/owner": "team-a", "note": "$(A)"},
		},
		Spec: PodSpec{Containers: containers, ServiceAccountName: "shop-bot"},
	}
}

func lit(name, value string) EnvVar { return EnvVar{Name: name, Value: value} }

func field(name, path string) EnvVar {
	return EnvVar{Name: name, ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: path}}}
}

func TestResolveEnv(t *testing.T) {
	imageEnv := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/root"}
	tests := []struct {
		name     string
		env      []EnvVar
		imageEnv []string
		want     []string
	}{
		{
			name:     "no container env: the image's",
			imageEnv: imageEnv,
			want:     imageEnv,
		},
		{
			name: "no image",
			env:  []EnvVar{lit("A", "1")},
			want: []string{"A=1"},
		},
		{
			name:     "container vars replace the image's in place and new ones follow in order",
			env:      []EnvVar{lit("Z", "last"), lit("LANG", "de_DE.UTF-8"), lit("B", "2")},
			imageEnv: imageEnv,
			want:     []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=de_DE.UTF-8", "HOME=/root", "Z=last", "B=2"},
		},
		{
			name: "reference to an earlier var",
			env:  []EnvVar{lit("FOO", "bar"), lit("ZOO", "$(FOO)-1"), lit("BLU", "$(ZOO)-2")},
			want: []string{"FOO=bar", "ZOO=bar-1", "BLU=bar-1-2"},
		},
		{
			name: "reference to a later var stays",
			env:  []EnvVar{lit("A", "$(B)"), lit("B", "b")},
			want: []string{"A=$(B)", "B=b"},
		},
		{
			name:     "the image's env is not visible",
			env:      []EnvVar{lit("P", "$(PATH):/opt/bin"), lit("H", "$(HOME)")},
			imageEnv: imageEnv,
			want:     append(slices.Clone(imageEnv), "P=$(PATH):/opt/bin", "H=$(HOME)"),
		},
		{
			name:     "overriding an image var with itself does not see the image's value",
			env:      []EnvVar{lit("PATH", "/opt/bin:$(PATH)")},
			imageEnv: imageEnv,
			want:     []string{"PATH=/opt/bin:$(PATH)", "LANG=C.UTF-8", "HOME=/root"},
		},
		{
			name: "self reference before definition stays",
			env:  []EnvVar{lit("A", "x$(A)")},
			want: []string{"A=x$(A)"},
		},
		{
			name: "redefinition sees the earlier value, keeps the first place",
			env:  []EnvVar{lit("A", "x"), lit("B", "b"), lit("A", "$(A)y")},
			want: []string{"A=xy", "B=b"},
		},
		{
			name: "escapes",
			env:  []EnvVar{lit("A", "a"), lit("E", "$$(A)"), lit("D", "cost: $$5"), lit("S", "$HOME ${A} $1")},
			want: []string{"A=a", "E=$(A)", "D=cost: $5", "S=$HOME ${A} $1"},
		},
		{
			name: "undefined reference stays",
			env:  []EnvVar{lit("A", "$(NOPE)-x")},
			want: []string{"A=$(NOPE)-x"},
		},
		{
			name: "empty value",
			env:  []EnvVar{lit("A", "")},
			want: []string{"A="},
		},
		{
			name: "an empty var still expands, to nothing",
			env:  []EnvVar{lit("E", ""), lit("A", "[$(E)]")},
			want: []string{"E=", "A=[]"},
		},
		{
			name: "values with = and newlines",
			env:  []EnvVar{lit("Q", "a=b=c"), lit("N", "line1\nline2")},
			want: []string{"Q=a=b=c", "N=line1\nline2"},
		},
		{
			name: "fieldRefs",
			env: []EnvVar{
				field("POD_NAME", "metadata.name"),
				field("POD_NAMESPACE", "metadata.namespace"),
				field("POD_UID", "metadata.uid"),
				field("APP", "metadata.labels['app']"),
				field("OWNER", "metadata.annotations['example.com/owner']"),
				field("SA", "spec.serviceAccountName"),
			},
			want: []string{"POD_NAME=web", "POD_NAMESPACE=shop", "POD_UID=0b6f-11aa", "APP=shop", "OWNER=team-a", "SA=shop-bot"},
		},
		{
			name: "missing label or annotation is empty",
			env:  []EnvVar{field("L", "metadata.labels['nope']"), field("N", "metadata.annotations['nope']")},
			want: []string{"L=", "N="},
		},
		{
			name: "fieldRef values are not expanded, but later vars may use them",
			env:  []EnvVar{lit("A", "a"), field("NOTE", "metadata.annotations['note']"), lit("MSG", "$(POD)/$(NOTE)"), field("POD", "metadata.name")},
			want: []string{"A=a", "NOTE=$(A)", "MSG=$(POD)/$(A)", "POD=web"},
		},
		{
			name: "fieldRef with apiVersion v1",
			env:  []EnvVar{{Name: "N", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}},
			want: []string{"N=web"},
		},
		{
			name: "value wins over valueFrom",
			env:  []EnvVar{{Name: "N", Value: "v", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			want: []string{"N=v"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPod(Container{Name: "app", Env: tt.env})
			var img *ImageConfig
			if tt.imageEnv != nil {
				img = &ImageConfig{Env: slices.Clone(tt.imageEnv)}
			}
			got, err := ResolveEnv(p, &p.Spec.Containers[0], img, NodeCapacity{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ResolveEnv =\n%q\nwant\n%q", got, tt.want)
			}
			if img != nil && !slices.Equal(img.Env, tt.imageEnv) {
				t.Errorf("the image's env was changed: %q", img.Env)
			}
		})
	}
}

func TestResolveEnvErrors(t *testing.T) {
	tests := []struct {
		name  string
		env   EnvVar
		wants []string // in the error text
	}{
		{"scheduler name", field("N", "spec.schedulerName"), []string{"spec.containers[1].env[1].valueFrom.fieldRef", `"spec.schedulerName"`}},
		{"all labels", field("N", "metadata.labels"), []string{`"metadata.labels"`}},
		{"subscript on a plain field", field("N", "metadata.name['x']"), []string{"takes no subscript"}},
		{"empty subscript", field("N", "metadata.labels['']"), []string{`"metadata.labels['']"`}},
		{"double quotes", field("N", `metadata.labels["app"]`), []string{`metadata.labels[\"app\"]`}},
		{"empty path", field("N", ""), []string{`fieldPath ""`}},
		{"unknown api version", EnvVar{Name: "N", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}}, []string{`"v2"`}},
		{"valueFrom without a source", EnvVar{Name: "N", ValueFrom: &EnvVarSource{}}, []string{"spec.containers[1].env[1].valueFrom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPod(Container{Name: "first"}, Container{Name: "app", Env: []EnvVar{lit("A", "a"), tt.env}})
			_, err := ResolveEnv(p, &p.Spec.Containers[1], nil, NodeCapacity{})
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestResolveArgs(t *testing.T) {
	img := func(entrypoint, cmd []string) *ImageConfig {
		return &ImageConfig{Ref: "docker.io/library/test:1", Entrypoint: entrypoint, Cmd: cmd, Env: []string{"PATH=/bin", "IMG=image"}}
	}
	env := []EnvVar{lit("MSG", "hello"), lit("N", "3")}
	tests := []struct {
		name    string
		command []string
		args    []string
		env     []EnvVar
		img     *ImageConfig
		want    []string
	}{
		{"command only: image's ENTRYPOINT and CMD ignored", []string{"/bin/sh", "-c", "echo hi"}, nil, nil,
			img([]string{"/entry"}, []string{"default"}), []string{"/bin/sh", "-c", "echo hi"}},
		{"command and args", []string{"/bin/echo"}, []string{"a", "b"}, nil,
			img([]string{"/entry"}, []string{"default"}), []string{"/bin/echo", "a", "b"}},
		{"args only: ENTRYPOINT + args, CMD dropped", nil, []string{"--port", "80"}, nil,
			img([]string{"/entry", "-v"}, []string{"default"}), []string{"/entry", "-v", "--port", "80"}},
		{"args only, image without ENTRYPOINT: args alone", nil, []string{"/bin/true"}, nil,
			img(nil, []string{"default"}), []string{"/bin/true"}},
		{"neither: ENTRYPOINT + CMD", nil, nil, nil,
			img([]string{"/entry"}, []string{"default", "x"}), []string{"/entry", "default", "x"}},
		{"neither, image with ENTRYPOINT only", nil, nil, nil,
			img([]string{"/entry"}, nil), []string{"/entry"}},
		{"neither, image with CMD only", nil, nil, nil,
			img(nil, []string{"/bin/sh"}), []string{"/bin/sh"}},
		{"empty command list counts as unset", []string{}, []string{"a"}, nil,
			img([]string{"/entry"}, []string{"default"}), []string{"/entry", "a"}},
		{"empty args list counts as unset", nil, []string{}, nil,
			img([]string{"/entry"}, []string{"default"}), []string{"/entry", "default"}},
		{"args with one empty string are set", nil, []string{""}, nil,
			img([]string{"/entry"}, []string{"default"}), []string{"/entry", ""}},
		{`ENTRYPOINT [""] is no entrypoint`, nil, nil, nil,
			img([]string{""}, []string{"/bin/sh"}), []string{"/bin/sh"}},
		{`ENTRYPOINT [""] with args`, nil, []string{"/bin/true"}, nil,
			img([]string{""}, []string{"/bin/sh"}), []string{"/bin/true"}},
		{"expansion in command and args", []string{"/bin/echo", "$(MSG)"}, []string{"$(N)x", "$(MSG)-$(N)"}, env,
			img(nil, nil), []string{"/bin/echo", "hello", "3x", "hello-3"}},
		{"expansion in args after ENTRYPOINT", nil, []string{"--count=$(N)"}, env,
			img([]string{"/entry"}, nil), []string{"/entry", "--count=3"}},
		{"image's ENTRYPOINT and CMD are not expanded", nil, nil, env,
			img([]string{"/entry", "$(MSG)"}, []string{"$(N)"}), []string{"/entry", "$(MSG)", "$(N)"}},
		{"escapes", []string{"sh", "-c", "echo $$(MSG) $$HOME $HOME $(MSG)"}, nil, env,
			img(nil, nil), []string{"sh", "-c", "echo $(MSG) $HOME $HOME hello"}},
		{"undefined stays", []string{"echo", "$(NOPE)"}, nil, env,
			img(nil, nil), []string{"echo", "$(NOPE)"}},
		{"the image's env is not visible", []string{"echo", "$(PATH)", "$(IMG)"}, nil, env,
			img(nil, nil), []string{"echo", "$(PATH)", "$(IMG)"}},
		{"a container var that overrides an image var is visible", []string{"echo", "$(PATH)"}, nil, []EnvVar{lit("PATH", "/opt/bin")},
			img(nil, nil), []string{"echo", "/opt/bin"}},
		{"fieldRef vars are visible", []string{"echo", "$(POD)"}, nil, []EnvVar{field("POD", "metadata.name")},
			img(nil, nil), []string{"echo", "web"}},
		{"no image config", []string{"/x"}, nil, nil, nil, []string{"/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPod(Container{Name: "app", Command: tt.command, Args: tt.args, Env: tt.env})
			c := &p.Spec.Containers[0]
			resolved, err := ResolveEnv(p, c, tt.img, NodeCapacity{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ResolveArgs(c, tt.img, resolved)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ResolveArgs = %q, want %q", got, tt.want)
			}
			// The result must not share an array with the image's config, which the runtime
			// caches and other instances reuse.
			if tt.img != nil && len(got) > 0 {
				got[0] = "changed"
				if slices.Contains(tt.img.Entrypoint, "changed") || slices.Contains(tt.img.Cmd, "changed") {
					t.Error("ResolveArgs returned the image's own slice")
				}
			}
		})
	}
}

func TestResolveArgsContainerEnvOnly(t *testing.T) {
	// Given only the container's own vars instead of ResolveEnv's result, the answer is the same.
	c := &Container{Name: "app", Command: []string{"$(A)", "$(PATH)"}, Env: []EnvVar{lit("A", "a")}}
	got, err := ResolveArgs(c, nil, []string{"A=a"})
	if err != nil || !slices.Equal(got, []string{"a", "$(PATH)"}) {
		t.Errorf("ResolveArgs = %q, %v", got, err)
	}
}

func TestResolveArgsNoCommand(t *testing.T) {
	tests := []struct {
		name string
		c    Container
		img  *ImageConfig
	}{
		{"nothing anywhere", Container{Name: "app"}, &ImageConfig{Ref: "scratch-app"}},
		{"no image config", Container{Name: "app"}, nil},
		{`only ENTRYPOINT [""]`, Container{Name: "app"}, &ImageConfig{Ref: "scratch-app", Entrypoint: []string{""}}},
		{"empty args on an empty image", Container{Name: "app", Args: []string{}}, &ImageConfig{Ref: "scratch-app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveArgs(&tt.c, tt.img, nil)
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("ResolveArgs = %q, %v; want an invalid-argument error", got, err)
			}
			if !strings.Contains(err.Error(), "no command specified") || !strings.Contains(err.Error(), `"app"`) {
				t.Errorf("error %q does not say what is missing where", err)
			}
		})
	}
}

func TestResolveWorkingDir(t *testing.T) {
	tests := []struct {
		name      string
		container string
		img       *ImageConfig
		want      string
	}{
		{"container's", "/work", &ImageConfig{WorkingDir: "/app"}, "/work"},
		{"image's", "", &ImageConfig{WorkingDir: "/app"}, "/app"},
		{"default", "", &ImageConfig{}, "/"},
		{"no image config", "", nil, "/"},
		{"not expanded", "/data/$(POD)", nil, "/data/$(POD)"},
	}
	for _, tt := range tests {
		c := &Container{WorkingDir: tt.container, Env: []EnvVar{lit("POD", "web")}}
		if got := ResolveWorkingDir(c, tt.img); got != tt.want {
			t.Errorf("%s: ResolveWorkingDir = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	tests := []struct {
		name            string
		base, overrides []string
		want            []string
	}{
		{"both empty", nil, nil, []string{}},
		{"replace in place", []string{"A=1", "B=2"}, []string{"A=3"}, []string{"A=3", "B=2"}},
		{"append", []string{"A=1"}, []string{"C=3"}, []string{"A=1", "C=3"}},
		{"base entry without =", []string{"A", "B=2"}, []string{"A=1"}, []string{"A=1", "B=2"}},
		{"prefix is not the name", []string{"AB=1"}, []string{"A=2"}, []string{"AB=1", "A=2"}},
	}
	for _, tt := range tests {
		if got := mergeEnv(tt.base, tt.overrides); !slices.Equal(got, tt.want) {
			t.Errorf("%s: mergeEnv = %q, want %q", tt.name, got, tt.want)
		}
	}
}
