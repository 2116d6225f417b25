package api_test

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestStatsAndTop(t *testing.T) {
	pods := apitest.NewPods(testPod("default", "web"))
	ws := uint64(40 << 20)
	pods.SetStats("default", "web", &pod.PodStats{PodRef: pod.PodReference{Name: "web", Namespace: "default", UID: "u"},
		Containers: []pod.ContainerStats{{Name: "app", Memory: &pod.MemoryStats{WorkingSetBytes: &ws}}}})
	pods.SetStats("other", "db", &pod.PodStats{PodRef: pod.PodReference{Name: "db", Namespace: "other"}, Containers: []pod.ContainerStats{}})
	pods.SetTop("default", "web", []pod.ContainerProcesses{{Name: "app", Processes: []pod.ProcessInfo{{PID: 7, User: "root", Command: "sh"}}}})
	c := apitest.NewClient(t, pods, apitest.NewImages())
	ctx := context.Background()

	st, err := c.PodStats(ctx, "default", "web")
	if err != nil || st.PodRef.UID != "u" || *st.Containers[0].Memory.WorkingSetBytes != ws {
		t.Errorf("PodStats: %+v, %v", st, err)
	}
	if _, err := c.PodStats(ctx, "default", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("PodStats of a missing pod: %v", err)
	}
	all, err := c.ListStats(ctx, "")
	if err != nil || len(all) != 2 {
		t.Errorf("ListStats all: %d, %v", len(all), err)
	}
	ns, err := c.ListStats(ctx, "other")
	if err != nil || len(ns) != 1 || ns[0].PodRef.Name != "db" {
		t.Errorf("ListStats other: %+v, %v", ns, err)
	}
	top, err := c.Top(ctx, "default", "web")
	if err != nil || len(top) != 1 || top[0].Processes[0].PID != 7 {
		t.Errorf("Top: %+v, %v", top, err)
	}
	if _, err := c.Top(ctx, "default", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("Top of a missing pod: %v", err)
	}
}
