package controller

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/internal/fault"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Labels, annotations and env Kubernetes puts on an Indexed Job's pods.
const (
	LabelJobCompletionIndex       = "batch.kubernetes.io/job-completion-index"
	AnnotationJobCompletionIndex  = "batch.kubernetes.io/job-completion-index"
	AnnotationJobIndexFailures    = "batch.kubernetes.io/job-index-failure-count"
	EnvJobCompletionIndex         = "JOB_COMPLETION_INDEX"
	jobCompletionIndexFieldPath   = "metadata.annotations['" + AnnotationJobCompletionIndex + "']"
	defaultJobBackoff             = 10 * time.Second
	defaultJobBackoffMax          = 10 * time.Minute
	jobBusyRequeue                = time.Second
	jobConditionTrue              = "True"
	jobConditionFalse             = "False"
	maxJobPodNameBase             = 63 - 5 // Kubernetes' generateName: a base of at most 58, then 5 random characters
	generateNameAlphabet          = "bcdfghjklmnpqrstvwxz2456789"
	jobReasonCompletionsReached   = "CompletionsReached"
	jobMessageCompletionsReached  = "Reached expected number of succeeded pods"
	jobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	jobReasonDeadlineExceeded     = "DeadlineExceeded"
	jobReasonMaxFailedIndexes     = "MaxFailedIndexesExceeded"
	jobReasonFailedIndexes        = "FailedIndexes"
)

// Job condition types, as Kubernetes 1.31+ sets them: SuccessCriteriaMet / FailureTarget when the
// outcome is decided, Complete / Failed once no pod of the Job runs any more.
const (
	JobComplete           = "Complete"
	JobFailed             = "Failed"
	JobSuspended          = "Suspended"
	JobFailureTarget      = "FailureTarget"
	JobSuccessCriteriaMet = "SuccessCriteriaMet"
)

// Jobs is the controller of batch/v1 Jobs, after kube-controller-manager's job controller: it runs
// a Job's pods (parallelism at a time, one per index for an Indexed Job) until completions
// succeed, counts every finished pod exactly once, and fails the Job by backoffLimit,
// backoffLimitPerIndex / maxFailedIndexes or activeDeadlineSeconds. Finished pods are kept (their
// logs stay readable) until the Job is deleted.
//
// Counting survives crashes as Kubernetes' tracking finalizers make it: a pod's outcome and its
// UID (status.settledPods) are stored in the same write before the controller removes any pod,
// and a pod whose UID is settled is never counted again.
type Jobs struct {
	Objects *Objects
	Pods    Pods
	Log     *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Backoff and BackoffMax are the delay before a failed pod is replaced, doubled by each
	// failure since the last success (Kubernetes' 10s and 10m when zero).
	Backoff, BackoffMax time.Duration

	mu   sync.Mutex
	busy map[string]bool // namespace/name of the pods being removed
}

// Name names the controller in logs.
func (c *Jobs) Name() string { return "job" }

// Sync brings every Job one step closer to its spec.
func (c *Jobs) Sync(ctx context.Context) (time.Duration, error) {
	c.init()
	if !c.Pods.Accepting() {
		return 0, nil
	}
	pods, err := c.Pods.List(ctx, "")
	if err != nil {
		return 0, err
	}
	owners := c.Pods.Owners()
	byJob := map[string][]*pod.Pod{}
	for _, p := range pods {
		o := owners[key(p.Metadata.Namespace, p.Metadata.Name)]
		if o.Kind == "Job" {
			byJob[o.Name] = append(byJob[o.Name], p)
		}
	}
	var (
		after time.Duration
		errs  []error
	)
	for _, obj := range c.Objects.List("Job", "") {
		j := obj.(*object.Job)
		var mine []*pod.Pod
		for _, p := range byJob[j.Metadata.Namespace+"/"+j.Metadata.Name] {
			if ownedBy(p, j.Metadata.UID) {
				mine = append(mine, p)
			}
		}
		a, err := c.syncJob(ctx, j, mine)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // deleted meanwhile
			}
			errs = append(errs, fmt.Errorf("job %s/%s: %w", j.Metadata.Namespace, j.Metadata.Name, err))
		}
		after = sooner(after, a)
	}
	c.mu.Lock()
	if len(c.busy) > 0 {
		after = sooner(after, jobBusyRequeue)
	}
	c.mu.Unlock()
	return after, errors.Join(errs...)
}

