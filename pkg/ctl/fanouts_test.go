package ctl

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestAdminPort(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "9481"},
		{[]string{"--leaves=a:1", "--metrics-address=:9999"}, "9999"},
		{[]string{"--metrics-address", "127.0.0.1:7000"}, "7000"},
		{[]string{"--metrics-address=nonsense"}, "9481"},
	} {
		if got := adminPort(&pod.Container{Args: tc.args}); got != tc.want {
			t.Errorf("adminPort(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := adminPort(nil); got != "9481" {
		t.Errorf("adminPort(nil) = %q", got)
	}
}

func rootPod(name string, labels map[string]string, ip string) *pod.Pod {
	p := &pod.Pod{}
	p.Metadata.Name, p.Metadata.Namespace, p.Metadata.Labels = name, "default", labels
	p.Spec.InitContainers = []pod.Container{{Name: fanoutContainer}}
	p.Status.PodIP = ip
	return p
}

func TestPodsOf(t *testing.T) {
	a := rootPod("search-1", map[string]string{"app": "search", "pod-template-hash": "x"}, "10.0.0.1")
	b := rootPod("search-0", map[string]string{"app": "search"}, "10.0.0.2")
	other := rootPod("other", map[string]string{"app": "other"}, "10.0.0.3")
	noRoot := rootPod("plain", map[string]string{"app": "search"}, "10.0.0.4")
	noRoot.Spec.InitContainers = nil
	pods := []*pod.Pod{a, b, other, noRoot}
	names := func(ps []*pod.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Metadata.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ref  workloadRef
		want []string
	}{
		{"by the template's labels, sorted, with the root only", workloadRef{namespace: "default", name: "search", kind: "Deployment", labels: map[string]string{"app": "search"}}, []string{"search-0", "search-1"}},
		{"a bare pod: itself", workloadRef{namespace: "default", name: "other", kind: "Pod"}, []string{"other"}},
		{"a template without labels matches nothing", workloadRef{namespace: "default", name: "x", kind: "Job"}, nil},
		{"another namespace", workloadRef{namespace: "prod", name: "search", kind: "Deployment", labels: map[string]string{"app": "search"}}, nil},
	} {
		if got := names(podsOf(tc.ref, pods)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReadRoot(t *testing.T) {
	p := rootPod("search-0", nil, "10.0.0.2")
	p.Spec.InitContainers[0].Args = []string{"--metrics-address=:9500"}
	var asked string
	r := readRoot(context.Background(), p, func(_ context.Context, url string) ([]byte, error) {
		asked = url
		return []byte(`{"hedgeDelayMs":2.5,"hedgeDelayKnown":true,"leaves":[
			{"leaf":"10.0.0.9:8080","shard":"b:8080","p50Ms":2,"samples":3,"results":{"answered":3}},
			{"leaf":"10.0.0.8:8080","shard":"a:8080","p50Ms":1,"samples":1,"results":{"answered":1,"cancelled":2}}]}`), nil
	})
	if asked != "http://10.0.0.2:9500/leaves" || r.Error != "" || !r.HedgeDelayKnown || r.HedgeDelayMs != 2.5 || len(r.Leaves) != 2 || r.Leaves[0].Shard != "a:8080" {
		t.Fatalf("asked %q, got %+v", asked, r)
	}
	if got := results(r.Leaves[0].Results); got != "answered=1 cancelled=2" {
		t.Errorf("results = %q", got)
	}
	r = readRoot(context.Background(), rootPod("x", nil, ""), nil)
	if !strings.Contains(r.Error, "no IP") {
		t.Errorf("a pod without an IP: %+v", r)
	}
	r = readRoot(context.Background(), p, func(context.Context, string) ([]byte, error) { return nil, errors.New("connection refused") })
	if r.Error != "connection refused" || r.Leaves == nil {
		t.Errorf("a root not answering: %+v", r)
	}
}
