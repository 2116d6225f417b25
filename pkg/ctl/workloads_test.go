package ctl

import (
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

func TestParseWaitFor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want waitFor
		err  bool
	}{
		{"delete", waitFor{deleted: true}, false},
		{"condition=Ready", waitFor{condition: "Ready", value: "True"}, false},
		{"condition=Available=False", waitFor{condition: "Available", value: "False"}, false},
		{"condition=", waitFor{}, true},
		{"condition==x", waitFor{}, true},
		{"jsonpath={.status}", waitFor{}, true},
		{"", waitFor{}, true},
	} {
		got, err := ParseWaitFor(tc.in)
		if (err != nil) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("ParseWaitFor(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestConditionIs(t *testing.T) {
	p := &pod.Pod{Status: pod.PodStatus{Conditions: []pod.PodCondition{{Type: "Ready", Status: "True"}}}}
	j := &object.Job{Status: object.JobStatus{Conditions: []object.Condition{{Type: "Failed", Status: "True"}}}}
	for _, tc := range []struct {
		obj         any
		cond, value string
		want        bool
	}{
		{p, "Ready", "True", true},
		{p, "ready", "true", true},
		{p, "Ready", "False", false},
		{p, "Initialized", "True", false},
		{j, "Failed", "True", true},
		{j, "Complete", "True", false},
	} {
		if got := conditionIs(tc.obj, tc.cond, tc.value); got != tc.want {
			t.Errorf("conditionIs(%T, %s=%s) = %v", tc.obj, tc.cond, tc.value, got)
		}
	}
}

func TestDeploymentRolloutStatus(t *testing.T) {
	three := int32(3)
	d := func(gen, observed int64, st object.DeploymentStatus) *object.Deployment {
		x := &object.Deployment{Metadata: pod.ObjectMeta{Name: "web", Generation: gen}, Spec: object.DeploymentSpec{Replicas: &three}}
		st.ObservedGeneration = observed
		x.Status = st
		return x
	}
	for _, tc := range []struct {
		d    *object.Deployment
		want string
		done bool
		err  bool
	}{
		{d(2, 1, object.DeploymentStatus{}), "Waiting for deployment spec update to be observed", false, false},
		{d(1, 1, object.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1}), "1 out of 3 new replicas have been updated", false, false},
		{d(1, 1, object.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3}), "1 old replicas are pending termination", false, false},
		{d(1, 1, object.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}), "2 of 3 updated replicas are available", false, false},
		{d(1, 1, object.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), `deployment "web" successfully rolled out`, true, false},
		{d(1, 1, object.DeploymentStatus{Conditions: []object.Condition{{Type: "Progressing", Status: "False", Reason: "ProgressDeadlineExceeded"}}}), "", false, true},
	} {
		msg, done, err := DeploymentRolloutStatus(tc.d)
		if !strings.Contains(msg, tc.want) || done != tc.done || (err != nil) != tc.err {
			t.Errorf("status %+v: %q, %v, %v", tc.d.Status, msg, done, err)
		}
	}
}