func (c *Jobs) init() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy == nil {
		c.busy = map[string]bool{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Backoff <= 0 {
		c.Backoff = defaultJobBackoff
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = defaultJobBackoffMax
	}
}

// ownedBy: the pod's controller reference is the Job of that UID (a Job deleted and made again
// under its name has another; the collector removes the old one's pods).
func ownedBy(p *pod.Pod, uid string) bool {
	for _, r := range p.Metadata.OwnerReferences {
		if r.Kind == "Job" && r.Controller != nil && *r.Controller {
			return r.UID == uid
		}
	}
	return false
}

// sooner is the earlier of two requeue delays, 0 meaning none.
func sooner(a, b time.Duration) time.Duration {
	switch {
	case b <= 0:
		return a
	case a <= 0 || b < a:
		return b
	}
	return a
}

// jobPods is one Job's pods sorted by what the controller does with them.
type jobPods struct {
	all         map[string]bool // UIDs present
	active      []*pod.Pod      // running or about to, not settled, not being removed
	finished    []*pod.Pod      // Succeeded or Failed (settled or not)
	unsettled   []*pod.Pod      // finished, outcome not counted yet
	doomed      []*pod.Pod      // settled but still running: to be removed (again, after a crash)
	terminating int             // being removed, not finished
}

func (c *Jobs) sortPods(pods []*pod.Pod, settled map[string]bool) jobPods {
	var jp jobPods
	jp.all = map[string]bool{}
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.Slice(pods, func(i, j int) bool { return pods[i].Metadata.Name < pods[j].Metadata.Name })
	for _, p := range pods {
		uid := p.Metadata.UID
		jp.all[uid] = true
		fin := p.Status.Phase == pod.PodSucceeded || p.Status.Phase == pod.PodFailed
		busy := c.busy[key(p.Metadata.Namespace, p.Metadata.Name)]
		switch {
		case fin:
			if !busy {
				jp.finished = append(jp.finished, p)
			}
			if !settled[uid] && (!busy || p.Status.Phase == pod.PodSucceeded) {
				jp.unsettled = append(jp.unsettled, p)
			}
		case busy:
			jp.terminating++
		case settled[uid]:
			jp.doomed = append(jp.doomed, p)
		default:
			jp.active = append(jp.active, p)
		}
	}
	return jp
}

// jobState is what one sync decides for a Job: its next status and the pods to create or remove.
type jobState struct {
	job       *object.Job
	now       time.Time
	status    object.JobStatus
	settled   map[string]bool
	indexed   bool
	completed map[int]bool
	failedIx  map[int]bool
	remove    []*pod.Pod
	create    []int // indexes (-1 for a NonIndexed pod)
	after     time.Duration
}

func (s *jobState) settle(p *pod.Pod) {
	s.settled[p.Metadata.UID] = true
}

// syncJob decides and acts for one Job: it stores the new status first, then removes and creates
// pods, so that every decision a crash could cut short is on disk before its action.
func (c *Jobs) syncJob(ctx context.Context, j *object.Job, pods []*pod.Pod) (time.Duration, error) {
	s := &jobState{job: j, now: c.Now(), status: j.Status, settled: map[string]bool{}}
	s.status.Conditions = slices.Clone(j.Status.Conditions)
	for _, uid := range j.Status.SettledPods {
		s.settled[uid] = true
	}
	s.indexed = *j.Spec.CompletionMode == object.IndexedCompletion
	s.completed = parseIndexes(j.Status.CompletedIndexes)
	s.failedIx = map[int]bool{}
	if j.Status.FailedIndexes != nil {
		s.failedIx = parseIndexes(*j.Status.FailedIndexes)
	}
	jp := c.sortPods(pods, s.settled)

	if finishedCondition(j.Status.Conditions) != "" {
		// Done: nothing runs any more (a pod left by a crash is removed), and the TTL runs.
		for _, p := range append(jp.active, jp.doomed...) {
			s.settle(p)
			s.remove = append(s.remove, p)
		}
		after, deleted, err := c.ttl(ctx, j)
		if deleted || err != nil {
			return 0, err // the collector removes the pods of a deleted Job
		}
		s.after = after
	} else {
		c.count(s, jp)
		c.decide(s, jp)
	}

	// The settled pods that are gone can be forgotten: a UID never comes back.
	var keep []string
	for uid := range s.settled {
		if jp.all[uid] {
			keep = append(keep, uid)
		}
	}
	sort.Strings(keep)
	s.status.SettledPods = keep

	if !sameJobStatus(&j.Status, &s.status) {
		next := object.Copy(j).(*object.Job)
		next.Status = s.status
		if err := c.Objects.UpdateStatus(ctx, next); err != nil {
			return 0, err
		}
		j.Status = s.status
		if len(s.remove) > 0 || len(s.create) > 0 {
			fault.Point(fault.JobAfterStatus)
		}
	}
	for _, p := range s.remove {
		c.removePod(ctx, j, p)
	}
	var errs []error
	for _, ix := range s.create {
		if err := c.createPod(ctx, j, ix, pods); err != nil {
			errs = append(errs, err)
			break
		}
		fault.Point(fault.JobAfterCreate)
	}
	return s.after, errors.Join(errs...)
}

// count folds the finished pods not yet counted into the counters, and settles them.
func (c *Jobs) count(s *jobState, jp jobPods) {
	spec := &s.job.Spec
	for _, p := range jp.unsettled {
		s.settle(p)
		ix := -1
		if s.indexed {
			ix = podIndex(p)
			if ix < 0 || ix >= int(*spec.Completions) {
				continue // not one of the Job's indexes: ignored, as Kubernetes does
			}
		}
		switch p.Status.Phase {
		case pod.PodSucceeded:
			if !s.indexed {
				s.status.Succeeded++
			} else if !s.failedIx[ix] {
				s.completed[ix] = true
			}
		case pod.PodFailed:
			s.status.Failed++
			if s.indexed && spec.BackoffLimitPerIndex != nil && !s.completed[ix] && indexFailures(p) >= int(*spec.BackoffLimitPerIndex) {
				s.failedIx[ix] = true
			}
		}
	}
	if s.indexed {
		s.status.Succeeded = int32(len(s.completed))
		s.status.CompletedIndexes = formatIndexes(s.completed)
		if spec.BackoffLimitPerIndex != nil {
			f := formatIndexes(s.failedIx)
			s.status.FailedIndexes = &f
		}
	}
}

// decide sets the Job's conditions and the pods to remove and create.
func (c *Jobs) decide(s *jobState, jp jobPods) {
	j, spec, now := s.job, &s.job.Spec, s.now
	suspended := spec.Suspend != nil && *spec.Suspend
	target := ""
	for _, cond := range s.status.Conditions {
		if (cond.Type == JobFailureTarget || cond.Type == JobSuccessCriteriaMet) && cond.Status == jobConditionTrue {
			target = cond.Type
		}
	}
	if target == "" && !suspended {
		reason, message := "", ""
		switch {
		case s.status.Failed > *spec.BackoffLimit || pastBackoffLimitOnFailure(j, jp.active):
			reason, message = jobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
		case c.pastDeadline(s):
			reason, message = jobReasonDeadlineExceeded, "Job was active longer than specified deadline"
		case s.indexed && spec.BackoffLimitPerIndex != nil && spec.MaxFailedIndexes != nil && len(s.failedIx) > int(*spec.MaxFailedIndexes):
			reason, message = jobReasonMaxFailedIndexes, "Job has exceeded the specified maximal number of failed indexes"
		case s.indexed && len(s.failedIx) > 0 && len(s.failedIx)+len(s.completed) >= int(*spec.Completions):
			reason, message = jobReasonFailedIndexes, "Job has failed indexes"
		}
		if reason != "" {
			target = JobFailureTarget
			setJobCondition(&s.status.Conditions, JobFailureTarget, jobConditionTrue, reason, message, now)
		} else if succeeded(s, jp) {
			target = JobSuccessCriteriaMet
			setJobCondition(&s.status.Conditions, JobSuccessCriteriaMet, jobConditionTrue, jobReasonCompletionsReached, jobMessageCompletionsReached, now)
		}
	}

	if target != "" {
		// The outcome is decided: every pod still running ends, counted as failed (Kubernetes
		// counts a pod it deletes before it finishes as failed), and the terminal condition
		// follows once none runs.
		for _, p := range jp.active {
			if ix := podIndex(p); !s.indexed || ix >= 0 && ix < int(*spec.Completions) {
				s.status.Failed++
			}
			s.settle(p)
			s.remove = append(s.remove, p)
		}
		s.remove = append(s.remove, jp.doomed...)
		s.status.Active, s.status.Ready = 0, ptrInt32(0)
		s.status.Terminating = ptrInt32(int32(jp.terminating + len(s.remove)))
		if jp.terminating == 0 && len(s.remove) == 0 {
			cond := findCondition(s.status.Conditions, target)
			if target == JobSuccessCriteriaMet {
				setJobCondition(&s.status.Conditions, JobComplete, jobConditionTrue, cond.Reason, cond.Message, now)
				t := now.UTC().Truncate(time.Second)
				s.status.CompletionTime = &t
			} else {
				setJobCondition(&s.status.Conditions, JobFailed, jobConditionTrue, cond.Reason, cond.Message, now)
			}
			s.after = sooner(s.after, ttlDelay(j, now))
			if s.after == 0 && j.Spec.TTLSecondsAfterFinished != nil {
				s.after = time.Millisecond // the TTL is already over: delete at the next sync
			}
		}
		return
	}

	if suspended {
		if setJobCondition(&s.status.Conditions, JobSuspended, jobConditionTrue, "JobSuspended", "Job suspended", now) {
			c.Log.Info("job suspended: removing its running pods", "job", j.Metadata.Namespace+"/"+j.Metadata.Name, "pods", len(jp.active))
		}
		// Pods removed because the Job is suspended are not failures (KEP-2232).
		for _, p := range jp.active {
			s.settle(p)
			s.remove = append(s.remove, p)
		}
		s.remove = append(s.remove, jp.doomed...)
		s.status.Active, s.status.Ready = 0, ptrInt32(0)
		s.status.Terminating = ptrInt32(int32(jp.terminating + len(s.remove)))
		return
	}
	if cond := findCondition(s.status.Conditions, JobSuspended); cond != nil && cond.Status == jobConditionTrue {
		setJobCondition(&s.status.Conditions, JobSuspended, jobConditionFalse, "JobResumed", "Job resumed", now)
		t := now.UTC().Truncate(time.Second)
		s.status.StartTime = &t // a resumed Job's deadline starts again, as in Kubernetes
	}
	if s.status.StartTime == nil {
		t := now.UTC().Truncate(time.Second)
		s.status.StartTime = &t
	}
	if spec.ActiveDeadlineSeconds != nil {
		end := s.status.StartTime.Add(time.Duration(*spec.ActiveDeadlineSeconds) * time.Second)
		s.after = sooner(s.after, max(end.Sub(now), time.Millisecond))
	}

	var active []*pod.Pod
	if s.indexed {
		active = c.manageIndexed(s, jp)
	} else {
		active = c.manageNonIndexed(s, jp)
	}
	s.remove = append(s.remove, jp.doomed...)
	ready := int32(0)
	for _, p := range active {
		if podReady(p) {
			ready++
		}
	}
	s.status.Active = int32(len(active) + len(s.create))
	s.status.Ready = &ready
	s.status.Terminating = ptrInt32(int32(jp.terminating + len(s.remove)))
}

// succeeded says whether the Job has met its completions.
func succeeded(s *jobState, jp jobPods) bool {
	spec := &s.job.Spec
	switch {
	case s.indexed:
		return len(s.completed) >= int(*spec.Completions)
	case spec.Completions == nil:
		// A work queue: done once a pod succeeded and the others have ended.
		return s.status.Succeeded > 0 && len(jp.active) == 0
	}
	return s.status.Succeeded >= *spec.Completions
}

// manageNonIndexed keeps min(parallelism, completions left) pods running; it returns the pods
// that stay active.
func (c *Jobs) manageNonIndexed(s *jobState, jp jobPods) []*pod.Pod {
	spec := &s.job.Spec
	active := len(jp.active)
	want := int(*spec.Parallelism)
	switch {
	case spec.Completions == nil && s.status.Succeeded > 0:
		want = active // one succeeded: the others may finish, none starts
	case spec.Completions != nil:
		want = min(want, int(*spec.Completions-s.status.Succeeded))
	}
	want = max(want, 0)
	keep := jp.active
	if active > want {
		// Not-ready pods go first, then the youngest, as Kubernetes picks.
		sorted := slices.Clone(jp.active)
		sort.SliceStable(sorted, func(a, b int) bool {
			ra, rb := podReady(sorted[a]), podReady(sorted[b])
			if ra != rb {
				return !ra
			}
			return created(sorted[a]).After(created(sorted[b]))
		})
		for _, p := range sorted[:active-want] {
			s.status.Failed++
			s.settle(p)
			s.remove = append(s.remove, p)
		}
		keep = sorted[active-want:]
	}
	if active < want {
		if wait := c.backoffRemaining(s.job, jp.finished, s.now); wait > 0 {
			s.after = sooner(s.after, wait)
			return keep
		}
		for range want - active {
			s.create = append(s.create, -1)
		}
	}
	return keep
}

// manageIndexed keeps one pod per pending index running, parallelism at a time, lowest indexes
// first; a second pod of an index, or a pod of an index that is done, is removed.
func (c *Jobs) manageIndexed(s *jobState, jp jobPods) []*pod.Pod {
	spec := &s.job.Spec
	completions := int(*spec.Completions)
	running := map[int]bool{}
	var keep []*pod.Pod
	for _, p := range jp.active {
		ix := podIndex(p)
		if ix < 0 || ix >= completions || running[ix] || s.completed[ix] || s.failedIx[ix] {
			if ix >= 0 && ix < completions {
				s.status.Failed++
			}
			s.settle(p)
			s.remove = append(s.remove, p)
			continue
		}
		running[ix] = true
		keep = append(keep, p)
	}
	room := int(*spec.Parallelism) - len(keep)
	for ix := 0; ix < completions && room > 0; ix++ {
		if running[ix] || s.completed[ix] || s.failedIx[ix] {
			continue
		}
		var of []*pod.Pod
		if spec.BackoffLimitPerIndex != nil {
			for _, p := range jp.finished {
				if podIndex(p) == ix {
					of = append(of, p)
				}
			}
		} else {
			of = jp.finished
		}
		if wait := c.backoffRemaining(s.job, of, s.now); wait > 0 {
			s.after = sooner(s.after, wait)
			if spec.BackoffLimitPerIndex == nil {
				break // the Job's own backoff holds every index
			}
			continue
		}
		s.create = append(s.create, ix)
		room--
	}
	return keep
}

// backoffRemaining is how long a new pod must still wait after the failures among pods since
// their last success: Backoff doubled per failure, at most BackoffMax, from the last failure.
func (c *Jobs) backoffRemaining(j *object.Job, finished []*pod.Pod, now time.Time) time.Duration {
	type end struct {
		at time.Time
		ok bool
	}
	var ends []end
	for _, p := range finished {
		ends = append(ends, end{finishedAt(p), p.Status.Phase == pod.PodSucceeded})
	}
	// At the same instant a success comes first: a failure beside it still holds the next pod.
	sort.SliceStable(ends, func(a, b int) bool {
		if ends[a].at.Equal(ends[b].at) {
			return ends[a].ok && !ends[b].ok
		}
		return ends[a].at.Before(ends[b].at)
	})
	failures := 0
	var last time.Time
	for _, e := range ends {
		if e.ok {
			failures = 0
			continue
		}
		failures++
		last = e.at
	}
	if failures == 0 || last.IsZero() {
		return 0
	}
	delay := c.Backoff
	for i := 1; i < failures && delay < c.BackoffMax; i++ {
		delay *= 2
	}
	delay = min(delay, c.BackoffMax)
	return last.Add(delay).Sub(now)
}

// pastBackoffLimitOnFailure counts the container restarts of a restartPolicy OnFailure Job's
// running pods against backoffLimit, as Kubernetes does (kubernetes#54870).
func pastBackoffLimitOnFailure(j *object.Job, active []*pod.Pod) bool {
	if j.Spec.Template.Spec.RestartPolicy != pod.RestartOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		if p.Status.Phase != pod.PodRunning && p.Status.Phase != pod.PodPending {
			continue
		}
		for _, st := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			restarts += st.RestartCount
		}
	}
	if *j.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *j.Spec.BackoffLimit
}

