package ctl

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/pod"
)

func sidecarPod() *pod.Pod {
	always := pod.RestartAlways
	yes := true
	grpcService := "health"
	probe := func(p pod.Probe) *pod.Probe {
		p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold = 1, 10, 1, 3
		return &p
	}
	return &pod.Pod{
		Metadata: pod.ObjectMeta{Name: "web", Namespace: "default", UID: "1234", CreationTimestamp: ago(10 * time.Minute)},
		Spec: pod.PodSpec{
			InitContainers: []pod.Container{
				{Name: "setup", Image: "busybox", Command: []string{"sh", "-c", "touch /ready"}},
				{Name: "proxy", Image: "envoy", RestartPolicy: &always,
					StartupProbe: probe(pod.Probe{TCPSocket: &pod.TCPSocketAction{Port: pod.IntOrString{IntVal: 9901}}})},
			},
			Containers: []pod.Container{{
				Name: "app", Image: "busybox:1.36",
				LivenessProbe:  probe(pod.Probe{HTTPGet: &pod.HTTPGetAction{Path: "/healthz", Port: pod.IntOrString{IntVal: 8080}, Scheme: "HTTP"}}),
				ReadinessProbe: probe(pod.Probe{Exec: &pod.ExecAction{Command: []string{"cat", "/tmp/ready"}}, InitialDelaySeconds: 5}),
				Lifecycle: &pod.Lifecycle{
					PostStart: &pod.LifecycleHandler{Exec: &pod.ExecAction{Command: []string{"sh", "-c", "echo hi"}}},
					PreStop:   &pod.LifecycleHandler{Sleep: &pod.SleepAction{Seconds: 5}},
				},
			}, {
				Name: "grpc", Image: "example.com/grpc:1",
				LivenessProbe: probe(pod.Probe{GRPC: &pod.GRPCAction{Port: 9090, Service: &grpcService}}),
				Lifecycle: &pod.Lifecycle{
					PreStop: &pod.LifecycleHandler{HTTPGet: &pod.HTTPGetAction{Path: "/drain", Port: pod.IntOrString{StrVal: "admin", IsStr: true}, Host: "127.0.0.1", Scheme: "HTTPS"}},
				},
			}},
		},
		Status: pod.PodStatus{
			Phase: pod.PodRunning,
			InitContainerStatuses: []pod.ContainerStatus{
				{Name: "setup", ContainerID: "containerd://s1", Ready: true, State: pod.ContainerState{Terminated: &pod.ContainerStateTerminated{Reason: "Completed"}}},
				{Name: "proxy", ContainerID: "containerd://p1", Ready: true, Started: &yes, RestartCount: 2, State: pod.ContainerState{Running: &pod.ContainerStateRunning{StartedAt: ago(time.Minute)}}},
			},
			ContainerStatuses: []pod.ContainerStatus{
				{Name: "app", Ready: true, Started: &yes, State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}},
			},
		},
	}
}

func TestDescribeLifecycle(t *testing.T) {
	e := newEnv(t, sidecarPod())
	e.pods.AddEvent(podEvent("default", "web", "setup", pod.EventNormal, "Started", "Started container setup", 1, 10*time.Minute, 10*time.Minute))
	e.pods.AddEvent(podEvent("default", "web", "proxy", pod.EventWarning, "BackOff", "Back-off restarting failed container proxy in pod web", 3, 5*time.Minute, 10*time.Second))
	e.pods.AddEvent(podEvent("default", "web", "app", pod.EventWarning, "Unhealthy", "Liveness probe failed:\n  connection refused", 1, 30*time.Second, 30*time.Second))
	e.pods.AddEvent(podEvent("default", "other", "app", pod.EventNormal, "Started", "not this pod", 1, time.Minute, time.Minute))
	if err := Describe(t.Context(), e.client, DescribeOptions{Namespace: "default", Name: "web"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	for _, want := range []string{
		"Init Containers:\n  setup:\n    Container ID:  containerd://s1\n",
		"    State:          Terminated\n      Reason:       Completed\n",
		"  proxy:\n    Container ID:    containerd://p1\n    Image:           envoy\n    Image ID:        <none>\n    Restart Policy:  Always\n",
		"    Restart Count:   2\n    Startup:         tcp-socket :9901 delay=0s timeout=1s period=10s #success=1 #failure=3\n",
		"Containers:\n  app:\n",
		"    Liveness:       http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3\n",
		"    Readiness:      exec [cat /tmp/ready] delay=5s timeout=1s period=10s #success=1 #failure=3\n",
		"    PostStart:      exec [sh -c echo hi]\n",
		"    PreStop:        sleep 5s\n",
		"  grpc:\n    Image:        example.com/grpc:1\n",
		"    Liveness:     grpc <pod>:9090 health delay=0s timeout=1s period=10s #success=1 #failure=3\n",
		"    PreStop:      http-get https://127.0.0.1:admin/drain\n",
		"Events:\n" +
			"  Type     Reason     Age               From  Message\n" +
			"  ----     ------     ----              ----  -------\n" +
			"  Normal   Started    10m               podd  Started container setup\n" +
			"  Warning  Unhealthy  30s               podd  Liveness probe failed: connection refused\n" +
			"  Warning  BackOff    10s (x3 over 5m)  podd  Back-off restarting failed container proxy in pod web\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q in\n%s", want, out)
		}
	}
	if strings.Index(out, "Init Containers:") > strings.Index(out, "\nContainers:") {
		t.Errorf("Init Containers must come before Containers:\n%s", out)
	}
	if strings.Contains(out, "not this pod") {
		t.Errorf("describe shows another pod's events:\n%s", out)
	}
	if !strings.HasSuffix(out, "in pod web\n") {
		t.Errorf("Events must end the description:\n%s", out)
	}
	if calls := e.pods.CallLog(); !hasCall(calls, "Events default/web") {
		t.Errorf("calls %q", calls)
	}
}

// TestDescribeWithoutInitContainers: no Init Containers section, and no events is <none>.
func TestDescribeWithoutInitContainers(t *testing.T) {
	e := newEnv(t, webPod())
	if err := Describe(t.Context(), e.client, DescribeOptions{Namespace: "default", Name: "web"}, e.streams("")); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	if strings.Contains(out, "Init Containers") || strings.Contains(out, "Liveness") || strings.Contains(out, "PreStop") || !strings.HasSuffix(out, "Events:  <none>\n") {
		t.Errorf("describe:\n%s", out)
	}
	if e.err.String() != "" {
		t.Errorf("stderr %q", e.err)
	}
}

func hasCall(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// noEvents is a podd whose events cannot be had.
type noEvents struct{ *apitest.Pods }

func (noEvents) Events(context.Context, string, string) ([]pod.Event, error) {
	return nil, errdefs.ErrUnavailable.WithMessage("events are resting")
}

// TestDescribeWithoutEvents: the pod is still described, and stderr says why its events are not.
func TestDescribeWithoutEvents(t *testing.T) {
	var out, errOut bytes.Buffer
	c := apitest.NewClient(t, noEvents{apitest.NewPods(webPod())}, apitest.NewImages())
	if err := Describe(t.Context(), c, DescribeOptions{Namespace: "default", Name: "web"}, Streams{Out: &out, Err: &errOut}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "Name:         web\n") || !strings.HasSuffix(out.String(), "Events:  <none>\n") {
		t.Errorf("describe:\n%s", out.String())
	}
	if errOut.String() != "warning: events of pod default/web: events are resting\n" {
		t.Errorf("stderr %q", errOut.String())
	}
}
