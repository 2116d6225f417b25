package ctl

import (
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// TestJobStatusColumn: the STATUS column follows kubectl's precedence, not the conditions' order:
// a Job that met its success criteria and completed is Complete.
func TestJobStatusColumn(t *testing.T) {
	cond := func(types ...string) []object.Condition {
		var out []object.Condition
		for _, typ := range types {
			out = append(out, object.Condition{Type: typ, Status: "True"})
		}
		return out
	}
	for _, tc := range []struct {
		conds []object.Condition
		want  string
	}{
		{nil, "Running"},
		{cond("SuccessCriteriaMet"), "SuccessCriteriaMet"},
		{cond("SuccessCriteriaMet", "Complete"), "Complete"},
		{cond("FailureTarget", "Failed"), "Failed"},
		{cond("Suspended"), "Suspended"},
		{[]object.Condition{{Type: "Suspended", Status: "False"}}, "Running"},
	} {
		j := &object.Job{Status: object.JobStatus{Conditions: tc.conds}}
		if got := jobStatus(j); got != tc.want {
			t.Errorf("conditions %+v: STATUS %q, want %q", tc.conds, got, tc.want)
		}
	}
}

func TestDescribeJob(t *testing.T) {
	three, two := int32(3), int32(2)
	mode := object.IndexedCompletion
	j := &object.Job{Metadata: pod.ObjectMeta{Name: "work", Namespace: "default"}, Spec: object.JobSpec{Completions: &three, Parallelism: &two, CompletionMode: &mode, BackoffLimit: &three,
		Template: pod.PodTemplateSpec{Spec: pod.PodSpec{Containers: []pod.Container{{Name: "w", Image: "busybox", Command: []string{"rev"}}}}}},
		Status: object.JobStatus{Active: 1, Succeeded: 2, CompletedIndexes: "0,2", Conditions: []object.Condition{{Type: "Suspended", Status: "False", Reason: "JobResumed"}}}}
	pods := []*pod.Pod{{Metadata: pod.ObjectMeta{Name: "work-1-abcde", Annotations: map[string]string{"batch.kubernetes.io/job-completion-index": "1"}}, Status: pod.PodStatus{Phase: pod.PodRunning}}}
	var b strings.Builder
	if err := describeJob(&b, j, pods); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Completion Mode:", "Indexed", "Pods Statuses:", "1 Active (0 Ready) / 2 Succeeded / 0 Failed", "Completed Indexes:", "0,2", "work-1-abcde", "JobResumed", "rev"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("want %q in\n%s", want, b.String())
		}
	}
}