func (c *Jobs) pastDeadline(s *jobState) bool {
	d := s.job.Spec.ActiveDeadlineSeconds
	if d == nil || s.status.StartTime == nil {
		return false
	}
	return !s.now.Before(s.status.StartTime.Add(time.Duration(*d) * time.Second))
}

// ttl deletes a finished Job once ttlSecondsAfterFinished have passed, or says how long until then.
func (c *Jobs) ttl(ctx context.Context, j *object.Job) (time.Duration, bool, error) {
	if j.Spec.TTLSecondsAfterFinished == nil {
		return 0, false, nil
	}
	if d := ttlDelay(j, c.Now()); d > 0 {
		return d, false, nil
	}
	c.Log.Info("job finished longer than its ttlSecondsAfterFinished ago: deleting it", "job", j.Metadata.Namespace+"/"+j.Metadata.Name)
	err := c.Objects.Delete(ctx, "Job", j.Metadata.Namespace, j.Metadata.Name, nil)
	if err != nil && !errdefs.IsNotFound(err) {
		return 0, false, err
	}
	return 0, true, nil
}

// ttlDelay is the time left before a finished Job's TTL ends (0: over, or none).
func ttlDelay(j *object.Job, now time.Time) time.Duration {
	if j.Spec.TTLSecondsAfterFinished == nil {
		return 0
	}
	var at *time.Time
	for _, c := range j.Status.Conditions {
		if (c.Type == JobComplete || c.Type == JobFailed) && c.Status == jobConditionTrue {
			at = c.LastTransitionTime
		}
	}
	if at == nil {
		at = &now
	}
	return max(at.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished)*time.Second).Sub(now), 0)
}

// finishedCondition is the Job's terminal condition type, "" while it runs.
func finishedCondition(conds []object.Condition) string {
	for _, c := range conds {
		if (c.Type == JobComplete || c.Type == JobFailed) && c.Status == jobConditionTrue {
			return c.Type
		}
	}
	return ""
}

func findCondition(conds []object.Condition, typ string) *object.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// setCondition sets a condition's status, reason and message, its transition time when its status
// changes; it says whether anything changed.
func setJobCondition(conds *[]object.Condition, typ, status, reason, message string, now time.Time) bool {
	t := now.UTC().Truncate(time.Second)
	if c := findCondition(*conds, typ); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = &t
		}
		c.Status, c.Reason, c.Message, c.LastUpdateTime = status, reason, message, &t
		return true
	}
	*conds = append(*conds, object.Condition{Type: typ, Status: status, Reason: reason, Message: message, LastUpdateTime: &t, LastTransitionTime: &t})
	return true
}

// removePod stops and removes a pod in the background; its end wakes the loop (a pod change).
func (c *Jobs) removePod(ctx context.Context, j *object.Job, p *pod.Pod) {
	k := key(p.Metadata.Namespace, p.Metadata.Name)
	c.mu.Lock()
	if c.busy[k] {
		c.mu.Unlock()
		return
	}
	c.busy[k] = true
	c.mu.Unlock()
	owner := OwnerOf(j, "")
	go func() {
		err := c.Pods.RemoveOwned(context.WithoutCancel(ctx), owner, p.Metadata.Namespace, p.Metadata.Name)
		if err != nil && !errdefs.IsNotFound(err) {
			c.Log.Warn("remove a job's pod", "job", owner.Name, "pod", k, "err", err)
		}
		c.mu.Lock()
		delete(c.busy, k)
		c.mu.Unlock()
	}()
}

// createPod creates one pod of the Job: `<job>-<5 characters>`, or `<job>-<index>-<5 characters>`
// for an Indexed Job, labelled, annotated and referenced as Kubernetes does.
func (c *Jobs) createPod(ctx context.Context, j *object.Job, ix int, existing []*pod.Pod) error {
	ns, name := j.Metadata.Namespace, j.Metadata.Name
	base := name + "-"
	if ix >= 0 {
		base = fmt.Sprintf("%s-%d-", name, ix)
	}
	if len(base) > maxJobPodNameBase {
		base = base[:maxJobPodNameBase]
	}
	var err error
	for range 5 { // a name taken is tried again with other characters
		p := pod.TemplatePod(&j.Spec.Template, ns, base+randomSuffix())
		p.Metadata.OwnerReferences = []pod.OwnerReference{ControllerRef(j)}
		if p.Metadata.Labels == nil {
			p.Metadata.Labels = map[string]string{}
		}
		if ix >= 0 {
			if p.Metadata.Annotations == nil {
				p.Metadata.Annotations = map[string]string{}
			}
			v := strconv.Itoa(ix)
			p.Metadata.Labels[LabelJobCompletionIndex] = v
			p.Metadata.Annotations[AnnotationJobCompletionIndex] = v
			if j.Spec.BackoffLimitPerIndex != nil {
				p.Metadata.Annotations[AnnotationJobIndexFailures] = strconv.Itoa(nextIndexFailures(existing, ix))
			}
			p.Spec.Hostname = fmt.Sprintf("%s-%d", name, ix)
			for ctr := range p.Spec.AllContainers() {
				if !slices.ContainsFunc(ctr.Env, func(e pod.EnvVar) bool { return e.Name == EnvJobCompletionIndex }) {
					ctr.Env = append(ctr.Env, pod.EnvVar{Name: EnvJobCompletionIndex, ValueFrom: &pod.EnvVarSource{FieldRef: &pod.ObjectFieldSelector{APIVersion: "v1", FieldPath: jobCompletionIndexFieldPath}}})
				}
			}
		}
		_, err = c.Pods.CreateOwned(ctx, OwnerOf(j, ""), []*pod.Pod{p})
		if err == nil {
			c.Log.Info("created a job's pod", "job", ns+"/"+name, "pod", p.Metadata.Name)
			return nil
		}
		if !errdefs.IsAlreadyExists(err) {
			break
		}
	}
	return fmt.Errorf("create pod: %w", err)
}

func randomSuffix() string {
	b := make([]byte, 5)
	n := big.NewInt(int64(len(generateNameAlphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic(err)
		}
		b[i] = generateNameAlphabet[v.Int64()]
	}
	return string(b)
}

// nextIndexFailures is the failure count a new pod of index ix starts with: one more than the
// most its failed pods had.
func nextIndexFailures(pods []*pod.Pod, ix int) int {
	n := 0
	for _, p := range pods {
		if p.Status.Phase == pod.PodFailed && podIndex(p) == ix {
			n = max(n, indexFailures(p)+1)
		}
	}
	return n
}

// podIndex is a pod's completion index, -1 when it has none.
func podIndex(p *pod.Pod) int {
	v, ok := p.Metadata.Annotations[AnnotationJobCompletionIndex]
	if !ok {
		return -1
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 {
		return -1
	}
	return ix
}

func indexFailures(p *pod.Pod) int {
	n, err := strconv.Atoi(p.Metadata.Annotations[AnnotationJobIndexFailures])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func podReady(p *pod.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == jobConditionTrue
		}
	}
	return false
}

func created(p *pod.Pod) time.Time {
	if p.Metadata.CreationTimestamp != nil {
		return *p.Metadata.CreationTimestamp
	}
	return time.Time{}
}

// finishedAt is when a finished pod's last container ended.
func finishedAt(p *pod.Pod) time.Time {
	var at time.Time
	for _, st := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if t := st.State.Terminated; t != nil && t.FinishedAt != nil && t.FinishedAt.After(at) {
			at = *t.FinishedAt
		}
	}
	return at
}

func ptrInt32(v int32) *int32 { return &v }

func sameJobStatus(a, b *object.JobStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// parseIndexes reads Kubernetes' interval list ("0-2,4") of completed or failed indexes.
func parseIndexes(s string) map[int]bool {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out
}

// formatIndexes writes indexes as Kubernetes' interval list: "0-2,4".
func formatIndexes(set map[int]bool) string {
	var ix []int
	for i, ok := range set {
		if ok {
			ix = append(ix, i)
		}
	}
	sort.Ints(ix)
	var parts []string
	for i := 0; i < len(ix); {
		j := i
		for j+1 < len(ix) && ix[j+1] == ix[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ix[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ix[i], ix[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
